package setup

import "github.com/sagequeue/sagequeue/internal/batchext"

// The request members and response bodies of sagequeue's extensions to the
// Batch API live in batchext, which the CLI uses too without linking this
// package (and its YAML).
var (
	// WithMember adds a sagequeue extension member to an operation's JSON
	// body; see batchext.WithMember.
	WithMember = batchext.WithMember
	// WithMembers adds several; see batchext.WithMembers.
	WithMembers = batchext.WithMembers
	// WithRawBody keeps a copy of a response body; see batchext.WithRawBody.
	WithRawBody = batchext.WithRawBody
	// CallExtension calls an extension operation; see
	// batchext.CallExtension.
	CallExtension = batchext.CallExtension
)

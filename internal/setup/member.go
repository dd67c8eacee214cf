package setup

import "github.com/sagequeue/sagequeue/internal/batchext"

// WithMember adds a sagequeue extension member to an operation's JSON body;
// see batchext.WithMember.
var WithMember = batchext.WithMember

package cli

import (
	"github.com/sagequeue/sagequeue/internal/batchext"
)

// Members that sagequeue adds to the Batch API and the SDK does not know.
const (
	memberTrainingPlanArn = "trainingPlanArn"
	memberPartialWindows  = "partialWindows"
	memberBackfill        = "backfill"
)

// withBodyMembers adds members to the JSON body of a request.
var withBodyMembers = batchext.WithMembers

// withRawBody keeps a copy of the response body in *dst, for the members of
// sagequeue's responses that the SDK does not decode.
var withRawBody = batchext.WithRawBody

package cli

import (
	"bytes"
	"context"
	"io"

	"github.com/aws/aws-sdk-go-v2/service/batch"
	"github.com/aws/smithy-go/middleware"
	smithyhttp "github.com/aws/smithy-go/transport/http"

	"github.com/sagequeue/sagequeue/internal/setup"
)

// Members that sagequeue adds to the Batch API and the SDK does not know.
const (
	memberTrainingPlanArn = "trainingPlanArn"
	memberBackfill        = "backfill"
)

// withBodyMembers adds members to the JSON body of a request.
var withBodyMembers = setup.WithMembers

// withRawBody keeps a copy of the response body in *dst, for the members of
// sagequeue's responses that the SDK does not decode. The middleware sits
// innermost in the Deserialize step, below the SDK's deserializer, and hands
// it an unread copy of the body.
func withRawBody(dst *[]byte) func(*batch.Options) {
	return func(o *batch.Options) {
		o.APIOptions = append(o.APIOptions, func(stack *middleware.Stack) error {
			return stack.Deserialize.Add(rawBody{dst: dst}, middleware.After)
		})
	}
}

type rawBody struct{ dst *[]byte }

func (rawBody) ID() string { return "sagequeueRawBody" }

func (m rawBody) HandleDeserialize(ctx context.Context, in middleware.DeserializeInput, next middleware.DeserializeHandler) (
	middleware.DeserializeOutput, middleware.Metadata, error,
) {
	out, md, err := next.HandleDeserialize(ctx, in)
	if err != nil {
		return out, md, err
	}
	resp, ok := out.RawResponse.(*smithyhttp.Response)
	if !ok || resp.Body == nil {
		return out, md, err
	}
	data, rerr := io.ReadAll(resp.Body)
	resp.Body.Close()
	if rerr != nil {
		return out, md, rerr
	}
	*m.dst = data
	resp.Body = io.NopCloser(bytes.NewReader(data))
	return out, md, nil
}

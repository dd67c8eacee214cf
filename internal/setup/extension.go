package setup

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/batch"
	"github.com/aws/smithy-go/middleware"
	smithyhttp "github.com/aws/smithy-go/transport/http"
)

// CallExtension calls a sagequeue extension operation (one the Batch API
// does not have, such as getservicejoblogs or describetrainingplans)
// through a Batch client, so that the request is signed, retried and its
// errors decoded exactly as for Batch operations. It rides on
// DescribeServiceJob: the Build step points the request at /v1/<op> with
// in as its body, and WithRawBody keeps the answer for out (the
// DescribeServiceJob decoder ignores members it does not know).
func CallExtension(ctx context.Context, client *batch.Client, op string, in, out any) error {
	body, err := json.Marshal(in)
	if err != nil {
		return err
	}
	var raw []byte
	_, err = client.DescribeServiceJob(ctx, &batch.DescribeServiceJobInput{JobId: aws.String(op)}, WithRawBody(&raw), func(o *batch.Options) {
		o.APIOptions = append(o.APIOptions, func(stack *middleware.Stack) error {
			return stack.Build.Add(middleware.BuildMiddlewareFunc("sagequeueExtension", func(ctx context.Context, bin middleware.BuildInput, next middleware.BuildHandler) (middleware.BuildOutput, middleware.Metadata, error) {
				req, ok := bin.Request.(*smithyhttp.Request)
				if !ok {
					return next.HandleBuild(ctx, bin)
				}
				req.URL.Path = strings.TrimSuffix(req.URL.Path, "/v1/describeservicejob") + "/v1/" + op
				req.URL.RawPath = ""
				req.ContentLength = int64(len(body))
				r, err := req.SetStream(bytes.NewReader(body))
				if err != nil {
					return middleware.BuildOutput{}, middleware.Metadata{}, err
				}
				bin.Request = r
				return next.HandleBuild(ctx, bin)
			}), middleware.After)
		})
	})
	if err != nil {
		return err
	}
	if err := json.Unmarshal(raw, out); err != nil {
		return fmt.Errorf("%s: unreadable answer: %w", op, err)
	}
	return nil
}

// WithRawBody keeps a copy of the response body in *dst, for the members of
// sagequeue's responses that the SDK does not decode. The middleware sits
// innermost in the Deserialize step, below the SDK's deserializer, and hands
// it an unread copy of the body.
func WithRawBody(dst *[]byte) func(*batch.Options) {
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

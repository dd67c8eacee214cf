package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/batch"
	"github.com/aws/smithy-go/middleware"
	smithyhttp "github.com/aws/smithy-go/transport/http"
)

// callExtension calls a sagequeue extension operation (one the Batch API
// does not have, such as getservicejoblogs) through the Batch client, so the
// request is signed, retried and its errors decoded exactly as for Batch
// operations. It rides on DescribeServiceJob: the Build step points the
// request at /v1/<op> with our body, and withRawBody keeps the answer (the
// DescribeServiceJob decoder ignores members it does not know).
func (a *App) callExtension(ctx context.Context, op string, in, out any) error {
	if a.Endpoint == EndpointAWS {
		return usagef("%s is a sagequeue extension; AWS Batch does not have it", op)
	}
	client, err := a.Batch(ctx)
	if err != nil {
		return err
	}
	body, err := json.Marshal(in)
	if err != nil {
		return err
	}
	var raw []byte
	_, err = client.DescribeServiceJob(ctx, &batch.DescribeServiceJobInput{JobId: aws.String(op)}, withRawBody(&raw), func(o *batch.Options) {
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

package batchext

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

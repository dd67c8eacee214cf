// Package batchext adds what sagequeue's API has beyond AWS Batch to
// requests of the AWS SDK's Batch client: members the SDK does not know
// (trainingPlanArn, ...). The CLI and the configuration loader both use it;
// it imports nothing of sagequeue, so the client binary links it cheaply.
package batchext

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"

	"github.com/aws/aws-sdk-go-v2/service/batch"
	"github.com/aws/smithy-go/middleware"
	smithyhttp "github.com/aws/smithy-go/transport/http"
)

// WithMember adds a sagequeue extension member, which the SDK does not know
// (e.g. trainingPlanArn of Create/UpdateServiceEnvironment), to an
// operation's JSON body.
func WithMember(name string, value any) func(*batch.Options) {
	return WithMembers(map[string]any{name: value})
}

// WithMembers adds members to the JSON body of a request: a Build step
// middleware rewrites the body that the SDK serialized.
func WithMembers(members map[string]any) func(*batch.Options) {
	return func(o *batch.Options) {
		o.APIOptions = append(o.APIOptions, func(stack *middleware.Stack) error {
			return stack.Build.Add(bodyMembers{members: members}, middleware.Before)
		})
	}
}

type bodyMembers struct{ members map[string]any }

func (bodyMembers) ID() string { return "sagequeueBodyMembers" }

func (m bodyMembers) HandleBuild(ctx context.Context, in middleware.BuildInput, next middleware.BuildHandler) (
	middleware.BuildOutput, middleware.Metadata, error,
) {
	req, ok := in.Request.(*smithyhttp.Request)
	if !ok {
		return middleware.BuildOutput{}, middleware.Metadata{}, fmt.Errorf("sagequeue body members: unexpected request type %T", in.Request)
	}
	body, err := addBodyMembers(req.GetStream(), m.members)
	if err != nil {
		return middleware.BuildOutput{}, middleware.Metadata{}, fmt.Errorf("sagequeue body members: %w", err)
	}
	req, err = req.SetStream(bytes.NewReader(body))
	if err != nil {
		return middleware.BuildOutput{}, middleware.Metadata{}, err
	}
	req.ContentLength = int64(len(body))
	in.Request = req
	return next.HandleBuild(ctx, in)
}

// addBodyMembers reads a JSON object from r (empty means {}) and returns it
// with the members set.
func addBodyMembers(r io.Reader, members map[string]any) ([]byte, error) {
	doc := map[string]json.RawMessage{}
	if r != nil {
		data, err := io.ReadAll(r)
		if err != nil {
			return nil, err
		}
		if len(bytes.TrimSpace(data)) > 0 {
			if err := json.Unmarshal(data, &doc); err != nil {
				return nil, fmt.Errorf("request body is not a JSON object: %w", err)
			}
		}
	}
	for k, v := range members {
		raw, err := json.Marshal(v)
		if err != nil {
			return nil, err
		}
		doc[k] = raw
	}
	return json.Marshal(doc)
}

// WithRawBody keeps a copy of the response body in *dst, for the members of
// sagequeue's responses that the SDK does not decode (trainingPlanArn,
// backfill). The middleware sits innermost in the Deserialize step, below
// the SDK's deserializer, and hands it an unread copy of the body.
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

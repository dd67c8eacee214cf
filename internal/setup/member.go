package setup

import (
	"bytes"
	"context"
	"encoding/json"
	"io"

	"github.com/aws/smithy-go/middleware"
	smithyhttp "github.com/aws/smithy-go/transport/http"
)

func addMember(name string, value any) middleware.BuildMiddleware {
	return middleware.BuildMiddlewareFunc("sagequeueMember_"+name, func(ctx context.Context, in middleware.BuildInput, next middleware.BuildHandler) (middleware.BuildOutput, middleware.Metadata, error) {
		req, ok := in.Request.(*smithyhttp.Request)
		if !ok {
			return next.HandleBuild(ctx, in)
		}
		body := []byte("{}")
		if s := req.GetStream(); s != nil {
			b, err := io.ReadAll(s)
			if err != nil {
				return middleware.BuildOutput{}, middleware.Metadata{}, err
			}
			if len(bytes.TrimSpace(b)) > 0 {
				body = b
			}
		}
		m := map[string]any{}
		if err := json.Unmarshal(body, &m); err != nil {
			return middleware.BuildOutput{}, middleware.Metadata{}, err
		}
		m[name] = value
		body, err := json.Marshal(m)
		if err != nil {
			return middleware.BuildOutput{}, middleware.Metadata{}, err
		}
		req.ContentLength = int64(len(body))
		if req, err = req.SetStream(bytes.NewReader(body)); err != nil {
			return middleware.BuildOutput{}, middleware.Metadata{}, err
		}
		in.Request = req
		return next.HandleBuild(ctx, in)
	})
}

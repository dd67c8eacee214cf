package cli

import (
	"context"

	"github.com/sagequeue/sagequeue/internal/batchext"
)

// callExtension calls a sagequeue extension operation (one the Batch API
// does not have, such as getservicejoblogs) through the Batch client, so the
// request is signed, retried and its errors decoded exactly as for Batch
// operations (batchext.CallExtension).
func (a *App) callExtension(ctx context.Context, op string, in, out any) error {
	if a.Endpoint == EndpointAWS {
		return usagef("%s is a sagequeue extension; AWS Batch does not have it", op)
	}
	client, err := a.Batch(ctx)
	if err != nil {
		return err
	}
	return batchext.CallExtension(ctx, client, op, in, out)
}

package api

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"strings"

	"github.com/sagequeue/sagequeue/internal/model"
	"github.com/sagequeue/sagequeue/internal/store"
)

// queue reads the job queue a request member names by name or ARN.
func (h *Handler) queue(ctx context.Context, field, ref string) (*model.JobQueue, error) {
	name, err := model.NameOf(field, model.KindJobQueue, ref)
	if err != nil {
		return nil, err
	}
	q, err := h.cfg.Store.GetQueue(ctx, name)
	if errors.Is(err, store.ErrNotFound) || err == nil && isARN(ref) && q.Arn != ref {
		return nil, model.Invalidf(field, "job queue %s not found", ref)
	}
	return q, err
}

// environment reads the service environment a member names by name or ARN.
func (h *Handler) environment(ctx context.Context, field, ref string) (*model.ServiceEnvironment, error) {
	name, err := model.NameOf(field, model.KindServiceEnvironment, ref)
	if err != nil {
		return nil, err
	}
	e, err := h.cfg.Store.GetEnvironment(ctx, name)
	if errors.Is(err, store.ErrNotFound) || err == nil && isARN(ref) && e.Arn != ref {
		return nil, model.Invalidf(field, "service environment %s not found", ref)
	}
	return e, err
}

// policy reads the scheduling policy a member names. Batch takes ARNs only;
// sagequeue takes names too.
func (h *Handler) policy(ctx context.Context, field, ref string) (*model.SchedulingPolicy, error) {
	name, err := model.NameOf(field, model.KindSchedulingPolicy, ref)
	if err != nil {
		return nil, err
	}
	p, err := h.cfg.Store.GetPolicy(ctx, name)
	if errors.Is(err, store.ErrNotFound) || err == nil && isARN(ref) && p.Arn != ref {
		return nil, model.Invalidf(field, "scheduling policy %s not found", ref)
	}
	return p, err
}

func isARN(s string) bool { return strings.HasPrefix(s, "arn:") }

func encodeToken(v any) string {
	b, _ := json.Marshal(v)
	return base64.RawURLEncoding.EncodeToString(b)
}

func decodeToken(tok string, v any) bool {
	b, err := base64.RawURLEncoding.DecodeString(tok)
	if err != nil {
		return false
	}
	return json.Unmarshal(b, v) == nil
}

// page cuts a name-sorted list after the name in a nextToken and returns one
// page of it with the token of the next.
func page[T any](items []T, name func(T) string, limit int, token *string) ([]T, string, error) {
	start := 0
	if tok := str(token); tok != "" {
		var after string
		if !decodeToken(tok, &after) || after == "" {
			return nil, "", model.Invalid("nextToken", "is not a token returned by an earlier call")
		}
		for start < len(items) && name(items[start]) <= after {
			start++
		}
	}
	end := min(start+limit, len(items))
	next := ""
	if end < len(items) {
		next = encodeToken(name(items[end-1]))
	}
	return items[start:end], next, nil
}

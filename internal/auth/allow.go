package auth

import (
	"context"
	"fmt"
	"strings"

	"github.com/sagequeue/sagequeue/internal/api"
)

// Allow is the api.Access of a guarded server: everyone reads; admins do
// everything; users submit to their queues and act on their own jobs; a
// dashboard session only reads.
func (g *Guard) Allow(ctx context.Context, a api.Action) error {
	id := FromContext(ctx)
	if id == nil {
		return denied("anonymous", a, "the request carries no verified identity")
	}
	if a.Kind == api.KindRead {
		return nil
	}
	if id.Session {
		return denied(id.Name, a, "a dashboard session only reads: send a request signed with your access key (the sagequeue CLI or an AWS SDK)")
	}
	if id.Role == RoleAdmin {
		return nil
	}
	switch a.Kind {
	case api.KindJob:
		switch {
		case a.Queue != "":
			if id.user.mayUseQueue(a.Queue) {
				return nil
			}
			mine := "none"
			if len(id.user.Queues) > 0 {
				mine = strings.Join(id.user.Queues, ", ")
			}
			return denied(id.Name, a, fmt.Sprintf("role user may submit only to the queues the auth file lists for %s (%s)", id.Name, mine))
		case a.Resource != "":
			if a.Owner == id.Name {
				return nil
			}
			owner := a.Owner
			if owner == "" {
				owner = "nobody known"
			}
			return denied(id.Name, a, fmt.Sprintf("role user may act only on their own jobs, and this one was submitted by %s", owner))
		}
		return denied(id.Name, a, "role user may act only on their own jobs")
	default:
		return denied(id.Name, a, "role user may not change service environments, scheduling policies or job queues (role admin may)")
	}
}

// denied words a refusal as IAM does: the principal, the permission, the
// resource, and why.
func denied(who string, a api.Action, why string) error {
	msg := fmt.Sprintf("User: %s is not authorized to perform: batch:%s", who, a.Operation)
	if a.Resource != "" {
		msg += " on resource: " + a.Resource
	}
	return &api.AccessDeniedError{Message: msg + " because " + why}
}

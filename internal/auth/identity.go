package auth

import (
	"context"
	"net/http"
)

// Identity is the verified caller of a request.
type Identity struct {
	// Name is the user's name, what jobs record as submittedBy.
	Name        string
	AccessKeyID string
	Role        Role
	// Session is true for a dashboard session: it only reads.
	Session bool

	user *User
}

type identityKey struct{}

// WithIdentity returns ctx carrying id.
func WithIdentity(ctx context.Context, id *Identity) context.Context {
	return context.WithValue(ctx, identityKey{}, id)
}

// FromContext returns the identity a Guard verified, nil when there is none.
func FromContext(ctx context.Context) *Identity {
	id, _ := ctx.Value(identityKey{}).(*Identity)
	return id
}

// CallerName is api.Config.Identity for a guarded server: the verified
// user's name, "" when the request carries no identity.
func CallerName(r *http.Request) string {
	if id := FromContext(r.Context()); id != nil {
		return id.Name
	}
	return ""
}

func identityOf(u *User, session bool) *Identity {
	return &Identity{Name: u.Name, AccessKeyID: u.AccessKeyID, Role: u.Role, Session: session, user: u}
}

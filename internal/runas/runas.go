// Package runas resolves the unprivileged account a training job runs as
// when `sagequeue serve` runs as root: a user name ("nobody"), a numeric uid
// ("60001") or uid:gid ("60001:60001"). A number needs no entry in
// /etc/passwd, so an operator can give every person a uid of their own
// without creating accounts.
//
// It only looks accounts up; package localsm starts processes with them.
package runas

import (
	"errors"
	"fmt"
	"os/user"
	"strconv"
	"strings"
)

// Default is the account jobs run as when nothing else names one.
const Default = "nobody"

// Account is a resolved run-as account.
type Account struct {
	// Spec is the account as configured.
	Spec string
	// Name is the user name, "" for a uid without a passwd entry.
	Name     string
	UID, GID uint32
	// Groups are the supplementary groups (those /etc/group lists the user
	// in: "video" or "render" give access to GPUs on many systems).
	Groups []uint32
	// Home is the passwd home directory, "" when unknown.
	Home string
}

func (a *Account) String() string {
	if a.Name != "" {
		return fmt.Sprintf("%s (uid %d, gid %d)", a.Name, a.UID, a.GID)
	}
	return fmt.Sprintf("uid %d, gid %d", a.UID, a.GID)
}

// ErrPrivileged refuses root (uid or gid 0) as a run-as account.
var ErrPrivileged = errors.New("must be an unprivileged account, not root")

// Lookup resolves spec: a user name, a uid, or uid:gid.
func Lookup(spec string) (*Account, error) {
	spec = strings.TrimSpace(spec)
	if spec == "" {
		return nil, errors.New("an account is required (a user name, a uid, or uid:gid)")
	}
	a := &Account{Spec: spec}
	uidPart, gidPart, hasGID := strings.Cut(spec, ":")
	if uid, err := parseID(uidPart); err == nil {
		a.UID, a.GID = uid, uid
		// A uid with a passwd entry takes its name, group and home from it.
		if u, err := user.LookupId(uidPart); err == nil {
			if err := fill(a, u); err != nil {
				return nil, fmt.Errorf("%s: %w", spec, err)
			}
		}
		if hasGID {
			gid, err := parseID(gidPart)
			if err != nil {
				return nil, fmt.Errorf("%s: the group after ':' must be a numeric gid, got %q", spec, gidPart)
			}
			a.GID = gid
		}
	} else {
		if hasGID {
			return nil, fmt.Errorf("%s: uid:gid must be two numbers; give a user name alone", spec)
		}
		u, err := user.Lookup(spec)
		if err != nil {
			return nil, fmt.Errorf("%s: no such user (give an existing user name or a numeric uid): %w", spec, err)
		}
		if err := fill(a, u); err != nil {
			return nil, fmt.Errorf("%s: %w", spec, err)
		}
	}
	if a.UID == 0 || a.GID == 0 {
		return nil, fmt.Errorf("%s: %w", spec, ErrPrivileged)
	}
	return a, nil
}

func fill(a *Account, u *user.User) error {
	uid, err := parseID(u.Uid)
	if err != nil {
		return fmt.Errorf("uid %q is not a number", u.Uid)
	}
	gid, err := parseID(u.Gid)
	if err != nil {
		return fmt.Errorf("gid %q is not a number", u.Gid)
	}
	a.Name, a.UID, a.GID, a.Home = u.Username, uid, gid, u.HomeDir
	ids, err := u.GroupIds()
	if err != nil {
		return nil // no group database: the primary group alone
	}
	for _, s := range ids {
		g, err := parseID(s)
		if err != nil || g == 0 || g == gid {
			continue // never root's group, and the primary one is set already
		}
		a.Groups = append(a.Groups, g)
	}
	return nil
}

func parseID(s string) (uint32, error) {
	if s == "" || strings.TrimLeft(s, "0123456789") != "" {
		return 0, fmt.Errorf("%q is not a number", s)
	}
	n, err := strconv.ParseUint(s, 10, 32)
	if err != nil || n == 1<<32-1 {
		return 0, fmt.Errorf("%q is not a valid id", s)
	}
	return uint32(n), nil
}

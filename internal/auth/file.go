package auth

import (
	"crypto/sha256"
	"errors"
	"fmt"
	"os"
	"regexp"
	"slices"
	"strings"
	"time"

	"sigs.k8s.io/yaml"

	"github.com/sagequeue/sagequeue/internal/runas"
)

// Role is what a user may do.
type Role string

const (
	// RoleAdmin changes environments, policies, queues and quota shares and
	// acts on any job.
	RoleAdmin Role = "admin"
	// RoleUser submits to the queues listed for them and terminates or
	// updates their own jobs.
	RoleUser Role = "user"
)

// DefaultRegion is the region requests are signed for when the auth file
// names none: the region of a local sagequeue.
const DefaultRegion = "local"

// DefaultSessionDuration is how long a dashboard login lasts.
const DefaultSessionDuration = 12 * time.Hour

// minSecretLength keeps guessable secrets out: a login form takes a secret
// like a password.
const minSecretLength = 16

// File is an auth file: the users, their keys and roles.
type File struct {
	// Regions are the regions a request may be signed for; "*" allows any.
	Regions []string `json:"regions,omitempty"`
	// SessionDuration is how long a dashboard login lasts (12h).
	SessionDuration string `json:"sessionDuration,omitempty"`
	Users           []User `json:"users"`

	session time.Duration
	byKey   map[string]*User
}

// User is one person (or program) with an access key.
type User struct {
	// Name identifies the user: jobs record it as submittedBy.
	Name        string `json:"name"`
	AccessKeyID string `json:"accessKeyId"`
	Secret      string `json:"secret"`
	Role        Role   `json:"role"`
	// Queues are the queues a user may submit to, by name; "*" is every
	// queue and a trailing "*" a prefix.
	Queues []string `json:"queues,omitempty"`
	// RunAs is the account the user's jobs run as when serve runs as root
	// (a user name, a uid or uid:gid); empty means serve's --run-as.
	RunAs string `json:"runAs,omitempty"`
}

var (
	userName    = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_.@+=-]{0,63}$`)
	accessKeyID = regexp.MustCompile(`^[A-Za-z0-9_]{16,128}$`)
	regionName  = regexp.MustCompile(`^[a-z0-9-]{1,32}$`)
	queueGlob   = regexp.MustCompile(`^[A-Za-z0-9_-]{0,128}\*?$`)
)

// LoadFile reads and checks an auth file. It refuses a file that others
// than its owner (and group) may read or that its group may write: it holds
// secrets.
func LoadFile(path string) (*File, error) {
	fi, err := os.Stat(path)
	if err != nil {
		return nil, fmt.Errorf("auth file: %w", err)
	}
	if mode := fi.Mode().Perm(); mode&0o027 != 0 {
		return nil, fmt.Errorf("auth file %s: mode %04o lets others read or change it, and it holds secrets: chmod 600 %s", path, mode, path)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("auth file: %w", err)
	}
	f, err := ParseFile(b)
	if err != nil {
		return nil, fmt.Errorf("auth file %s: %w", path, err)
	}
	return f, nil
}

// ParseFile checks an auth file's contents (YAML or JSON).
func ParseFile(b []byte) (*File, error) {
	var f File
	if err := yaml.UnmarshalStrict(b, &f); err != nil {
		return nil, err
	}
	if err := f.check(); err != nil {
		return nil, err
	}
	return &f, nil
}

func (f *File) check() error {
	var errs []error
	bad := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }
	f.session = DefaultSessionDuration
	if f.SessionDuration != "" {
		d, err := time.ParseDuration(f.SessionDuration)
		if err != nil || d < time.Minute || d > 30*24*time.Hour {
			bad("sessionDuration: must be a duration from 1m to 720h, like 12h; got %q", f.SessionDuration)
		} else {
			f.session = d
		}
	}
	if len(f.Regions) == 0 {
		f.Regions = []string{DefaultRegion}
	}
	for i, r := range f.Regions {
		if r != "*" && !regionName.MatchString(r) {
			bad("regions[%d]: %q is not a region name (lower-case letters, digits and -) or *", i, r)
		}
	}
	if len(f.Users) == 0 {
		bad("users: at least one user is required")
	}
	names := map[string]bool{}
	f.byKey = map[string]*User{}
	for i := range f.Users {
		u := &f.Users[i]
		at := fmt.Sprintf("users[%d]", i)
		if u.Name != "" {
			at = fmt.Sprintf("users[%d] (%s)", i, u.Name)
		}
		switch {
		case u.Name == "":
			bad("%s.name: is required", at)
		case !userName.MatchString(u.Name):
			bad("%s.name: must be 1-64 letters, digits and _.@+=- starting with a letter or digit", at)
		case names[u.Name]:
			bad("%s.name: %s appears twice", at, u.Name)
		}
		names[u.Name] = true
		switch {
		case u.AccessKeyID == "":
			bad("%s.accessKeyId: is required", at)
		case !accessKeyID.MatchString(u.AccessKeyID):
			bad("%s.accessKeyId: must be 16-128 letters, digits or _ (as AWS access key ids are)", at)
		case f.byKey[u.AccessKeyID] != nil:
			bad("%s.accessKeyId: is also the key of %s", at, f.byKey[u.AccessKeyID].Name)
		default:
			f.byKey[u.AccessKeyID] = u
		}
		switch {
		case u.Secret == "":
			bad("%s.secret: is required", at)
		case len(u.Secret) < minSecretLength:
			bad("%s.secret: must be at least %d characters (openssl rand -base64 30 makes a good one)", at, minSecretLength)
		case strings.ContainsAny(u.Secret, " \t\r\n"):
			bad("%s.secret: must not contain white space", at)
		}
		switch u.Role {
		case RoleAdmin:
			if len(u.Queues) > 0 {
				bad("%s.queues: admins may submit to every queue; queues is for role user", at)
			}
		case RoleUser:
			for j, q := range u.Queues {
				if q == "" || !queueGlob.MatchString(q) {
					bad("%s.queues[%d]: %q must be a queue name, a prefix ending in *, or *", at, j, q)
				}
			}
		case "":
			bad("%s.role: is required (admin or user)", at)
		default:
			bad("%s.role: must be admin or user, got %q", at, u.Role)
		}
		if u.RunAs != "" {
			if _, err := runas.Lookup(u.RunAs); err != nil {
				bad("%s.runAs: %v", at, err)
			}
		}
	}
	return errors.Join(errs...)
}

// user finds the user of an access key id.
func (f *File) user(keyID string) *User { return f.byKey[keyID] }

// regionAllowed reports whether requests may be signed for region.
func (f *File) regionAllowed(region string) bool {
	return slices.Contains(f.Regions, "*") || slices.Contains(f.Regions, region)
}

// RunAsOf returns the runAs of the user named name, "" when they have none
// (or there is no such user).
func (f *File) RunAsOf(name string) string {
	for i := range f.Users {
		if f.Users[i].Name == name {
			return f.Users[i].RunAs
		}
	}
	return ""
}

// HasRunAs reports whether any user has a runAs.
func (f *File) HasRunAs() bool {
	for i := range f.Users {
		if f.Users[i].RunAs != "" {
			return true
		}
	}
	return false
}

// mayUseQueue reports whether the user may submit to the queue named name.
func (u *User) mayUseQueue(name string) bool {
	if u.Role == RoleAdmin {
		return true
	}
	for _, q := range u.Queues {
		if q == "*" || q == name {
			return true
		}
		if p, ok := strings.CutSuffix(q, "*"); ok && strings.HasPrefix(name, p) {
			return true
		}
	}
	return false
}

// fingerprint stands for the user's key and secret in a session, so that a
// changed secret ends the sessions opened with the old one.
func (u *User) fingerprint() [32]byte {
	return sha256.Sum256([]byte(u.AccessKeyID + "\x00" + u.Secret))
}

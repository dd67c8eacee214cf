package runas

import (
	"errors"
	"os/user"
	"strings"
	"testing"
)

func TestLookup(t *testing.T) {
	nobody, err := user.Lookup("nobody")
	if err != nil {
		t.Skipf("this system has no user nobody: %v", err)
	}
	for name, tc := range map[string]struct {
		spec     string
		uid, gid uint32
		user     string
		err      string
	}{
		"user name":               {spec: "nobody", uid: id(t, nobody.Uid), gid: id(t, nobody.Gid), user: "nobody"},
		"uid with a passwd entry": {spec: nobody.Uid, uid: id(t, nobody.Uid), gid: id(t, nobody.Gid), user: "nobody"},
		"uid without an entry":    {spec: "60917", uid: 60917, gid: 60917},
		"uid and gid":             {spec: "60917:60918", uid: 60917, gid: 60918},
		"surrounding spaces":      {spec: " 60917 ", uid: 60917, gid: 60917},
		"root by name":            {spec: "root", err: "unprivileged"},
		"root by uid":             {spec: "0", err: "unprivileged"},
		"root's group":            {spec: "60917:0", err: "unprivileged"},
		"unknown user":            {spec: "no-such-user-sagequeue", err: "no such user"},
		"name with a gid":         {spec: "nobody:65534", err: "two numbers"},
		"gid not a number":        {spec: "60917:staff", err: "numeric gid"},
		"empty":                   {spec: "", err: "required"},
		"uid out of range":        {spec: "4294967295", err: "no such user"},
	} {
		t.Run(name, func(t *testing.T) {
			a, err := Lookup(tc.spec)
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("Lookup(%q) = %v, %v; want an error containing %q", tc.spec, a, err, tc.err)
				}
				if tc.err == "unprivileged" && !errors.Is(err, ErrPrivileged) {
					t.Errorf("error %v is not ErrPrivileged", err)
				}
				return
			}
			if err != nil {
				t.Fatalf("Lookup(%q): %v", tc.spec, err)
			}
			if a.UID != tc.uid || a.GID != tc.gid || a.Name != tc.user {
				t.Errorf("Lookup(%q) = uid %d gid %d name %q; want %d %d %q", tc.spec, a.UID, a.GID, a.Name, tc.uid, tc.gid, tc.user)
			}
			for _, g := range a.Groups {
				if g == 0 {
					t.Errorf("supplementary groups %v include root's", a.Groups)
				}
			}
		})
	}
}

func id(t *testing.T, s string) uint32 {
	t.Helper()
	n, err := parseID(s)
	if err != nil {
		t.Fatal(err)
	}
	return n
}

package auth

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestParseFileRefusals(t *testing.T) {
	const ok = `{name: a, accessKeyId: AKIAAAAAAAAAAAAAAAAA, secret: aaaaaaaaaaaaaaaaaaaa, role: admin}`
	for name, tc := range map[string]struct{ file, want string }{
		"no users":            {`users: []`, "users: at least one user is required"},
		"unknown member":      {`users: [{name: a, acessKeyId: x}]`, `unknown field "acessKeyId"`},
		"no name":             {`users: [{accessKeyId: AKIAAAAAAAAAAAAAAAAA, secret: aaaaaaaaaaaaaaaaaaaa, role: admin}]`, "users[0].name: is required"},
		"bad name":            {`users: [{name: "a b", accessKeyId: AKIAAAAAAAAAAAAAAAAA, secret: aaaaaaaaaaaaaaaaaaaa, role: admin}]`, "name: must be 1-64 letters"},
		"same name twice":     {`users: [` + ok + `, {name: a, accessKeyId: AKIABBBBBBBBBBBBBBBB, secret: bbbbbbbbbbbbbbbbbbbb, role: admin}]`, "users[1] (a).name: a appears twice"},
		"same key twice":      {`users: [` + ok + `, {name: b, accessKeyId: AKIAAAAAAAAAAAAAAAAA, secret: bbbbbbbbbbbbbbbbbbbb, role: admin}]`, "users[1] (b).accessKeyId: is also the key of a"},
		"short key":           {`users: [{name: a, accessKeyId: AKIA, secret: aaaaaaaaaaaaaaaaaaaa, role: admin}]`, "accessKeyId: must be 16-128"},
		"short secret":        {`users: [{name: a, accessKeyId: AKIAAAAAAAAAAAAAAAAA, secret: short, role: admin}]`, "secret: must be at least 16 characters"},
		"secret with a space": {`users: [{name: a, accessKeyId: AKIAAAAAAAAAAAAAAAAA, secret: "aaaaaaaaa aaaaaaaaaa", role: admin}]`, "must not contain white space"},
		"no role":             {`users: [{name: a, accessKeyId: AKIAAAAAAAAAAAAAAAAA, secret: aaaaaaaaaaaaaaaaaaaa}]`, "role: is required (admin or user)"},
		"unknown role":        {`users: [{name: a, accessKeyId: AKIAAAAAAAAAAAAAAAAA, secret: aaaaaaaaaaaaaaaaaaaa, role: root}]`, `role: must be admin or user, got "root"`},
		"admin with queues":   {`users: [{name: a, accessKeyId: AKIAAAAAAAAAAAAAAAAA, secret: aaaaaaaaaaaaaaaaaaaa, role: admin, queues: [x]}]`, "queues is for role user"},
		"bad queue":           {`users: [{name: a, accessKeyId: AKIAAAAAAAAAAAAAAAAA, secret: aaaaaaaaaaaaaaaaaaaa, role: user, queues: ["a*b"]}]`, "queues[0]"},
		"root as runAs":       {`users: [{name: a, accessKeyId: AKIAAAAAAAAAAAAAAAAA, secret: aaaaaaaaaaaaaaaaaaaa, role: user, runAs: root}]`, "runAs: root: must be an unprivileged account"},
		"unknown runAs":       {`users: [{name: a, accessKeyId: AKIAAAAAAAAAAAAAAAAA, secret: aaaaaaaaaaaaaaaaaaaa, role: user, runAs: no-such-user-sq}]`, "runAs: no-such-user-sq: no such user"},
		"bad region":          {"regions: [US East]\nusers: [" + ok + "]", `regions[0]: "US East" is not a region name`},
		"bad session":         {"sessionDuration: 10s\nusers: [" + ok + "]", "sessionDuration: must be a duration from 1m to 720h"},
	} {
		t.Run(name, func(t *testing.T) {
			_, err := ParseFile([]byte(tc.file))
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("ParseFile: %v; want an error containing %q", err, tc.want)
			}
		})
	}
}

func TestParseFileDefaults(t *testing.T) {
	f, err := ParseFile([]byte(`users: [{name: bob, accessKeyId: AKIABBBBBBBBBBBBBBBB, secret: bbbbbbbbbbbbbbbbbbbb, role: user, queues: [research, "team-*"], runAs: "60917"}]`))
	if err != nil {
		t.Fatal(err)
	}
	if !f.regionAllowed("local") || f.regionAllowed("us-east-1") || f.session != DefaultSessionDuration {
		t.Errorf("defaults: regions %v, session %s", f.Regions, f.session)
	}
	u := f.user("AKIABBBBBBBBBBBBBBBB")
	for q, want := range map[string]bool{"research": true, "team-a": true, "team-": true, "prod": false, "research2": false, "team": false} {
		if u.mayUseQueue(q) != want {
			t.Errorf("bob may use %s: %v, want %v", q, !want, want)
		}
	}
	if f.RunAsOf("bob") != "60917" || f.RunAsOf("alice") != "" || !f.HasRunAs() {
		t.Errorf("runAs of bob %q", f.RunAsOf("bob"))
	}
}

func TestLoadFileRefusesReadableFiles(t *testing.T) {
	path := filepath.Join(t.TempDir(), "auth.yaml")
	if err := os.WriteFile(path, []byte(`users: [{name: a, accessKeyId: AKIAAAAAAAAAAAAAAAAA, secret: aaaaaaaaaaaaaaaaaaaa, role: admin}]`), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := LoadFile(path); err == nil || !strings.Contains(err.Error(), "mode 0644 lets others read or change it") || !strings.Contains(err.Error(), "chmod 600") {
		t.Fatalf("a world-readable auth file: %v", err)
	}
	for _, mode := range []os.FileMode{0o600, 0o640, 0o400} {
		if err := os.Chmod(path, mode); err != nil {
			t.Fatal(err)
		}
		if _, err := LoadFile(path); err != nil {
			t.Errorf("mode %04o: %v", mode, err)
		}
	}
	if _, err := LoadFile(filepath.Join(t.TempDir(), "missing.yaml")); err == nil {
		t.Error("a missing file loaded")
	}
}

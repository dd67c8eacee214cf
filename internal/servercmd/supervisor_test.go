package servercmd

import (
	"os"
	"path/filepath"
	"testing"
)

// TestCanSupervise: a program that supervises reads end-of-file for its
// launch spec and exits with code 3; a client binary from before
// supervisors moved there takes the call for a command line and fails
// otherwise.
func TestCanSupervise(t *testing.T) {
	dir := t.TempDir()
	for name, tc := range map[string]struct {
		script string
		want   bool
	}{
		"a supervisor":            {"#!/bin/sh\n[ -n \"$SAGEQUEUE_LOCALSM_SUPERVISOR\" ] && cat >/dev/null && exit 3\nexit 9\n", true},
		"an older client":         {"#!/bin/sh\necho 'unknown command' >&2\nexit 2\n", false},
		"a program that hangs up": {"#!/bin/sh\nexit 0\n", false},
	} {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(tc.script), 0o755); err != nil {
			t.Fatal(err)
		}
		if got := canSupervise(t.Context(), p); got != tc.want {
			t.Errorf("%s: canSupervise = %v, want %v", name, got, tc.want)
		}
	}
	if got := canSupervise(t.Context(), filepath.Join(dir, "missing")); got {
		t.Error("a missing program can supervise")
	}
}

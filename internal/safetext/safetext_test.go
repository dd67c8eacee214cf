package safetext_test

import (
	"testing"

	"github.com/sagequeue/sagequeue/internal/safetext"
)

func TestClean(t *testing.T) {
	tests := map[string]struct{ in, want string }{
		"plain":             {"AlgorithmError: exit status 1", "AlgorithmError: exit status 1"},
		"unicode kept":      {"échec: 損失 ∞", "échec: 損失 ∞"},
		"colour":            {"\x1b[31mError\x1b[0m: boom", "Error: boom"},
		"cursor movement":   {"a\x1b[2J\x1b[1;1Hb", "ab"},
		"window title":      {"x\x1b]0;pwned\x07y", "xy"},
		"title with ST":     {"x\x1b]8;;http://evil\x1b\\link\x1b]8;;\x1b\\y", "xlinky"},
		"lone escape":       {"a\x1bcb", "ab"},
		"escape at the end": {"a\x1b", "a"},
		"newlines and tabs": {"line1\nline2\r\tend", "line1 line2  end"},
		"bell and NUL":      {"a\x07b\x00c", "abc"},
		"C1 CSI":            {"a\u009b31mb", "a31mb"},
		"bidi override":     {"user\u202egnp.exe", "usergnp.exe"},
		"bidi isolates":     {"a\u2066b\u2069c\u200fd", "abcd"},
		"invalid UTF-8":     {"a\xffb", "a\ufffdb"},
		"DEL":               {"a\x7fb", "ab"},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			got := safetext.Clean(tc.in)
			if got != tc.want {
				t.Fatalf("Clean(%q) = %q, want %q", tc.in, got, tc.want)
			}
			if again := safetext.Clean(got); again != got {
				t.Fatalf("not idempotent: %q -> %q", got, again)
			}
			for _, r := range got {
				if safetext.Unsafe(r) {
					t.Fatalf("%q still holds %U", got, r)
				}
			}
		})
	}
}

func FuzzClean(f *testing.F) {
	for _, s := range []string{"\x1b[31mx", "a\u202eb", "\x1b]0;t\x07", "\xff"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		got := safetext.Clean(s)
		for _, r := range got {
			if safetext.Unsafe(r) {
				t.Fatalf("Clean(%q) = %q holds %U", s, got, r)
			}
		}
		if safetext.Clean(got) != got {
			t.Fatalf("Clean is not idempotent on %q", s)
		}
	})
}

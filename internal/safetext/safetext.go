// Package safetext makes text from outside (a training process's output, a
// reason a caller gave) safe to store and show on one line of a terminal.
// It stands alone, so that the client binary can use it without linking the
// job model and its tables.
package safetext

import (
	"strings"
	"unicode/utf8"
)

// Unsafe reports a character that changes how a terminal shows what
// follows it rather than showing itself: the C0 and C1 control characters
// (ESC starts the escape sequences that move the cursor, retitle a window
// or recolour text), DEL, and Unicode's bidirectional formatting characters,
// which can make a line read differently from what it holds.
func Unsafe(r rune) bool {
	switch {
	case r < 0x20, r == 0x7f, r >= 0x80 && r < 0xa0:
		return true
	case r == 0x061c, r == 0x200e, r == 0x200f, r >= 0x202a && r <= 0x202e, r >= 0x2066 && r <= 0x2069:
		return true
	}
	return false
}

// Clean makes text from outside (a training process's last stderr line,
// a reason given to terminate a job) safe to store and show on one line:
// ANSI escape sequences are removed whole, tabs and line breaks become
// spaces, other control and bidirectional formatting characters are
// dropped, and bytes that are not UTF-8 become U+FFFD.
func Clean(s string) string {
	clean := true
	for _, r := range s {
		if Unsafe(r) || r == utf8.RuneError {
			clean = false
			break
		}
	}
	if clean {
		return s
	}
	var b strings.Builder
	b.Grow(len(s))
	for i := 0; i < len(s); {
		r, size := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == 0x1b:
			i += escapeLength(s[i:])
			continue
		case r == '\t' || r == '\n' || r == '\r':
			b.WriteByte(' ')
		case Unsafe(r):
		case r == utf8.RuneError && size <= 1:
			b.WriteRune(utf8.RuneError)
		default:
			b.WriteString(s[i : i+size])
		}
		i += size
	}
	return b.String()
}

// escapeLength is the length of the escape sequence at the start of s
// (which starts with ESC): a CSI sequence (ESC [ parameters final byte),
// a string sequence (OSC, DCS, APC, PM, SOS: up to BEL or ESC \), or ESC
// and one more character.
func escapeLength(s string) int {
	if len(s) < 2 {
		return len(s)
	}
	switch s[1] {
	case '[':
		for i := 2; i < len(s); i++ {
			if c := s[i]; c >= 0x40 && c <= 0x7e {
				return i + 1
			} else if c < 0x20 || c > 0x7e {
				return i // not a sequence after all: drop what came so far
			}
		}
		return len(s)
	case ']', 'P', '_', '^', 'X':
		for i := 2; i < len(s); i++ {
			if s[i] == 0x07 {
				return i + 1
			}
			if s[i] == 0x1b && i+1 < len(s) && s[i+1] == '\\' {
				return i + 2
			}
		}
		return len(s)
	}
	_, size := utf8.DecodeRuneInString(s[1:])
	return 1 + size
}

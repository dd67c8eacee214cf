package cli

import (
	"io"
	"os"
	"strings"
	"unicode/utf8"

	"github.com/mattn/go-isatty"
)

// ANSI control sequences of the live displays (submit --wait, the bulk
// progress bar, watch). They are written only to terminals.
const (
	ansiClearLine   = "\r\x1b[K" // back to the start of the line and clear it
	ansiHome        = "\x1b[H"   // cursor to the top left
	ansiClearToEOL  = "\x1b[K"
	ansiClearToEOS  = "\x1b[J"
	ansiHideCursor  = "\x1b[?25l"
	ansiShowCursor  = "\x1b[?25h"
	ansiAltScreen   = "\x1b[?1049h" // the alternate screen, as top uses: the shell's screen comes back on exit
	ansiMainScreen  = "\x1b[?1049l"
	defaultTermCols = 80
	defaultTermRows = 24
)

// isTerminal reports whether a stream (an io.Reader or io.Writer) is a
// terminal. Only *os.File can be one.
func (a *App) isTerminal(stream any) bool {
	if a.IsTerminal != nil {
		return a.IsTerminal(stream)
	}
	f, ok := stream.(*os.File)
	return ok && (isatty.IsTerminal(f.Fd()) || isatty.IsCygwinTerminal(f.Fd()))
}

// termSize returns the columns and rows of the terminal behind w, or the
// classic 80x24 when it cannot tell ($COLUMNS and $LINES first, as a user
// may set them).
func (a *App) termSize(w io.Writer) (cols, rows int) {
	cols, rows = defaultTermCols, defaultTermRows
	if f, ok := w.(*os.File); ok {
		if c, r, ok := windowSize(f); ok {
			return c, r
		}
	}
	if n := atoiOr(a.Getenv("COLUMNS"), 0); n > 0 {
		cols = n
	}
	if n := atoiOr(a.Getenv("LINES"), 0); n > 0 {
		rows = n
	}
	return cols, rows
}

func atoiOr(s string, def int) int {
	n := 0
	if s == "" {
		return def
	}
	for _, c := range s {
		if c < '0' || c > '9' || n > 1e6 {
			return def
		}
		n = n*10 + int(c-'0')
	}
	return n
}

// visibleWidth is the number of columns s takes on a terminal: its runes,
// without ANSI escape sequences.
func visibleWidth(s string) int {
	n := 0
	for i := 0; i < len(s); {
		if s[i] == 0x1b {
			i = skipEscape(s, i)
			continue
		}
		_, size := utf8.DecodeRuneInString(s[i:])
		i += size
		n++
	}
	return n
}

// skipEscape returns the index after the escape sequence at s[i].
func skipEscape(s string, i int) int {
	j := i + 1
	if j < len(s) && s[j] == '[' {
		j++
		for j < len(s) && (s[j] < 0x40 || s[j] > 0x7e) {
			j++
		}
		return min(j+1, len(s))
	}
	return min(j+1, len(s))
}

// fitWidth cuts s to at most cols visible columns, keeping its escape
// sequences (so that colors are reset), so a line never wraps: a wrapped
// line would break the in-place redraw.
func fitWidth(s string, cols int) string {
	if cols <= 0 || visibleWidth(s) <= cols {
		return s
	}
	var b strings.Builder
	n := 0
	for i := 0; i < len(s); {
		if s[i] == 0x1b {
			j := skipEscape(s, i)
			b.WriteString(s[i:j])
			i = j
			continue
		}
		_, size := utf8.DecodeRuneInString(s[i:])
		if n < cols {
			b.WriteString(s[i : i+size])
		}
		n++
		i += size
	}
	return b.String()
}

//go:build !(linux || darwin || dragonfly || freebsd || netbsd || openbsd)

package cli

import "os"

// windowSize is not known here: the callers fall back to 80x24.
func windowSize(*os.File) (cols, rows int, ok bool) { return 0, 0, false }

// cbreak is not available here: watch then quits on Ctrl-C only.
func cbreak(*os.File) (restore func(), ok bool) { return nil, false }

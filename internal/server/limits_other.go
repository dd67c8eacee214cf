//go:build !unix

package server

// openFileLimit has no meaning here; the cap on connections takes its top.
func openFileLimit() int { return 1 << 20 }

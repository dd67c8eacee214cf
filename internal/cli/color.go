package cli

// Colors: only on a terminal (or with --color always), never in JSON, and
// not when NO_COLOR is set (https://no-color.org) unless --color always
// says otherwise.

// SGR color codes, each the same length (5 bytes with its escape), so
// that every colored cell of a table column carries the same number of
// invisible bytes and text/tabwriter, which counts bytes, still aligns the
// columns (see colorCell).
const (
	sgrRed     = "\x1b[31m"
	sgrGreen   = "\x1b[32m"
	sgrYellow  = "\x1b[33m"
	sgrBlue    = "\x1b[34m"
	sgrCyan    = "\x1b[36m"
	sgrDefault = "\x1b[39m"
	sgrGray    = "\x1b[90m"
	sgrReset   = "\x1b[0m"
	sgrBold    = "\x1b[1m"
)

// colors reports whether output to stream gets colors.
func (a *App) colors(stream any) bool {
	if a.json() {
		return false
	}
	switch a.Color {
	case "always":
		return true
	case "never":
		return false
	}
	if a.Getenv("NO_COLOR") != "" || a.Getenv("TERM") == "dumb" {
		return false
	}
	return a.isTerminal(stream)
}

// statusColor is the color of a job status: what needs no attention is
// quiet, what is done is green or red.
func statusColor(status string) string {
	switch status {
	case "SUCCEEDED":
		return sgrGreen
	case "FAILED":
		return sgrRed
	case "RUNNING":
		return sgrBlue
	case "SCHEDULED", "STARTING":
		return sgrCyan
	case "RUNNABLE":
		return sgrYellow
	case "SUBMITTED", "PENDING":
		return sgrGray
	}
	return sgrDefault
}

// colorStatus colors a status (or text starting with one, as "FAILED
// (terminated)") for stream, when it gets colors.
func (a *App) colorStatus(stream any, status string) string {
	if !a.colors(stream) {
		return status
	}
	word := status
	for i, c := range status {
		if c == ' ' {
			word = status[:i]
			break
		}
	}
	return statusColor(word) + status + sgrReset
}

// colorCell pads a plain cell of a column whose other cells are colored
// with invisible bytes of the same length, so tabwriter aligns the column.
func (a *App) colorCell(stream any, text string) string {
	if !a.colors(stream) {
		return text
	}
	return sgrDefault + text + sgrReset
}

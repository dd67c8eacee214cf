package supervisor

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
)

const (
	// OutputLog is a job's log: the training process's stdout and stderr
	// and the notes of the supervisor and the endpoint, line by line.
	OutputLog = "output.log"
	// NoteHeader starts the lines that are notes, not the process's.
	NoteHeader = "sagequeue local endpoint: "
	// maxLogLine splits longer lines, so that one runaway line (a progress
	// bar without newlines) cannot take unbounded memory.
	maxLogLine = 64 << 10
)

// jobLog is a job's output.log, written one whole line at a time so that
// the streams interleave by line.
type jobLog struct {
	mu   sync.Mutex
	f    *os.File
	last string // last non-empty stderr line
}

func openLog(dir string) (*jobLog, error) {
	f, err := os.OpenFile(filepath.Join(dir, OutputLog), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return nil, err
	}
	return &jobLog{f: f}, nil
}

func (l *jobLog) close() { l.f.Close() }

func (l *jobLog) write(line []byte, stderr bool) {
	buf := make([]byte, 0, len(line)+1)
	buf = append(buf, line...)
	buf = append(buf, '\n')
	l.mu.Lock()
	defer l.mu.Unlock()
	l.f.Write(buf)
	if stderr {
		// A progress bar redraws with \r; what shows last is what counts.
		if i := bytes.LastIndexByte(line, '\r'); i >= 0 {
			line = line[i+1:]
		}
		if t := strings.TrimSpace(string(line)); t != "" {
			l.last = t
		}
	}
}

func (l *jobLog) note(format string, args ...any) {
	l.write([]byte(NoteHeader+fmt.Sprintf(format, args...)), false)
}

func (l *jobLog) lastStderr() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.last
}

// copy writes what r delivers to the log line by line until r ends.
func (l *jobLog) copy(r io.Reader, stderr bool) {
	br := bufio.NewReaderSize(r, maxLogLine)
	for {
		line, err := br.ReadSlice('\n')
		if len(line) > 0 {
			l.write(bytes.TrimSuffix(line, []byte("\n")), stderr)
		}
		if err != nil && !errors.Is(err, bufio.ErrBufferFull) {
			return
		}
	}
}

// AppendLog adds a note to the log of the job in dir, when no supervisor
// writes it (a server's notes at a restart).
func AppendLog(dir, msg string) {
	f, err := os.OpenFile(filepath.Join(dir, OutputLog), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return
	}
	defer f.Close()
	f.WriteString(NoteHeader + msg + "\n")
}

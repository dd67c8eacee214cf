package localsm

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
)

// LogPage is one page of a training job's log.
type LogPage struct {
	// Lines are whole lines, without their newlines.
	Lines []string
	// Next is the byte offset to read from next.
	Next int64
	// Done is true when the job has ended and Lines reach the end of the
	// log: there will never be more.
	Done bool
}

// DefaultLogLines is the page size of ReadLog when limit <= 0.
const DefaultLogLines = 1000

// maxLogPage bounds the bytes of one page, however short its lines.
const maxLogPage = 1 << 20

// ReadLog reads up to limit whole lines of a job's output.log from byte
// offset (0 to start; then the previous page's Next). While the job runs, a
// line still being written is left for a later call. It returns ErrNotFound
// for an unknown job.
func (s *Server) ReadLog(ctx context.Context, trainingJobName string, offset int64, limit int) (LogPage, error) {
	if err := ctx.Err(); err != nil {
		return LogPage{}, err
	}
	if offset < 0 {
		return LogPage{}, fmt.Errorf("localsm: negative log offset %d", offset)
	}
	if limit <= 0 {
		limit = DefaultLogLines
	}
	s.mu.Lock()
	j := s.lookupLocked(trainingJobName)
	var ended bool
	if j != nil {
		// Read the status before the file: every write to the log
		// happens before the job ends, so an ended job's log is whole.
		ended = terminal(j.rec.Status)
	}
	s.mu.Unlock()
	if j == nil {
		return LogPage{}, ErrNotFound
	}
	page := LogPage{Next: offset}
	f, err := os.Open(filepath.Join(j.dir, logFile))
	if errors.Is(err, os.ErrNotExist) {
		page.Done = ended
		return page, nil
	}
	if err != nil {
		return page, err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return page, err
	}
	size := fi.Size()
	if offset >= size {
		page.Done = ended
		return page, nil
	}
	br := bufio.NewReader(io.NewSectionReader(f, offset, size-offset))
	var read int64
	for len(page.Lines) < limit && (read < maxLogPage || len(page.Lines) == 0) {
		line, err := br.ReadString('\n')
		if err == nil {
			page.Lines = append(page.Lines, line[:len(line)-1])
			read += int64(len(line))
			continue
		}
		if err == io.EOF && line != "" && ended {
			// The last line of an ended job needs no newline.
			page.Lines = append(page.Lines, line)
			read += int64(len(line))
		}
		if err != io.EOF {
			return page, err
		}
		break
	}
	page.Next = offset + read
	page.Done = ended && page.Next >= size
	return page, nil
}

// LogPath is the path of a job's output.log (which exists once the job
// has started preparing). It returns ErrNotFound for an unknown job.
func (s *Server) LogPath(trainingJobName string) (string, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	j := s.lookupLocked(trainingJobName)
	if j == nil {
		return "", ErrNotFound
	}
	return filepath.Join(j.dir, logFile), nil
}

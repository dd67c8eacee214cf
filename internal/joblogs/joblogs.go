// Package joblogs reads the log lines of a training job for the
// getservicejoblogs operation: from the log file the local SageMaker endpoint
// writes (Files), and, in the cloud, from CloudWatch Logs (CloudWatch).
package joblogs

import (
	"bufio"
	"bytes"
	"context"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
)

// Query selects log lines.
type Query struct {
	// StartFromHead reads from the first line; otherwise the last Limit lines
	// are returned (a tail). Token continues a previous page either way.
	StartFromHead bool
	Token         string
	Limit         int
}

// Page is a page of log lines.
type Page struct {
	Lines []Line
	// Next continues after the last line; reading it later returns lines the
	// job printed since.
	Next string
	// EOF means the page reached the end of what was logged so far.
	EOF bool
}

// Line is one log line; Timestamp (epoch ms) is 0 where the source has none.
type Line struct {
	Timestamp int64
	Message   string
}

// ErrNoLogs means the training job has no logs (yet).
var ErrNoLogs = errors.New("no logs")

// ErrBadToken means a token was not made by this reader.
var ErrBadToken = errors.New("invalid log token")

// Files reads plain-text log files, one per training job.
type Files struct {
	// Path returns the log file of a training job, or an error wrapping
	// ErrNoLogs for a training job it does not know (yet).
	Path func(trainingJobName string) (string, error)
}

// maxLine bounds one line; longer ones are cut, so a binary blob on stdout
// cannot make a page unbounded.
const maxLine = 64 * 1024

// Read implements the log reader of the API.
func (f Files) Read(_ context.Context, trainingJobName string, q Query) (Page, error) {
	path, err := f.Path(trainingJobName)
	if err != nil {
		return Page{}, err // ErrNoLogs when the job is unknown so far
	}
	fh, err := os.Open(path)
	if errors.Is(err, os.ErrNotExist) {
		return Page{}, fmt.Errorf("%s: %w", trainingJobName, ErrNoLogs)
	}
	if err != nil {
		return Page{}, err
	}
	defer fh.Close()
	size, err := fh.Seek(0, io.SeekEnd)
	if err != nil {
		return Page{}, err
	}
	limit := q.Limit
	if limit <= 0 {
		limit = 100
	}
	var offset int64
	switch {
	case q.Token != "":
		if offset, err = decodeOffset(q.Token); err != nil || offset > size {
			return Page{}, ErrBadToken
		}
	case !q.StartFromHead:
		if offset, err = tailOffset(fh, size, limit); err != nil {
			return Page{}, err
		}
	}
	if _, err := fh.Seek(offset, io.SeekStart); err != nil {
		return Page{}, err
	}
	r := bufio.NewReaderSize(fh, 64*1024)
	page := Page{}
	for len(page.Lines) < limit {
		line, n, complete, err := readLine(r)
		if !complete {
			// A partial last line is still being written: leave it for later.
			break
		}
		offset += int64(n)
		page.Lines = append(page.Lines, Line{Message: line})
		if err != nil {
			break
		}
	}
	page.Next = encodeOffset(offset)
	page.EOF = offset >= size-int64(partialTail(fh, size))
	return page, nil
}

// readLine reads one '\n'-terminated line; complete is false when the file
// ends before the newline.
func readLine(r *bufio.Reader) (line string, n int, complete bool, err error) {
	var buf bytes.Buffer
	for {
		chunk, err := r.ReadSlice('\n')
		n += len(chunk)
		if buf.Len() < maxLine {
			buf.Write(chunk[:min(len(chunk), maxLine-buf.Len())])
		}
		switch {
		case err == nil:
			return string(bytes.TrimRight(buf.Bytes(), "\r\n")), n, true, nil
		case errors.Is(err, bufio.ErrBufferFull):
			continue
		default:
			return "", n, false, err
		}
	}
}

// partialTail returns the length of an unterminated last line.
func partialTail(fh *os.File, size int64) int {
	if size == 0 {
		return 0
	}
	buf := make([]byte, min(size, maxLine))
	if _, err := fh.ReadAt(buf, size-int64(len(buf))); err != nil {
		return 0
	}
	if i := bytes.LastIndexByte(buf, '\n'); i >= 0 {
		return len(buf) - i - 1
	}
	return len(buf)
}

// tailOffset finds where the last n complete lines start.
func tailOffset(fh *os.File, size int64, n int) (int64, error) {
	end := size - int64(partialTail(fh, size))
	pos := end
	found := 0
	buf := make([]byte, 32*1024)
	for pos > 0 {
		chunk := min(int64(len(buf)), pos)
		pos -= chunk
		if _, err := fh.ReadAt(buf[:chunk], pos); err != nil {
			return 0, err
		}
		for i := chunk - 1; i >= 0; i-- {
			if buf[i] != '\n' || pos+i == end-1 {
				continue
			}
			found++
			if found == n {
				return pos + i + 1, nil
			}
		}
	}
	return 0, nil
}

func encodeOffset(off int64) string {
	var b [9]byte
	b[0] = 'f'
	binary.BigEndian.PutUint64(b[1:], uint64(off))
	return base64.RawURLEncoding.EncodeToString(b[:])
}

func decodeOffset(tok string) (int64, error) {
	b, err := base64.RawURLEncoding.DecodeString(tok)
	if err != nil || len(b) != 9 || b[0] != 'f' {
		return 0, ErrBadToken
	}
	off := int64(binary.BigEndian.Uint64(b[1:]))
	if off < 0 {
		return 0, ErrBadToken
	}
	return off, nil
}

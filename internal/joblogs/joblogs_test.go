package joblogs_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/sagequeue/sagequeue/internal/joblogs"
)

func files(t *testing.T, content string) joblogs.Files {
	dir := t.TempDir()
	path := filepath.Join(dir, "job.log")
	if content != "" {
		if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return joblogs.Files{Path: func(name string) (string, error) {
		if name != "job" {
			return "", fmt.Errorf("unknown job %s", name)
		}
		return path, nil
	}}
}

func messages(p joblogs.Page) []string {
	var out []string
	for _, l := range p.Lines {
		out = append(out, l.Message)
	}
	return out
}

func numbered(n int) string {
	var b strings.Builder
	for i := 1; i <= n; i++ {
		fmt.Fprintf(&b, "line %d\n", i)
	}
	return b.String()
}

func TestReadFromHeadInPages(t *testing.T) {
	f := files(t, numbered(25))
	var got []string
	q := joblogs.Query{StartFromHead: true, Limit: 10}
	for i := 0; ; i++ {
		p, err := f.Read(context.Background(), "job", q)
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, messages(p)...)
		if p.EOF {
			break
		}
		if i > 5 {
			t.Fatal("no end")
		}
		q.Token = p.Next
	}
	if len(got) != 25 || got[0] != "line 1" || got[24] != "line 25" {
		t.Fatalf("got %v", got)
	}
}

func TestTail(t *testing.T) {
	f := files(t, numbered(25))
	p, err := f.Read(context.Background(), "job", joblogs.Query{Limit: 3})
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"line 23", "line 24", "line 25"}; !reflect.DeepEqual(messages(p), want) || !p.EOF {
		t.Fatalf("tail %v eof=%v", messages(p), p.EOF)
	}
	// More lines than the file has: all of it.
	p, _ = f.Read(context.Background(), "job", joblogs.Query{Limit: 100})
	if len(p.Lines) != 25 {
		t.Fatalf("tail of 100: %d lines", len(p.Lines))
	}
}

func TestFollowSeesNewLinesButNotPartialOnes(t *testing.T) {
	f := files(t, "a\nb\npart")
	path, _ := f.Path("job")
	p, err := f.Read(context.Background(), "job", joblogs.Query{StartFromHead: true})
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(messages(p), []string{"a", "b"}) || !p.EOF {
		t.Fatalf("first read %v eof=%v", messages(p), p.EOF)
	}
	fh, _ := os.OpenFile(path, os.O_APPEND|os.O_WRONLY, 0)
	fh.WriteString("ial\nc\n")
	fh.Close()
	p, err = f.Read(context.Background(), "job", joblogs.Query{Token: p.Next})
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(messages(p), []string{"partial", "c"}) {
		t.Fatalf("follow %v", messages(p))
	}
}

func TestLongLinesAreCut(t *testing.T) {
	f := files(t, strings.Repeat("x", 200*1024)+"\nnext\n")
	p, err := f.Read(context.Background(), "job", joblogs.Query{StartFromHead: true})
	if err != nil {
		t.Fatal(err)
	}
	if len(p.Lines) != 2 || len(p.Lines[0].Message) != 64*1024 || p.Lines[1].Message != "next" {
		t.Fatalf("%d lines, first %d bytes", len(p.Lines), len(p.Lines[0].Message))
	}
}

func TestErrors(t *testing.T) {
	f := files(t, "")
	if _, err := f.Read(context.Background(), "job", joblogs.Query{}); !errors.Is(err, joblogs.ErrNoLogs) {
		t.Fatalf("missing file: %v", err)
	}
	f = files(t, "a\n")
	for _, tok := range []string{"garbage", "ZmFrZQ", "Zv__________8"} {
		if _, err := f.Read(context.Background(), "job", joblogs.Query{Token: tok}); !errors.Is(err, joblogs.ErrBadToken) {
			t.Fatalf("token %q: %v", tok, err)
		}
	}
	if _, err := f.Read(context.Background(), "other", joblogs.Query{}); err == nil {
		t.Fatal("unknown job read")
	}
}

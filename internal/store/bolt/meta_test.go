package bolt

import (
	"context"
	"errors"
	"path/filepath"
	"testing"

	"github.com/sagequeue/sagequeue/internal/store"
)

func TestMetaSurvivesReopen(t *testing.T) {
	path := filepath.Join(t.TempDir(), "db")
	s, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.GetMeta(context.Background(), "config"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("missing meta: %v", err)
	}
	if err := s.PutMeta(context.Background(), "config", []byte("abc")); err != nil {
		t.Fatal(err)
	}
	s.Close()
	if s, err = Open(path); err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if v, err := s.GetMeta(context.Background(), "config"); err != nil || string(v) != "abc" {
		t.Fatalf("after reopening: %q %v", v, err)
	}
	// A name never reaches the store's own keys.
	if _, err := s.GetMeta(context.Background(), "schema"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("meta schema: %v", err)
	}
}

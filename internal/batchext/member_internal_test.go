package batchext

import (
	"strings"
	"testing"
)

func TestAddBodyMembers(t *testing.T) {
	got, err := addBodyMembers(strings.NewReader(`{"a":1,"b":{"c":[1,2]}}`), map[string]any{"x": "y"})
	if err != nil {
		t.Fatal(err)
	}
	if string(got) != `{"a":1,"b":{"c":[1,2]},"x":"y"}` {
		t.Fatalf("%s", got)
	}
	if got, _ := addBodyMembers(nil, map[string]any{"x": 1}); string(got) != `{"x":1}` {
		t.Fatalf("empty body: %s", got)
	}
	if _, err := addBodyMembers(strings.NewReader(`[1]`), map[string]any{"x": 1}); err == nil {
		t.Fatal("array body accepted")
	}
}

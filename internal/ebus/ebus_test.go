package ebus_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/eventbridge"

	"github.com/sagequeue/sagequeue/internal/ebus"
	"github.com/sagequeue/sagequeue/internal/events"
)

// wireEntry is a PutEvents request entry as the EventBridge JSON protocol
// carries it.
type wireEntry struct {
	Source       string   `json:"Source"`
	DetailType   string   `json:"DetailType"`
	Detail       string   `json:"Detail"`
	EventBusName string   `json:"EventBusName"`
	Resources    []string `json:"Resources"`
	Time         *float64 `json:"Time"` // epoch seconds
}

// fakeEventBridge speaks enough of the EventBridge JSON protocol for
// PutEvents. refuse decides, per call and entry, an error code to answer
// with ("" accepts the entry).
type fakeEventBridge struct {
	t      *testing.T
	refuse func(call int, e wireEntry) string

	mu    sync.Mutex
	calls [][]wireEntry
}

func (f *fakeEventBridge) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if got := r.Header.Get("X-Amz-Target"); got != "AWSEvents.PutEvents" {
		http.Error(w, "unexpected target "+got, http.StatusBadRequest)
		return
	}
	if ct := r.Header.Get("Content-Type"); ct != "application/x-amz-json-1.1" {
		http.Error(w, "unexpected content type "+ct, http.StatusBadRequest)
		return
	}
	body, _ := io.ReadAll(r.Body)
	var in struct{ Entries []wireEntry }
	if err := json.Unmarshal(body, &in); err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	f.mu.Lock()
	call := len(f.calls)
	f.calls = append(f.calls, in.Entries)
	f.mu.Unlock()
	type result struct {
		EventID      string `json:"EventId,omitempty"`
		ErrorCode    string `json:"ErrorCode,omitempty"`
		ErrorMessage string `json:"ErrorMessage,omitempty"`
	}
	out := struct {
		Entries          []result
		FailedEntryCount int
	}{}
	for i, e := range in.Entries {
		if code := f.refuse(call, e); code != "" {
			out.Entries = append(out.Entries, result{ErrorCode: code, ErrorMessage: "refused by the test"})
			out.FailedEntryCount++
			continue
		}
		out.Entries = append(out.Entries, result{EventID: fmt.Sprintf("%d-%d", call, i)})
	}
	w.Header().Set("Content-Type", "application/x-amz-json-1.1")
	json.NewEncoder(w).Encode(out)
}

func (f *fakeEventBridge) recorded() [][]wireEntry {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([][]wireEntry(nil), f.calls...)
}

func newBus(t *testing.T, refuse func(int, wireEntry) string) (*ebus.Bus, *fakeEventBridge) {
	t.Helper()
	f := &fakeEventBridge{t: t, refuse: refuse}
	srv := httptest.NewServer(f)
	t.Cleanup(srv.Close)
	client := eventbridge.New(eventbridge.Options{
		BaseEndpoint: aws.String(srv.URL), Region: "eu-west-1",
		Credentials: credentials.NewStaticCredentialsProvider("AKID", "secret", ""),
	})
	bus, err := ebus.New(ebus.Config{Client: client, BusName: "sagequeue-bus", Backoff: time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	return bus, f
}

type detail struct {
	N    int    `json:"n"`
	Body string `json:"body,omitempty"`
}

func event(n int) events.Event {
	return events.Event{
		Source: events.Source, DetailType: events.DetailTypeJobStateChange,
		Resources: []string{fmt.Sprintf("arn:aws:batch:eu-west-1:123456789012:service-job/job-%d", n)},
		Time:      time.UnixMilli(1_800_000_000_000 + int64(n)*1000).UTC(),
		Detail:    detail{N: n},
	}
}

func decodeN(t *testing.T, e wireEntry) int {
	t.Helper()
	var d detail
	if err := json.Unmarshal([]byte(e.Detail), &d); err != nil {
		t.Fatalf("Detail %q is not our JSON: %v", e.Detail, err)
	}
	return d.N
}

func TestBatchesAndWireShape(t *testing.T) {
	bus, f := newBus(t, func(int, wireEntry) string { return "" })
	var evs []events.Event
	for i := range 23 {
		evs = append(evs, event(i))
	}
	if err := bus.Publish(context.Background(), evs...); err != nil {
		t.Fatal(err)
	}
	calls := f.recorded()
	var sizes []int
	next := 0
	for _, c := range calls {
		sizes = append(sizes, len(c))
		for _, e := range c {
			if n := decodeN(t, e); n != next {
				t.Errorf("event %d put in position %d: order not kept", n, next)
			}
			want := event(next)
			if e.Source != "sagequeue" || e.DetailType != "Service Job State Change" || e.EventBusName != "sagequeue-bus" {
				t.Errorf("entry %d: source %q, detail type %q, bus %q", next, e.Source, e.DetailType, e.EventBusName)
			}
			if len(e.Resources) != 1 || e.Resources[0] != want.Resources[0] {
				t.Errorf("entry %d: resources %v, want %v", next, e.Resources, want.Resources)
			}
			if e.Time == nil || int64(*e.Time) != want.Time.Unix() {
				t.Errorf("entry %d: time %v, want %d", next, e.Time, want.Time.Unix())
			}
			next++
		}
	}
	if fmt.Sprint(sizes) != "[10 10 3]" {
		t.Errorf("batches of %v, want [10 10 3]", sizes)
	}
}

func TestFailedEntriesAreRetried(t *testing.T) {
	// Odd events fail twice, then go through; event 4 is throttled once.
	seen := map[int]int{}
	var mu sync.Mutex
	bus, f := newBus(t, func(call int, e wireEntry) string {
		var d detail
		json.Unmarshal([]byte(e.Detail), &d)
		mu.Lock()
		defer mu.Unlock()
		seen[d.N]++
		switch {
		case d.N%2 == 1 && seen[d.N] <= 2:
			return "InternalFailure"
		case d.N == 4 && seen[d.N] == 1:
			return "ThrottlingException"
		}
		return ""
	})
	var evs []events.Event
	for i := range 12 {
		evs = append(evs, event(i))
	}
	if err := bus.Publish(context.Background(), evs...); err != nil {
		t.Fatal(err)
	}
	calls := f.recorded()
	// First batch: 10, then its 6 failures (5 odd + event 4), then the 5
	// odd ones; second batch: 2, then 1, then 1.
	var sizes []int
	for _, c := range calls {
		sizes = append(sizes, len(c))
	}
	if fmt.Sprint(sizes) != "[10 6 5 2 1 1]" {
		t.Errorf("calls of %v entries, want [10 6 5 2 1 1]", sizes)
	}
	for n := range 12 {
		want := 1
		if n%2 == 1 {
			want = 3
		} else if n == 4 {
			want = 2
		}
		if seen[n] != want {
			t.Errorf("event %d put %d times, want %d", n, seen[n], want)
		}
	}
}

func TestGivesUpAfterAttempts(t *testing.T) {
	bus, f := newBus(t, func(call int, e wireEntry) string {
		switch decodeN(t, e) {
		case 1:
			return "InternalFailure"
		case 2:
			return "MalformedDetail" // permanent: not retried
		}
		return ""
	})
	err := bus.Publish(context.Background(), event(0), event(1), event(2))
	if err == nil {
		t.Fatal("Publish succeeded although an event kept failing")
	}
	for _, want := range []string{"event 1 (sagequeue, Service Job State Change) not published to sagequeue-bus after 4 attempts: InternalFailure", "event 2 (sagequeue, Service Job State Change) refused by sagequeue-bus: MalformedDetail"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not say %q", err, want)
		}
	}
	count := map[int]int{}
	for _, c := range f.recorded() {
		for _, e := range c {
			count[decodeN(t, e)]++
		}
	}
	if count[0] != 1 || count[1] != 4 || count[2] != 1 {
		t.Errorf("puts per event %v, want 0:1 1:4 2:1", count)
	}
}

func TestOversizedEntryRefused(t *testing.T) {
	bus, f := newBus(t, func(int, wireEntry) string { return "" })
	big := event(1)
	big.Detail = detail{N: 1, Body: strings.Repeat("x", ebus.MaxEntryBytes)}
	err := bus.Publish(context.Background(), event(0), big, event(2))
	if err == nil || !strings.Contains(err.Error(), "event 1 (sagequeue, Service Job State Change) is 262") || !strings.Contains(err.Error(), "over EventBridge's limit of 262144 bytes") {
		t.Fatalf("got %v, want an error refusing event 1 for its size", err)
	}
	var put []int
	for _, c := range f.recorded() {
		for _, e := range c {
			put = append(put, decodeN(t, e))
		}
	}
	if fmt.Sprint(put) != "[0 2]" {
		t.Errorf("put %v, want the other events [0 2]", put)
	}
}

func TestRequestSizeSplitsBatches(t *testing.T) {
	// Four events of ~100 KB each: at most two fit in one 256 KB request.
	bus, f := newBus(t, func(int, wireEntry) string { return "" })
	var evs []events.Event
	for i := range 4 {
		ev := event(i)
		ev.Detail = detail{N: i, Body: strings.Repeat("y", 100*1024)}
		evs = append(evs, ev)
	}
	if err := bus.Publish(context.Background(), evs...); err != nil {
		t.Fatal(err)
	}
	var sizes []int
	for _, c := range f.recorded() {
		sizes = append(sizes, len(c))
	}
	if fmt.Sprint(sizes) != "[2 2]" {
		t.Errorf("calls of %v entries, want [2 2]", sizes)
	}
}

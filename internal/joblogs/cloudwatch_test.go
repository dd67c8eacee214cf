package joblogs_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/cloudwatchlogs"

	"github.com/sagequeue/sagequeue/internal/joblogs"
)

type logEvent struct {
	Timestamp     int64  `json:"timestamp"`
	Message       string `json:"message"`
	IngestionTime int64  `json:"ingestionTime"`
}

// fakeLogs speaks enough of the CloudWatch Logs JSON protocol
// (DescribeLogStreams, GetLogEvents) for the reader, with CloudWatch's
// paging: tokens are positions, a read at the end of a stream answers with
// the token it was given, and pages are cut short at pageCap events (as
// CloudWatch cuts them at 1 MB).
type fakeLogs struct {
	group   string
	pageCap int

	mu      sync.Mutex
	streams map[string][]logEvent
	calls   map[string]int
}

func newFakeLogs(group string) *fakeLogs {
	return &fakeLogs{group: group, pageCap: 1 << 30, streams: map[string][]logEvent{}, calls: map[string]int{}}
}

func (f *fakeLogs) add(stream string, ts int64, msg string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.streams[stream] = append(f.streams[stream], logEvent{Timestamp: ts, Message: msg, IngestionTime: ts + 5})
	sort.SliceStable(f.streams[stream], func(i, j int) bool { return f.streams[stream][i].Timestamp < f.streams[stream][j].Timestamp })
}

func (f *fakeLogs) fail(w http.ResponseWriter, status int, kind, msg string) {
	w.Header().Set("Content-Type", "application/x-amz-json-1.1")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(map[string]string{"__type": kind, "message": msg})
}

func (f *fakeLogs) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	target := r.Header.Get("X-Amz-Target")
	op, ok := strings.CutPrefix(target, "Logs_20140328.")
	if !ok || r.Header.Get("Content-Type") != "application/x-amz-json-1.1" {
		f.fail(w, 400, "UnknownOperationException", "bad target or content type: "+target)
		return
	}
	body, _ := io.ReadAll(r.Body)
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls[op]++
	var out any
	switch op {
	case "DescribeLogStreams":
		var in struct {
			LogGroupName        string
			LogStreamNamePrefix string `json:"logStreamNamePrefix"`
			NextToken           string `json:"nextToken"`
			Limit               int    `json:"limit"`
		}
		json.Unmarshal(body, &in)
		var req map[string]any
		json.Unmarshal(body, &req)
		if req["logGroupName"] != f.group {
			f.fail(w, 400, "ResourceNotFoundException", "The specified log group does not exist.")
			return
		}
		var names []string
		for n := range f.streams {
			if strings.HasPrefix(n, in.LogStreamNamePrefix) {
				names = append(names, n)
			}
		}
		slices.Sort(names)
		start, _ := strconv.Atoi(in.NextToken)
		// Two streams a page, to make the reader follow nextToken.
		end := min(start+2, len(names))
		type stream struct {
			LogStreamName string `json:"logStreamName"`
			CreationTime  int64  `json:"creationTime"`
		}
		resp := struct {
			LogStreams []stream `json:"logStreams"`
			NextToken  string   `json:"nextToken,omitempty"`
		}{LogStreams: []stream{}}
		for _, n := range names[start:end] {
			resp.LogStreams = append(resp.LogStreams, stream{LogStreamName: n, CreationTime: 1})
		}
		if end < len(names) {
			resp.NextToken = strconv.Itoa(end)
		}
		out = resp
	case "GetLogEvents":
		var in struct {
			LogGroupName  string `json:"logGroupName"`
			LogStreamName string `json:"logStreamName"`
			StartTime     *int64 `json:"startTime"`
			StartFromHead *bool  `json:"startFromHead"`
			Limit         int    `json:"limit"`
			NextToken     string `json:"nextToken"`
		}
		json.Unmarshal(body, &in)
		evs, ok := f.streams[in.LogStreamName]
		if in.LogGroupName != f.group || !ok {
			f.fail(w, 400, "ResourceNotFoundException", "The specified log stream does not exist.")
			return
		}
		if in.StartTime != nil {
			from := sort.Search(len(evs), func(i int) bool { return evs[i].Timestamp >= *in.StartTime })
			evs = evs[from:]
		}
		limit := in.Limit
		if limit == 0 {
			limit = 10000
		}
		limit = min(limit, f.pageCap)
		forward := in.StartFromHead != nil && *in.StartFromHead
		pos := 0
		if !forward {
			pos = len(evs)
		}
		if in.NextToken != "" {
			dir, n, _ := strings.Cut(in.NextToken, "/")
			forward = dir == "f"
			pos, _ = strconv.Atoi(n)
		}
		var lo, hi int
		if forward {
			lo, hi = pos, min(pos+limit, len(evs))
		} else {
			lo, hi = max(pos-limit, 0), pos
		}
		out = struct {
			Events            []logEvent `json:"events"`
			NextForwardToken  string     `json:"nextForwardToken"`
			NextBackwardToken string     `json:"nextBackwardToken"`
		}{append([]logEvent{}, evs[lo:hi]...), fmt.Sprintf("f/%d", hi), fmt.Sprintf("b/%d", lo)}
	default:
		f.fail(w, 400, "UnknownOperationException", op)
		return
	}
	w.Header().Set("Content-Type", "application/x-amz-json-1.1")
	json.NewEncoder(w).Encode(out)
}

func newReader(t *testing.T, f *fakeLogs) joblogs.CloudWatch {
	t.Helper()
	srv := httptest.NewServer(f)
	t.Cleanup(srv.Close)
	client := cloudwatchlogs.New(cloudwatchlogs.Options{
		BaseEndpoint: aws.String(srv.URL), Region: "eu-west-1",
		Credentials: credentials.NewStaticCredentialsProvider("AKID", "secret", ""),
	})
	return joblogs.CloudWatch{Client: client}
}

const job = "sagequeue-0191-1"

// fill writes n lines to each of two instances' streams, interleaved in
// time, some sharing a millisecond, plus a stream of another job whose name
// starts the same.
func fill(f *fakeLogs, n int) []string {
	var want []string
	for i := range n {
		ts := int64(1_700_000_000_000 + (i/3)*10)
		f.add(job+"/algo-1-1700000000", ts, fmt.Sprintf("algo-1 line %d\n", i))
		f.add(job+"/algo-2-1700000000", ts+1, fmt.Sprintf("algo-2 line %d", i))
		want = append(want, fmt.Sprintf("%d algo-1 line %d", ts, i), fmt.Sprintf("%d algo-2 line %d", ts+1, i))
	}
	f.add(job+"0/algo-1-1700000000", 1_700_000_000_001, "another job")
	sort.SliceStable(want, func(i, j int) bool { return want[i][:13] < want[j][:13] })
	return want
}

func lines(p joblogs.Page) []string {
	var out []string
	for _, l := range p.Lines {
		out = append(out, fmt.Sprintf("%d %s", l.Timestamp, l.Message))
	}
	return out
}

func TestCloudWatchFromHeadPaging(t *testing.T) {
	f := newFakeLogs(joblogs.DefaultLogGroup)
	f.pageCap = 4 // CloudWatch cuts pages short; the reader must follow tokens
	want := fill(f, 25)
	r := newReader(t, f)
	ctx := context.Background()

	var got []string
	tok := ""
	for range 100 {
		p, err := r.Read(ctx, job, joblogs.Query{StartFromHead: true, Token: tok, Limit: 7})
		if err != nil {
			t.Fatal(err)
		}
		if len(p.Lines) > 7 {
			t.Fatalf("a page of %d lines, limit 7", len(p.Lines))
		}
		got = append(got, lines(p)...)
		tok = p.Next
		if p.EOF {
			break
		}
	}
	if !slices.Equal(got, want) {
		t.Fatalf("read from head:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}

	// The job goes on: more lines, and a third instance starts.
	f.add(job+"/algo-1-1700000000", 1_700_000_001_000, "algo-1 later")
	f.add(job+"/algo-3-1700000100", 1_700_000_001_001, "algo-3 first")
	p, err := r.Read(ctx, job, joblogs.Query{StartFromHead: true, Token: tok, Limit: 7})
	if err != nil {
		t.Fatal(err)
	}
	if got := lines(p); !slices.Equal(got, []string{"1700000001000 algo-1 later", "1700000001001 algo-3 first"}) || !p.EOF {
		t.Fatalf("after new lines: %q (EOF %v)", got, p.EOF)
	}
	// Nothing new: an empty page at EOF that keeps the position.
	p2, err := r.Read(ctx, job, joblogs.Query{Token: p.Next, Limit: 7})
	if err != nil || len(p2.Lines) != 0 || !p2.EOF || p2.Next == "" {
		t.Fatalf("read at the end: %+v, %v", p2, err)
	}
}

func TestCloudWatchTail(t *testing.T) {
	f := newFakeLogs(joblogs.DefaultLogGroup)
	f.pageCap = 3
	want := fill(f, 10)
	r := newReader(t, f)
	ctx := context.Background()

	p, err := r.Read(ctx, job, joblogs.Query{Limit: 5})
	if err != nil {
		t.Fatal(err)
	}
	if got := lines(p); !slices.Equal(got, want[len(want)-5:]) || !p.EOF {
		t.Fatalf("tail of 5:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want[len(want)-5:], "\n"))
	}
	// Following the tail returns only what comes after it.
	f.add(job+"/algo-2-1700000000", 1_700_000_002_000, "algo-2 after the tail")
	p, err = r.Read(ctx, job, joblogs.Query{Token: p.Next, Limit: 5})
	if err != nil {
		t.Fatal(err)
	}
	if got := lines(p); !slices.Equal(got, []string{"1700000002000 algo-2 after the tail"}) {
		t.Fatalf("after the tail: %q", got)
	}
	// A tail longer than the log is the whole log.
	p, err = r.Read(ctx, job, joblogs.Query{Limit: 1000})
	if err != nil {
		t.Fatal(err)
	}
	if got := lines(p); len(got) != len(want)+1 || !slices.Equal(got[:len(want)], want) {
		t.Fatalf("a tail of 1000 returned %d lines, want %d", len(got), len(want)+1)
	}
}

func TestCloudWatchNoLogs(t *testing.T) {
	ctx := context.Background()
	// The log group does not exist yet (no training job has logged).
	r := newReader(t, newFakeLogs("/some/other/group"))
	if _, err := r.Read(ctx, job, joblogs.Query{StartFromHead: true}); !errors.Is(err, joblogs.ErrNoLogs) {
		t.Fatalf("without a log group: %v, want ErrNoLogs", err)
	}
	// The group exists, the job has no stream yet; another job's does.
	f := newFakeLogs(joblogs.DefaultLogGroup)
	f.add("sagequeue-other-1/algo-1-1", 1, "x")
	r = newReader(t, f)
	if _, err := r.Read(ctx, job, joblogs.Query{}); !errors.Is(err, joblogs.ErrNoLogs) {
		t.Fatalf("without streams: %v, want ErrNoLogs", err)
	}
}

func TestCloudWatchTokens(t *testing.T) {
	f := newFakeLogs(joblogs.DefaultLogGroup)
	fill(f, 3)
	f.add("sagequeue-other-1/algo-1-1", 1, "x")
	r := newReader(t, f)
	ctx := context.Background()
	p, err := r.Read(ctx, job, joblogs.Query{StartFromHead: true, Limit: 2})
	if err != nil {
		t.Fatal(err)
	}
	for _, tok := range []string{"nonsense", "c!!", "cW10", p.Next[:len(p.Next)-3]} {
		if _, err := r.Read(ctx, job, joblogs.Query{Token: tok}); !errors.Is(err, joblogs.ErrBadToken) {
			t.Errorf("token %q: %v, want ErrBadToken", tok, err)
		}
	}
	// A token of one training job is refused for another.
	if _, err := r.Read(ctx, "sagequeue-other-1", joblogs.Query{Token: p.Next}); !errors.Is(err, joblogs.ErrBadToken) {
		t.Errorf("another job's token: %v, want ErrBadToken", err)
	}
	// The token is opaque: nothing of CloudWatch's shows through.
	if strings.Contains(p.Next, "/") || strings.Contains(p.Next, "algo") {
		t.Errorf("token %q is not opaque", p.Next)
	}
}

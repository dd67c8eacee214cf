package joblogs

import (
	"cmp"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/cloudwatchlogs"
	"github.com/aws/aws-sdk-go-v2/service/cloudwatchlogs/types"
)

// DefaultLogGroup is where SageMaker writes the logs of training jobs.
const DefaultLogGroup = "/aws/sagemaker/TrainingJobs"

// CloudWatchLogsAPI is the part of CloudWatch Logs that CloudWatch calls;
// *cloudwatchlogs.Client has it.
type CloudWatchLogsAPI interface {
	DescribeLogStreams(ctx context.Context, in *cloudwatchlogs.DescribeLogStreamsInput, opts ...func(*cloudwatchlogs.Options)) (*cloudwatchlogs.DescribeLogStreamsOutput, error)
	GetLogEvents(ctx context.Context, in *cloudwatchlogs.GetLogEventsInput, opts ...func(*cloudwatchlogs.Options)) (*cloudwatchlogs.GetLogEventsOutput, error)
}

// CloudWatch reads the logs SageMaker writes to CloudWatch Logs: one stream
// per instance, named "<training job name>/algo-<n>-<epoch seconds>". A page
// merges the streams in timestamp order.
//
// Its tokens do not wrap CloudWatch's: a token holds, for every stream, the
// timestamp of the last line read and how many lines with that timestamp
// were read (the way the SageMaker Python SDK follows several streams). So a
// token stays valid however long it is kept, a stream that appears later
// (another instance) is read from its head, and lines are never repeated or
// lost across pages, even where many share a millisecond.
type CloudWatch struct {
	Client CloudWatchLogsAPI
	// LogGroup holds the streams (DefaultLogGroup if empty).
	LogGroup string
}

// maxGetLogEvents is the most events one GetLogEvents call returns.
const maxGetLogEvents = 10000

// maxCallsPerStream bounds the GetLogEvents calls for one stream and page:
// CloudWatch may answer with short or empty pages (it stops at 1 MB and at
// gaps in time), so reading a page can take a few calls.
const maxCallsPerStream = 8

// Read implements the log reader of the API.
func (c CloudWatch) Read(ctx context.Context, trainingJobName string, q Query) (Page, error) {
	limit := q.Limit
	if limit <= 0 {
		limit = 100
	}
	limit = min(limit, maxGetLogEvents)
	var cur cursor
	if q.Token != "" {
		var err error
		if cur, err = decodeCursor(q.Token, trainingJobName); err != nil {
			return Page{}, err
		}
	}
	streams, err := c.streams(ctx, trainingJobName)
	if err != nil {
		return Page{}, err
	}
	if len(streams) == 0 {
		return Page{}, fmt.Errorf("%s: %w", trainingJobName, ErrNoLogs)
	}
	if cur.Pos == nil {
		cur.Pos = map[string]position{}
	}
	prefix := trainingJobName + "/"
	if q.Token == "" && !q.StartFromHead {
		return c.tail(ctx, trainingJobName, prefix, streams, limit)
	}
	return c.forward(ctx, trainingJobName, prefix, streams, cur, limit)
}

func (c CloudWatch) group() string {
	if c.LogGroup == "" {
		return DefaultLogGroup
	}
	return c.LogGroup
}

// streams lists the training job's streams by name.
func (c CloudWatch) streams(ctx context.Context, trainingJobName string) ([]string, error) {
	in := &cloudwatchlogs.DescribeLogStreamsInput{
		LogGroupName: aws.String(c.group()), LogStreamNamePrefix: aws.String(trainingJobName + "/"),
	}
	var names []string
	for {
		out, err := c.Client.DescribeLogStreams(ctx, in)
		var rnf *types.ResourceNotFoundException
		if errors.As(err, &rnf) {
			// SageMaker creates the group with the first training job's
			// logs: until then there is nothing to read.
			return nil, nil
		}
		if err != nil {
			return nil, fmt.Errorf("listing the log streams of %s in %s: %w", trainingJobName, c.group(), err)
		}
		for _, s := range out.LogStreams {
			names = append(names, aws.ToString(s.LogStreamName))
		}
		if aws.ToString(out.NextToken) == "" || aws.ToString(out.NextToken) == aws.ToString(in.NextToken) {
			break
		}
		in.NextToken = out.NextToken
	}
	slices.Sort(names)
	return names, nil
}

// event is a log event of one stream.
type event struct {
	stream int // index in the sorted stream names
	seq    int // order within the stream
	ts     int64
	msg    string
}

func byTime(a, b event) int {
	return cmp.Or(cmp.Compare(a.ts, b.ts), cmp.Compare(a.stream, b.stream), cmp.Compare(a.seq, b.seq))
}

// forward reads the next limit lines after cur, merged across streams.
func (c CloudWatch) forward(ctx context.Context, name, prefix string, streams []string, cur cursor, limit int) (Page, error) {
	var all []event
	eof := true
	for i, s := range streams {
		key := strings.TrimPrefix(s, prefix)
		evs, end, err := c.readForward(ctx, s, cur.Pos[key], limit)
		if err != nil {
			return Page{}, err
		}
		for k := range evs {
			evs[k].stream = i
		}
		all = append(all, evs...)
		eof = eof && end
	}
	slices.SortFunc(all, byTime)
	if len(all) > limit {
		all, eof = all[:limit], false
	}
	page := Page{EOF: eof, Lines: make([]Line, 0, len(all))}
	for _, e := range all {
		key := strings.TrimPrefix(streams[e.stream], prefix)
		cur.Pos[key] = cur.Pos[key].after(e.ts)
		page.Lines = append(page.Lines, Line{Timestamp: e.ts, Message: e.msg})
	}
	page.Next = encodeCursor(name, cur)
	return page, nil
}

// readForward reads up to need events of a stream after p; end means the
// stream has no more for now.
func (c CloudWatch) readForward(ctx context.Context, stream string, p position, need int) ([]event, bool, error) {
	in := &cloudwatchlogs.GetLogEventsInput{
		LogGroupName: aws.String(c.group()), LogStreamName: aws.String(stream),
		StartFromHead: aws.Bool(true), Limit: aws.Int32(int32(min(need+p.Skip, maxGetLogEvents))),
	}
	if p.TS > 0 {
		in.StartTime = aws.Int64(p.TS)
	}
	skip := p.Skip
	var out []event
	for range maxCallsPerStream {
		resp, err := c.Client.GetLogEvents(ctx, in)
		if err != nil {
			return nil, false, fmt.Errorf("reading log stream %s: %w", stream, err)
		}
		for _, e := range resp.Events {
			ts := aws.ToInt64(e.Timestamp)
			if skip > 0 && ts == p.TS {
				skip--
				continue
			}
			skip = 0
			out = append(out, event{seq: len(out), ts: ts, msg: message(e.Message)})
		}
		if len(out) >= need {
			return out, false, nil
		}
		// CloudWatch answers with the token it was given at the end of a
		// stream; short pages alone do not mean the end.
		next := aws.ToString(resp.NextForwardToken)
		if next == "" || in.NextToken != nil && next == *in.NextToken {
			return out, true, nil
		}
		in.NextToken = aws.String(next)
	}
	return out, false, nil
}

// tail reads the last limit lines, merged across streams.
func (c CloudWatch) tail(ctx context.Context, name, prefix string, streams []string, limit int) (Page, error) {
	var all []event
	cur := cursor{Pos: map[string]position{}}
	for i, s := range streams {
		evs, err := c.readBackward(ctx, s, limit)
		if err != nil {
			return Page{}, err
		}
		// The next page starts after everything read here, shown or not:
		// lines older than the tail are skipped on purpose.
		key := strings.TrimPrefix(s, prefix)
		for k := range evs {
			evs[k].stream = i
			cur.Pos[key] = cur.Pos[key].after(evs[k].ts)
		}
		all = append(all, evs...)
	}
	slices.SortFunc(all, byTime)
	if len(all) > limit {
		all = all[len(all)-limit:]
	}
	page := Page{EOF: true, Lines: make([]Line, 0, len(all))}
	for _, e := range all {
		page.Lines = append(page.Lines, Line{Timestamp: e.ts, Message: e.msg})
	}
	page.Next = encodeCursor(name, cur)
	return page, nil
}

// readBackward reads the last need events of a stream, oldest first.
func (c CloudWatch) readBackward(ctx context.Context, stream string, need int) ([]event, error) {
	in := &cloudwatchlogs.GetLogEventsInput{
		LogGroupName: aws.String(c.group()), LogStreamName: aws.String(stream),
		StartFromHead: aws.Bool(false), Limit: aws.Int32(int32(need)),
	}
	var pages [][]event
	n := 0
	for range maxCallsPerStream {
		resp, err := c.Client.GetLogEvents(ctx, in)
		if err != nil {
			return nil, fmt.Errorf("reading log stream %s: %w", stream, err)
		}
		var page []event
		for _, e := range resp.Events {
			page = append(page, event{ts: aws.ToInt64(e.Timestamp), msg: message(e.Message)})
		}
		pages = append(pages, page)
		n += len(page)
		prev := aws.ToString(resp.NextBackwardToken)
		if n >= need || prev == "" || in.NextToken != nil && prev == *in.NextToken {
			break
		}
		in.NextToken = aws.String(prev)
	}
	var out []event
	for i := len(pages) - 1; i >= 0; i-- {
		out = append(out, pages[i]...)
	}
	if len(out) > need {
		out = out[len(out)-need:]
	}
	for i := range out {
		out[i].seq = i
	}
	return out, nil
}

func message(m *string) string { return strings.TrimRight(aws.ToString(m), "\r\n") }

// position is how far a stream has been read: every event before TS, and
// Skip events at TS.
type position struct {
	TS   int64 `json:"t"`
	Skip int   `json:"s"`
}

func (p position) after(ts int64) position {
	if ts == p.TS {
		return position{TS: ts, Skip: p.Skip + 1}
	}
	return position{TS: ts, Skip: 1}
}

// cursor is a CloudWatch token: the position of every stream read so far
// (keyed by the part of its name after the training job name), bound to the
// training job.
type cursor struct {
	Job string              `json:"j"`
	Pos map[string]position `json:"p"`
}

func jobKey(name string) string {
	sum := sha256.Sum256([]byte(name))
	return base64.RawURLEncoding.EncodeToString(sum[:6])
}

func encodeCursor(name string, c cursor) string {
	c.Job = jobKey(name)
	b, _ := json.Marshal(c)
	return "c" + base64.RawURLEncoding.EncodeToString(b)
}

func decodeCursor(tok, name string) (cursor, error) {
	rest, ok := strings.CutPrefix(tok, "c")
	if !ok {
		return cursor{}, ErrBadToken
	}
	b, err := base64.RawURLEncoding.DecodeString(rest)
	if err != nil {
		return cursor{}, ErrBadToken
	}
	var c cursor
	if err := json.Unmarshal(b, &c); err != nil || c.Job != jobKey(name) {
		return cursor{}, ErrBadToken
	}
	for _, p := range c.Pos {
		if p.TS < 0 || p.Skip < 0 {
			return cursor{}, ErrBadToken
		}
	}
	return c, nil
}

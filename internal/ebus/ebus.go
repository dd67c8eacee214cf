// Package ebus is the events.Bus of the cloud: it publishes sagequeue's
// events (job state changes, schedule requests) to an Amazon EventBridge bus
// with PutEvents.
//
// PutEvents is not all-or-nothing: a call that succeeds may still have
// refused some entries (FailedEntryCount, and an ErrorCode per entry), and
// the SDK's own retries only cover calls that failed as a whole. So the bus
// retries the refused entries itself, with backoff, a few times, and only
// then reports them. Events are at-least-once either way: a retried entry
// may have been delivered already.
package ebus

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/eventbridge"
	"github.com/aws/aws-sdk-go-v2/service/eventbridge/types"

	"github.com/sagequeue/sagequeue/internal/events"
)

// EventBridge's limits on PutEvents.
const (
	// MaxEntries is the most entries one PutEvents call takes.
	MaxEntries = 10
	// MaxEntryBytes is the largest entry, counted as EventBridge counts it
	// (see entrySize); it is also the largest request.
	MaxEntryBytes = 256 * 1024
)

// PutEventsAPI is the part of the EventBridge API the bus calls;
// *eventbridge.Client has it.
type PutEventsAPI interface {
	PutEvents(ctx context.Context, in *eventbridge.PutEventsInput, opts ...func(*eventbridge.Options)) (*eventbridge.PutEventsOutput, error)
}

// Config configures a Bus.
type Config struct {
	Client PutEventsAPI
	// BusName is the event bus (name or ARN); "default" if empty.
	BusName string
	// Attempts bounds the PutEvents calls made for one entry (4).
	Attempts int
	// Backoff is the wait before the first retry of refused entries; it
	// doubles for each further retry, with jitter (100ms).
	Backoff time.Duration
}

// Bus publishes events to EventBridge. It is safe for concurrent use.
type Bus struct {
	cfg Config
}

// New returns a Bus.
func New(cfg Config) (*Bus, error) {
	if cfg.Client == nil {
		return nil, errors.New("ebus: an EventBridge client is required")
	}
	if cfg.BusName == "" {
		cfg.BusName = "default"
	}
	if cfg.Attempts <= 0 {
		cfg.Attempts = 4
	}
	if cfg.Backoff <= 0 {
		cfg.Backoff = 100 * time.Millisecond
	}
	return &Bus{cfg: cfg}, nil
}

// BusName is the bus the events go to.
func (b *Bus) BusName() string { return b.cfg.BusName }

// entry is one event ready to put.
type entry struct {
	index int // in the Publish call, for error messages
	what  string
	req   types.PutEventsRequestEntry
	size  int
}

// Publish implements events.Bus. It puts every event it can, in calls of at
// most MaxEntries entries and MaxEntryBytes bytes, and returns an error
// naming each event that was refused (too large, or still failing after the
// retries); the others are published all the same.
func (b *Bus) Publish(ctx context.Context, evs ...events.Event) error {
	var errs []error
	entries := make([]entry, 0, len(evs))
	for i, ev := range evs {
		e, err := b.entry(i, ev)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		entries = append(entries, e)
	}
	for len(entries) > 0 {
		n, size := 0, 0
		for n < len(entries) && n < MaxEntries && size+entries[n].size <= MaxEntryBytes {
			size += entries[n].size
			n++
		}
		errs = append(errs, b.put(ctx, entries[:n])...)
		entries = entries[n:]
	}
	return errors.Join(errs...)
}

func (b *Bus) entry(i int, ev events.Event) (entry, error) {
	what := fmt.Sprintf("event %d (%s, %s)", i, ev.Source, ev.DetailType)
	if ev.Source == "" || ev.DetailType == "" {
		return entry{}, fmt.Errorf("ebus: %s: Source and DetailType are required", what)
	}
	detail, err := json.Marshal(ev.Detail)
	if err != nil {
		return entry{}, fmt.Errorf("ebus: %s: marshaling the detail: %w", what, err)
	}
	if ev.Detail == nil {
		detail = []byte("{}") // EventBridge requires a JSON object
	}
	e := entry{index: i, what: what, req: types.PutEventsRequestEntry{
		EventBusName: aws.String(b.cfg.BusName),
		Source:       aws.String(ev.Source),
		DetailType:   aws.String(ev.DetailType),
		Detail:       aws.String(string(detail)),
		Resources:    ev.Resources,
	}}
	if !ev.Time.IsZero() {
		e.req.Time = aws.Time(ev.Time)
	}
	e.size = entrySize(e.req)
	if e.size > MaxEntryBytes {
		return entry{}, fmt.Errorf("ebus: %s is %d bytes, over EventBridge's limit of %d bytes per entry: not published", what, e.size, MaxEntryBytes)
	}
	return e, nil
}

// entrySize is the size of an entry as EventBridge counts it against its
// limits: 14 bytes for Time when set, plus the UTF-8 bytes of Source,
// DetailType, Detail and each resource.
func entrySize(e types.PutEventsRequestEntry) int {
	n := len(aws.ToString(e.Source)) + len(aws.ToString(e.DetailType)) + len(aws.ToString(e.Detail))
	if e.Time != nil {
		n += 14
	}
	for _, r := range e.Resources {
		n += len(r)
	}
	return n
}

// permanent are per-entry error codes that a retry cannot fix.
var permanent = map[string]bool{
	"MalformedDetail":                     true,
	"NotAuthorizedForSourceException":     true,
	"NotAuthorizedForDetailTypeException": true,
	"AccessDeniedException":               true,
	"ValidationException":                 true,
	"InvalidArgument":                     true,
}

// put puts one batch, retrying the entries EventBridge refused.
func (b *Bus) put(ctx context.Context, batch []entry) []error {
	pending := batch
	var errs []error
	for attempt := 1; ; attempt++ {
		reqs := make([]types.PutEventsRequestEntry, len(pending))
		for i, e := range pending {
			reqs[i] = e.req
		}
		out, err := b.cfg.Client.PutEvents(ctx, &eventbridge.PutEventsInput{Entries: reqs})
		if err != nil {
			// The SDK has retried what it could already.
			return append(errs, fmt.Errorf("ebus: PutEvents of %d events to %s: %w", len(pending), b.cfg.BusName, err))
		}
		if out.FailedEntryCount == 0 {
			return errs
		}
		var failed []entry
		for i, e := range pending {
			code, msg := "NoResult", "the response has no result for this entry"
			if i < len(out.Entries) {
				code, msg = aws.ToString(out.Entries[i].ErrorCode), aws.ToString(out.Entries[i].ErrorMessage)
			}
			switch {
			case code == "":
				continue
			case permanent[code]:
				errs = append(errs, fmt.Errorf("ebus: %s refused by %s: %s: %s", e.what, b.cfg.BusName, code, msg))
			case attempt >= b.cfg.Attempts:
				errs = append(errs, fmt.Errorf("ebus: %s not published to %s after %d attempts: %s: %s", e.what, b.cfg.BusName, attempt, code, msg))
			default:
				failed = append(failed, e)
			}
		}
		if len(failed) == 0 {
			return errs
		}
		if err := sleep(ctx, b.backoff(attempt)); err != nil {
			what := make([]string, len(failed))
			for i, e := range failed {
				what[i] = e.what
			}
			return append(errs, fmt.Errorf("ebus: giving up on %s: %w", strings.Join(what, ", "), err))
		}
		pending = failed
	}
}

// backoff is the wait before retry n (1-based): Backoff doubled n-1 times,
// with up to 50% jitter so that concurrent publishers spread out.
func (b *Bus) backoff(n int) time.Duration {
	d := b.cfg.Backoff << (n - 1)
	return d/2 + rand.N(d/2+1)
}

func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

var _ events.Bus = (*Bus)(nil)

// Package lambdatest runs Lambda handlers in tests the way Lambda runs
// them, deadline included: every invocation gets a context with the
// function's timeout as its deadline and a Lambda context, and the Runtime
// records each one, so that a test can check that no handler ran past its
// deadline (Lambda would have killed it there, with its work half done).
//
// A Function is a function as Lambda runs it: each invocation in an
// execution environment of its own, which handles one invocation at a time
// and is kept for the next (a new one is a cold start: the handler is
// built again, as the function's main builds it).
//
// It also plays the two ways the functions are invoked besides API
// Gateway:
//
//   - Async: an asynchronous invocation (EventBridge to Lambda), retried
//     on failure, then handed to a dead-letter callback;
//   - Queue: an SQS standard queue with an event source mapping, as Lambda
//     polls it: batches of up to BatchSize messages gathered for up to a
//     batching window, at most MaxConcurrency invocations at a time, a
//     failed batch visible again after the visibility timeout and sent to
//     the dead letters after MaxReceives receives.
package lambdatest

import (
	"context"
	"crypto/md5"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"slices"
	"strconv"
	"sync"
	"time"

	lambdaevents "github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-lambda-go/lambda"
	"github.com/aws/aws-lambda-go/lambdacontext"
	"github.com/google/uuid"
)

// Invocation is one recorded invocation.
type Invocation struct {
	Function        string
	Start, Returned time.Time
	Deadline        time.Time
	Err             error
}

// Overran reports whether the handler returned after its deadline.
func (i Invocation) Overran() bool { return i.Returned.After(i.Deadline) }

// Runtime invokes handlers and records the invocations.
type Runtime struct {
	// Account and Region make the invoked functions' ARNs.
	Account, Region string

	mu          sync.Mutex
	invocations []Invocation
}

// Invoke calls h with payload as Lambda does: with a deadline timeout from
// now and a Lambda context naming the function.
func (r *Runtime) Invoke(ctx context.Context, fn string, h lambda.Handler, timeout time.Duration, payload []byte) ([]byte, error) {
	start := time.Now()
	deadline := start.Add(timeout)
	ctx, cancel := context.WithDeadline(ctx, deadline)
	defer cancel()
	ctx = lambdacontext.NewContext(ctx, &lambdacontext.LambdaContext{
		AwsRequestID:       uuid.NewString(),
		InvokedFunctionArn: fmt.Sprintf("arn:aws:lambda:%s:%s:function:%s", r.Region, r.Account, fn),
	})
	out, err := h.Invoke(ctx, payload)
	r.mu.Lock()
	r.invocations = append(r.invocations, Invocation{Function: fn, Start: start, Returned: time.Now(), Deadline: deadline, Err: err})
	r.mu.Unlock()
	return out, err
}

// Invocations returns what was invoked so far.
func (r *Runtime) Invocations() []Invocation {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.invocations)
}

// Overruns returns the invocations that returned after their deadline.
func (r *Runtime) Overruns() []Invocation {
	var out []Invocation
	for _, i := range r.Invocations() {
		if i.Overran() {
			out = append(out, i)
		}
	}
	return out
}

// Count returns how many times fn was invoked, and how many of those
// failed.
func (r *Runtime) Count(fn string) (invoked, failed int) {
	for _, i := range r.Invocations() {
		if i.Function == fn {
			invoked++
			if i.Err != nil {
				failed++
			}
		}
	}
	return invoked, failed
}

// Function is a Lambda function: its name, timeout and handler, built by
// New for each execution environment (a cold start).
type Function struct {
	Runtime *Runtime
	Name    string
	Timeout time.Duration
	New     func() lambda.Handler

	mu   sync.Mutex
	idle []lambda.Handler
	envs int
}

// Invoke runs one invocation in an idle execution environment, or a new
// one.
func (f *Function) Invoke(ctx context.Context, payload []byte) ([]byte, error) {
	f.mu.Lock()
	var h lambda.Handler
	if n := len(f.idle); n > 0 {
		h, f.idle = f.idle[n-1], f.idle[:n-1]
	} else {
		f.envs++
	}
	f.mu.Unlock()
	if h == nil {
		h = f.New()
	}
	defer func() {
		f.mu.Lock()
		f.idle = append(f.idle, h)
		f.mu.Unlock()
	}()
	return f.Runtime.Invoke(ctx, f.Name, h, f.Timeout, payload)
}

// Environments returns how many execution environments the function has
// had: its highest concurrency.
func (f *Function) Environments() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.envs
}

// Async is how Lambda invokes a function asynchronously: up to Retries
// retries of a failed invocation, Backoff apart (Lambda waits a minute,
// then two; tests wait less), then Dead gets the event.
type Async struct {
	Function *Function
	Retries  int
	Backoff  time.Duration
	Dead     func(payload []byte, err error)
}

// Invoke runs the invocation and its retries, and returns when they are
// done.
func (a *Async) Invoke(ctx context.Context, payload []byte) {
	for attempt := 0; ; attempt++ {
		_, err := a.Function.Invoke(ctx, payload)
		if err == nil || ctx.Err() != nil {
			return
		}
		if attempt == a.Retries {
			if a.Dead != nil {
				a.Dead(payload, err)
			}
			return
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(a.Backoff * time.Duration(attempt+1)):
		}
	}
}

// Queue is an SQS standard queue with an event source mapping that invokes
// a function with its messages.
type Queue struct {
	Function *Function
	// ARN names the queue in the records.
	ARN string
	// BatchSize, Window, MaxConcurrency: the mapping's batch size, batching
	// window and maximum concurrency.
	BatchSize      int
	Window         time.Duration
	MaxConcurrency int
	// VisibilityTimeout hides a batch's messages while it is processed and
	// after it failed; MaxReceives sends a message received that many times
	// to the dead letters.
	VisibilityTimeout time.Duration
	MaxReceives       int

	mu       sync.Mutex
	msgs     []*message
	dead     [][]byte
	inFlight int
	wake     chan struct{}
	cancel   context.CancelFunc
	wg       sync.WaitGroup
	sent     int
}

type message struct {
	id        string
	body      []byte
	sent      time.Time
	visibleAt time.Time
	receives  int
}

// Send puts a message on the queue.
func (q *Queue) Send(body []byte) {
	q.mu.Lock()
	now := time.Now()
	q.msgs = append(q.msgs, &message{id: uuid.NewString(), body: body, sent: now, visibleAt: now})
	q.sent++
	q.mu.Unlock()
	q.poke()
}

func (q *Queue) poke() {
	select {
	case q.wake <- struct{}{}:
	default:
	}
}

// Start polls the queue until Stop.
func (q *Queue) Start(ctx context.Context) {
	q.wake = make(chan struct{}, 1)
	ctx, q.cancel = context.WithCancel(ctx)
	q.wg.Add(1)
	go func() {
		defer q.wg.Done()
		q.poll(ctx)
	}()
}

// Stop stops polling and waits for the invocations in flight.
func (q *Queue) Stop() {
	q.cancel()
	q.wg.Wait()
}

// Depth returns the messages on the queue (visible or not), and how many
// were sent in all.
func (q *Queue) Depth() (depth, sent int) {
	q.mu.Lock()
	defer q.mu.Unlock()
	return len(q.msgs), q.sent
}

// DeadLetters returns the messages sent to the dead letters.
func (q *Queue) DeadLetters() [][]byte {
	q.mu.Lock()
	defer q.mu.Unlock()
	return slices.Clone(q.dead)
}

// poll gathers batches and invokes the function with them, at most
// MaxConcurrency at a time.
func (q *Queue) poll(ctx context.Context) {
	for {
		q.mu.Lock()
		now := time.Now()
		var first time.Time // when the oldest visible message became visible
		visible := 0
		next := time.Time{} // when the next hidden message becomes visible
		for _, m := range q.msgs {
			if !m.visibleAt.After(now) {
				visible++
				if first.IsZero() || m.visibleAt.Before(first) {
					first = m.visibleAt
				}
			} else if next.IsZero() || m.visibleAt.Before(next) {
				next = m.visibleAt
			}
		}
		ready := visible > 0 && q.inFlight < q.MaxConcurrency && (visible >= q.BatchSize || !now.Before(first.Add(q.Window)))
		var batch []*message
		if ready {
			for _, m := range q.msgs {
				if len(batch) == q.BatchSize {
					break
				}
				if !m.visibleAt.After(now) {
					m.receives++
					m.visibleAt = now.Add(q.VisibilityTimeout)
					batch = append(batch, m)
				}
			}
			q.inFlight++
		}
		wait := time.Hour
		switch {
		case ready:
			wait = 0
		case visible > 0 && q.inFlight < q.MaxConcurrency:
			wait = time.Until(first.Add(q.Window))
		case !next.IsZero():
			wait = time.Until(next)
		}
		q.mu.Unlock()
		if ready {
			q.wg.Add(1)
			go func() {
				defer q.wg.Done()
				q.deliver(ctx, batch)
			}()
			continue
		}
		select {
		case <-ctx.Done():
			return
		case <-q.wake:
		case <-time.After(max(wait, time.Millisecond)):
		}
	}
}

// deliver invokes the function with a batch, then deletes it or leaves it
// to come back.
func (q *Queue) deliver(ctx context.Context, batch []*message) {
	ev := lambdaevents.SQSEvent{}
	for _, m := range batch {
		sum := md5.Sum(m.body)
		ev.Records = append(ev.Records, lambdaevents.SQSMessage{
			MessageId: m.id, ReceiptHandle: m.id + "-" + strconv.Itoa(m.receives), Body: string(m.body),
			Md5OfBody: hex.EncodeToString(sum[:]), EventSource: "aws:sqs", EventSourceARN: q.ARN, AWSRegion: q.Function.Runtime.Region,
			Attributes: map[string]string{
				"ApproximateReceiveCount": strconv.Itoa(m.receives), "SentTimestamp": strconv.FormatInt(m.sent.UnixMilli(), 10),
			},
		})
	}
	payload, _ := json.Marshal(ev)
	_, err := q.Function.Invoke(ctx, payload)
	q.mu.Lock()
	defer func() {
		q.inFlight--
		q.mu.Unlock()
		q.poke()
	}()
	gone := map[*message]bool{}
	for _, m := range batch {
		switch {
		case err == nil:
			gone[m] = true
		case m.receives >= q.MaxReceives:
			gone[m] = true
			q.dead = append(q.dead, m.body)
		}
	}
	if len(gone) > 0 {
		q.msgs = slices.DeleteFunc(q.msgs, func(m *message) bool { return gone[m] })
	}
}

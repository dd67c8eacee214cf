package lambdatest_test

import (
	"context"
	"encoding/json"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	lambdaevents "github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-lambda-go/lambda"
	"github.com/aws/aws-lambda-go/lambdacontext"

	"github.com/sagequeue/sagequeue/internal/lambdatest"
)

func TestInvokeHasADeadline(t *testing.T) {
	r := &lambdatest.Runtime{Account: "123456789012", Region: "eu-west-1"}
	var arn string
	h := lambda.NewHandler(func(ctx context.Context, _ json.RawMessage) error {
		lc, _ := lambdacontext.FromContext(ctx)
		arn = lc.InvokedFunctionArn
		if _, ok := ctx.Deadline(); !ok {
			t.Error("no deadline")
		}
		time.Sleep(150 * time.Millisecond) // past it, as a handler that ignores it would
		return nil
	})
	if _, err := r.Invoke(context.Background(), "fn", h, 50*time.Millisecond, []byte(`{}`)); err != nil {
		t.Fatal(err)
	}
	if arn != "arn:aws:lambda:eu-west-1:123456789012:function:fn" {
		t.Fatalf("function ARN %q", arn)
	}
	if o := r.Overruns(); len(o) != 1 || o[0].Function != "fn" {
		t.Fatalf("overruns %+v", o)
	}
}

// TestQueueCoalesces sends bursts to a queue whose function is slow: the
// batching window gathers them, at most two invocations run at once, and
// a batch that fails comes back until it goes to the dead letters.
func TestQueueCoalesces(t *testing.T) {
	r := &lambdatest.Runtime{Account: "123456789012", Region: "eu-west-1"}
	var mu sync.Mutex
	var batches []int
	var running, most atomic.Int32
	fail := atomic.Bool{}
	h := lambda.NewHandler(func(ctx context.Context, ev lambdaevents.SQSEvent) error {
		n := running.Add(1)
		defer running.Add(-1)
		for m := most.Load(); n > m && !most.CompareAndSwap(m, n); m = most.Load() {
		}
		mu.Lock()
		batches = append(batches, len(ev.Records))
		mu.Unlock()
		time.Sleep(100 * time.Millisecond)
		if fail.Load() {
			return errors.New("failed")
		}
		return nil
	})
	fn := &lambdatest.Function{Runtime: r, Name: "fn", Timeout: time.Second, New: func() lambda.Handler { return h }}
	q := &lambdatest.Queue{Function: fn, BatchSize: 100, Window: 50 * time.Millisecond,
		MaxConcurrency: 2, VisibilityTimeout: 200 * time.Millisecond, MaxReceives: 3}
	q.Start(context.Background())
	defer q.Stop()
	for range 3 {
		for range 20 {
			q.Send([]byte(`{}`))
		}
		time.Sleep(60 * time.Millisecond)
	}
	waitFor(t, func() bool { d, _ := q.Depth(); return d == 0 && running.Load() == 0 })
	mu.Lock()
	total := 0
	for _, n := range batches {
		total += n
	}
	mu.Unlock()
	if total != 60 || len(batches) > 6 || most.Load() > 2 || fn.Environments() > 2 {
		t.Fatalf("batches %v (%d messages), %d at once at most in %d environments", batches, total, most.Load(), fn.Environments())
	}
	fail.Store(true)
	q.Send([]byte(`{"x":1}`))
	waitFor(t, func() bool { return len(q.DeadLetters()) == 1 })
	if n, failed := r.Count("fn"); failed != 3 {
		t.Fatalf("%d invocations, %d failed: want the failed message received 3 times", n, failed)
	}
}

func waitFor(t *testing.T, ok func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !ok() {
		if time.Now().After(deadline) {
			t.Fatal("timed out")
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestAsyncRetriesThenDeadLetters(t *testing.T) {
	r := &lambdatest.Runtime{Account: "123456789012", Region: "eu-west-1"}
	calls := 0
	var dead []byte
	h := lambda.NewHandler(func(context.Context, json.RawMessage) error { calls++; return errors.New("no") })
	a := &lambdatest.Async{Function: &lambdatest.Function{Runtime: r, Name: "sc", Timeout: time.Second, New: func() lambda.Handler { return h }},
		Retries: 2, Backoff: time.Millisecond, Dead: func(p []byte, _ error) { dead = p }}
	a.Invoke(context.Background(), []byte(`{"e":1}`))
	if calls != 3 || string(dead) != `{"e":1}` {
		t.Fatalf("%d calls, dead %s", calls, dead)
	}
}

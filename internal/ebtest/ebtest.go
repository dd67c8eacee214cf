// Package ebtest is a test double of Amazon EventBridge: an HTTP endpoint of
// PutEvents (the SDK's client and internal/ebus talk to it as to AWS),
// rules that match events by source and detail type and deliver them to
// targets, and delivery the way AWS documents it: at least once (an event
// may arrive twice), in no particular order, and late.
//
//	bus := ebtest.New(t, ebtest.Config{Account: "123456789012", Region: "eu-west-1",
//		Delivery: ebtest.Delivery{Duplicates: 0.2, MaxDelay: 300 * time.Millisecond}})
//	bus.Rule("sagequeue", "Schedule Requested", queue.Send)
//	eb := eventbridge.New(eventbridge.Options{BaseEndpoint: aws.String(bus.URL()), ...})
//
// Events from AWS services (SageMaker's state changes on the default bus)
// enter with Put and go through the same rules and delivery.
package ebtest

import (
	"context"
	"encoding/json"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"
)

// Delivery is how events reach their targets.
type Delivery struct {
	// Duplicates is the fraction of deliveries made twice.
	Duplicates float64
	// MaxDelay delays each delivery by a random time up to it, so that
	// events overtake each other.
	MaxDelay time.Duration
	// Refuse fails every Refuse-th entry of PutEvents once (InternalFailure),
	// as EventBridge fails entries of a call that succeeds; 0 never.
	Refuse int64
}

// Config configures a Bus.
type Config struct {
	// Account and Region go into the envelopes.
	Account, Region string
	// BusName, when set, is the only bus PutEvents accepts entries for.
	BusName  string
	Delivery Delivery
	// Seed makes the delivery's randomness repeatable (0: from the clock).
	Seed uint64
}

// Bus is a running EventBridge double.
type Bus struct {
	cfg Config
	tb  testing.TB
	srv *httptest.Server

	mu    sync.Mutex
	rnd   *rand.Rand
	rules []rule

	ctx     context.Context
	cancel  context.CancelFunc
	wg      sync.WaitGroup
	entries atomic.Int64
	stats   struct{ put, delivered, duplicated, refused, unmatched atomic.Int64 }
}

type rule struct {
	source, detailType string
	target             func(raw []byte)
}

// New starts a bus, stopped when the test ends.
func New(tb testing.TB, cfg Config) *Bus {
	if cfg.Seed == 0 {
		cfg.Seed = uint64(time.Now().UnixNano())
	}
	b := &Bus{cfg: cfg, tb: tb, rnd: rand.New(rand.NewPCG(cfg.Seed, cfg.Seed>>1))}
	b.ctx, b.cancel = context.WithCancel(context.Background())
	b.srv = httptest.NewServer(http.HandlerFunc(b.putEvents))
	tb.Cleanup(b.Close)
	return b
}

// URL is the endpoint of PutEvents.
func (b *Bus) URL() string { return b.srv.URL }

// Rule delivers events of source and detail type ("" matches any) to
// target. A target runs in a goroutine of its own for each delivery.
func (b *Bus) Rule(source, detailType string, target func(raw []byte)) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.rules = append(b.rules, rule{source, detailType, target})
}

// SetDelivery changes how events are delivered from now on.
func (b *Bus) SetDelivery(d Delivery) {
	b.mu.Lock()
	b.cfg.Delivery = d
	b.mu.Unlock()
}

// Close stops delivering: deliveries not yet made are dropped.
func (b *Bus) Close() {
	b.cancel()
	b.srv.Close()
	b.wg.Wait()
}

// Stats counts what the bus did.
type Stats struct{ Put, Delivered, Duplicated, Refused, Unmatched int64 }

// Stats returns what the bus has done so far.
func (b *Bus) Stats() Stats {
	return Stats{b.stats.put.Load(), b.stats.delivered.Load(), b.stats.duplicated.Load(), b.stats.refused.Load(), b.stats.unmatched.Load()}
}

// Put sends an event (its envelope, as JSON) through the rules, as an AWS
// service's event arrives on the default bus.
func (b *Bus) Put(raw []byte) {
	var env struct {
		Source     string `json:"source"`
		DetailType string `json:"detail-type"`
	}
	if err := json.Unmarshal(raw, &env); err != nil {
		b.tb.Errorf("ebtest: an event that is not JSON: %v: %s", err, raw)
		return
	}
	b.stats.put.Add(1)
	b.mu.Lock()
	d := b.cfg.Delivery
	var targets []func([]byte)
	for _, r := range b.rules {
		if (r.source == "" || r.source == env.Source) && (r.detailType == "" || r.detailType == env.DetailType) {
			targets = append(targets, r.target)
		}
	}
	b.mu.Unlock()
	if len(targets) == 0 {
		b.stats.unmatched.Add(1)
	}
	for _, target := range targets {
		copies := 1
		if b.chance(d.Duplicates) {
			copies = 2
			b.stats.duplicated.Add(1)
		}
		for range copies {
			b.deliver(target, raw, b.delay(d.MaxDelay))
		}
	}
}

func (b *Bus) deliver(target func([]byte), raw []byte, delay time.Duration) {
	if b.ctx.Err() != nil {
		return
	}
	b.wg.Add(1)
	go func() {
		defer b.wg.Done()
		if delay > 0 {
			select {
			case <-b.ctx.Done():
				return
			case <-time.After(delay):
			}
		}
		if b.ctx.Err() == nil {
			b.stats.delivered.Add(1)
			target(raw)
		}
	}()
}

func (b *Bus) chance(p float64) bool {
	if p <= 0 {
		return false
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.rnd.Float64() < p
}

func (b *Bus) delay(most time.Duration) time.Duration {
	if most <= 0 {
		return 0
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	return time.Duration(b.rnd.Int64N(int64(most)))
}

// putEvents serves PutEvents (JSON 1.1, X-Amz-Target AWSEvents.PutEvents).
func (b *Bus) putEvents(w http.ResponseWriter, req *http.Request) {
	if req.Header.Get("X-Amz-Target") != "AWSEvents.PutEvents" {
		http.Error(w, "unexpected operation", http.StatusBadRequest)
		return
	}
	var in struct {
		Entries []struct {
			Source, DetailType, Detail, EventBusName string
			Resources                                []string
			Time                                     *float64
		}
	}
	if err := json.NewDecoder(req.Body).Decode(&in); err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	if len(in.Entries) == 0 || len(in.Entries) > 10 {
		w.Header().Set("Content-Type", "application/x-amz-json-1.1")
		w.WriteHeader(http.StatusBadRequest)
		json.NewEncoder(w).Encode(map[string]string{"__type": "ValidationException", "message": "1 to 10 entries"})
		return
	}
	type result struct {
		EventId, ErrorCode, ErrorMessage string `json:",omitempty"`
	}
	out := struct {
		Entries          []result
		FailedEntryCount int
	}{}
	b.mu.Lock()
	refuse := b.cfg.Delivery.Refuse
	b.mu.Unlock()
	for _, e := range in.Entries {
		n := b.entries.Add(1)
		if refuse > 0 && n%refuse == 0 {
			b.stats.refused.Add(1)
			out.Entries = append(out.Entries, result{ErrorCode: "InternalFailure", ErrorMessage: "try again"})
			out.FailedEntryCount++
			continue
		}
		if b.cfg.BusName != "" && e.EventBusName != b.cfg.BusName {
			b.tb.Errorf("ebtest: an event put on bus %q, want %q", e.EventBusName, b.cfg.BusName)
		}
		id := uuid.NewString()
		at := time.Now()
		if e.Time != nil {
			at = time.UnixMilli(int64(*e.Time*1000 + 0.5))
		}
		resources := e.Resources
		if resources == nil {
			resources = []string{}
		}
		// The envelope's time keeps the entry's milliseconds (EventBridge's
		// has seconds), so that tests can order events by it.
		env, _ := json.Marshal(map[string]any{
			"version": "0", "id": id, "detail-type": e.DetailType, "source": e.Source, "account": b.cfg.Account,
			"time": at.UTC().Format(time.RFC3339Nano), "region": b.cfg.Region, "resources": resources,
			"detail": json.RawMessage(e.Detail),
		})
		b.Put(env)
		out.Entries = append(out.Entries, result{EventId: id})
	}
	w.Header().Set("Content-Type", "application/x-amz-json-1.1")
	json.NewEncoder(w).Encode(out)
}

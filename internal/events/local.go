package events

import (
	"context"
	"sync"
)

// LocalBus is the in-process Bus of `sagequeue serve`: Publish hands each
// event to every subscriber, synchronously and in order.
type LocalBus struct {
	mu   sync.RWMutex
	next int
	subs map[int]func(Event)
}

// Publish implements Bus.
func (b *LocalBus) Publish(_ context.Context, evs ...Event) error {
	b.mu.RLock()
	defer b.mu.RUnlock()
	for _, ev := range evs {
		for _, fn := range b.subs {
			fn(ev)
		}
	}
	return nil
}

// Subscribe calls fn for every event published from now on, until cancel.
// fn must not block.
func (b *LocalBus) Subscribe(fn func(Event)) (cancel func()) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.subs == nil {
		b.subs = map[int]func(Event){}
	}
	id := b.next
	b.next++
	b.subs[id] = fn
	return func() {
		b.mu.Lock()
		delete(b.subs, id)
		b.mu.Unlock()
	}
}

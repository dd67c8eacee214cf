package sched

// minHeap is a binary heap ordered by less. It is written out rather than
// using container/heap because the pass does hundreds of thousands of
// comparisons at large backlogs and the interface calls show up in profiles.
type minHeap[T any] struct {
	items []T
	less  func(a, b T) bool
	// moved is told an item's new position, for heaps whose items must be
	// found again (the share heap); nil when nobody needs to know.
	moved func(item T, i int)
}

func (h *minHeap[T]) init() {
	for i := len(h.items)/2 - 1; i >= 0; i-- {
		h.down(i)
	}
	if h.moved != nil {
		for i, it := range h.items {
			h.moved(it, i)
		}
	}
}

func (h *minHeap[T]) len() int { return len(h.items) }

func (h *minHeap[T]) peek() T { return h.items[0] }

func (h *minHeap[T]) push(x T) {
	h.items = append(h.items, x)
	h.set(len(h.items)-1, x)
	h.up(len(h.items) - 1)
}

func (h *minHeap[T]) pop() T {
	top := h.items[0]
	h.remove(0)
	return top
}

// remove takes out the item at position i.
func (h *minHeap[T]) remove(i int) {
	last := len(h.items) - 1
	if i != last {
		h.swap(i, last)
	}
	var zero T
	h.items[last] = zero
	h.items = h.items[:last]
	if i < last {
		h.fix(i)
	}
}

// fix restores the order after the item at i changed.
func (h *minHeap[T]) fix(i int) {
	if !h.down(i) {
		h.up(i)
	}
}

func (h *minHeap[T]) set(i int, x T) {
	h.items[i] = x
	if h.moved != nil {
		h.moved(x, i)
	}
}

func (h *minHeap[T]) swap(i, j int) {
	a, b := h.items[i], h.items[j]
	h.set(i, b)
	h.set(j, a)
}

func (h *minHeap[T]) up(i int) {
	for i > 0 {
		p := (i - 1) / 2
		if !h.less(h.items[i], h.items[p]) {
			return
		}
		h.swap(i, p)
		i = p
	}
}

func (h *minHeap[T]) down(i0 int) bool {
	i, n := i0, len(h.items)
	for {
		l := 2*i + 1
		if l >= n {
			break
		}
		c := l
		if r := l + 1; r < n && h.less(h.items[r], h.items[l]) {
			c = r
		}
		if !h.less(h.items[c], h.items[i]) {
			break
		}
		h.swap(i, c)
		i = c
	}
	return i > i0
}

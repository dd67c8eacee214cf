package sched

import (
	"math/rand/v2"
	"testing"
)

func TestProfileEarliest(t *testing.T) {
	// Capacity 4 from 0; jobs hold 2 until 100, 1 until 300, 1 until 50.
	build := func() *profile {
		return newProfile(0, []step{{0, 4}}, []hold{{100, 2}, {300, 1}, {50, 1}})
	}
	tests := map[string]struct {
		from, d, n int64
		want       int64
	}{
		"fits now":                  {0, 1000, 0, 0},
		"nothing free now":          {0, 10, 1, 50},
		"two free after 100":        {0, 10, 2, 100},
		"three free after 100":      {0, 1000, 3, 100},
		"four free after 300":       {0, 10, 4, 300},
		"more than capacity: never": {0, 10, 5, -1},
		"from later":                {120, 10, 3, 120},
		"from inside a short step":  {60, 10, 2, 100},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			if got := build().earliest(tc.from, tc.d, tc.n); got != tc.want {
				t.Errorf("earliest(%d, %d, %d) = %d, want %d", tc.from, tc.d, tc.n, got, tc.want)
			}
		})
	}

	p := build()
	p.take(100, 200, 3) // a reservation of 3 over [100, 200)
	if got := p.earliest(0, 10, 3); got != 200 {
		t.Errorf("after reserving [100,200): 3 instances from %d, want 200", got)
	}
	if got := p.earliest(50, 50, 1); got != 50 {
		t.Errorf("a job of 50 ms ending when the reservation starts: %d, want 50", got)
	}
	if got := p.earliest(50, 51, 1); got != 200 {
		t.Errorf("a job of 51 ms overlapping the reservation: %d, want 200", got)
	}
	if got := p.short(50, 51, 1); got != 100 {
		t.Errorf("short(50, 51, 1) = %d, want 100", got)
	}
	if got := p.short(50, 50, 1); got != -1 {
		t.Errorf("short(50, 50, 1) = %d, want -1", got)
	}
}

func TestProfileCapacitySteps(t *testing.T) {
	// A window: 4 instances until 1000, then none.
	p := newProfile(0, []step{{0, 4}, {1000, 0}}, []hold{{500, 4}})
	if got := p.earliest(0, 400, 1); got != 500 {
		t.Errorf("a 400 ms job in the window: %d, want 500", got)
	}
	if got := p.earliest(0, 600, 1); got != -1 {
		t.Errorf("a 600 ms job cannot fit before the window closes: %d, want -1", got)
	}
}

// TestProfileAgainstBruteForce checks earliest and take against a per-ms
// array over random holds and takes.
func TestProfileAgainstBruteForce(t *testing.T) {
	const horizon = 200
	for seed := range uint64(2000) {
		rng := rand.New(rand.NewPCG(seed, 3))
		capacity := int64(1 + rng.IntN(6))
		var holds []hold
		free := make([]int64, horizon+1) // free[t] for t < horizon; the last entry stands for t >= horizon
		for i := range free {
			free[i] = capacity
		}
		for range rng.IntN(6) {
			h := hold{Until: int64(1 + rng.IntN(horizon-1)), Instances: int64(1 + rng.IntN(3))}
			holds = append(holds, h)
			for t := int64(0); t < h.Until; t++ {
				free[t] -= h.Instances
			}
		}
		p := newProfile(0, []step{{0, capacity}}, holds)
		for range rng.IntN(4) {
			from := int64(rng.IntN(horizon - 50))
			to := from + int64(1+rng.IntN(49))
			n := int64(1 + rng.IntN(2))
			p.take(from, to, n)
			for t := from; t < to; t++ {
				free[t] -= n
			}
		}
		for range 20 {
			from, d, n := int64(rng.IntN(horizon)), int64(1+rng.IntN(60)), int64(rng.IntN(int(capacity)+2))
			want := int64(-1)
			for s := from; s <= horizon && want < 0; s++ {
				ok := true
				for t := s; t < s+d; t++ {
					if free[min(t, horizon)] < n {
						ok = false
						break
					}
				}
				if ok {
					want = s
				}
			}
			if got := p.earliest(from, d, n); got != want {
				t.Fatalf("seed %d: earliest(%d, %d, %d) = %d, want %d (profile %v %v)", seed, from, d, n, got, want, p.at, p.free)
			}
		}
	}
}

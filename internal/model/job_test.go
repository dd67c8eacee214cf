package model_test

import (
	"errors"
	"math"
	"math/rand/v2"
	"testing"

	"github.com/sagequeue/sagequeue/internal/model"
)

// TestTransitionTable pins the whole state machine: every pair of states is
// either an edge listed here or an error.
func TestTransitionTable(t *testing.T) {
	S, P, R, Sc, St, Ru, Su, F := model.StatusSubmitted, model.StatusPending, model.StatusRunnable, model.StatusScheduled,
		model.StatusStarting, model.StatusRunning, model.StatusSucceeded, model.StatusFailed
	legal := map[model.JobStatus][]model.JobStatus{
		S:  {R, F},
		P:  {R, F},
		R:  {Sc, F},
		Sc: {St, Ru, Su, F, R},
		St: {Ru, Su, F, R},
		Ru: {Su, F, R},
	}
	for _, from := range model.AllStatuses {
		for _, to := range model.AllStatuses {
			want := false
			for _, x := range legal[from] {
				want = want || x == to
			}
			if got := model.CanTransition(from, to); got != want {
				t.Errorf("CanTransition(%s, %s) = %v, want %v", from, to, got, want)
			}
			j := model.ServiceJob{JobID: "j", Status: from}
			err := j.Transition(to, 1000, "")
			if want && err != nil {
				t.Errorf("%s -> %s: %v", from, to, err)
			}
			if !want {
				if !errors.Is(err, model.ErrIllegalTransition) {
					t.Errorf("%s -> %s: got %v, want ErrIllegalTransition", from, to, err)
				}
				if j.Status != from || j.UpdatedAt != 0 {
					t.Errorf("%s -> %s: a refused transition changed the job: %+v", from, to, j)
				}
			}
		}
	}
}

func TestTransitionBookkeeping(t *testing.T) {
	j := model.ServiceJob{JobID: "j", Status: model.StatusSubmitted}
	step := func(to model.JobStatus, at int64, reason string) {
		t.Helper()
		if err := j.Transition(to, at, reason); err != nil {
			t.Fatal(err)
		}
	}
	step(model.StatusRunnable, 10, "")
	if j.RunnableAt != 10 {
		t.Fatalf("RunnableAt %d", j.RunnableAt)
	}
	step(model.StatusScheduled, 20, "")
	j.ServiceEnvironment = "env"
	step(model.StatusStarting, 25, "")
	step(model.StatusRunning, 30, "")
	if j.ScheduledAt != 20 || j.StartedAt != 30 {
		t.Fatalf("scheduledAt %d startedAt %d", j.ScheduledAt, j.StartedAt)
	}
	step(model.StatusRunnable, 40, model.ReasonCapacity+" - Unable to provision requested compute resources")
	if j.ServiceEnvironment != "" || j.BlockedCode != model.ReasonCapacity || j.BlockedSince != 40 {
		t.Fatalf("after a capacity failure: env %q code %q since %d", j.ServiceEnvironment, j.BlockedCode, j.BlockedSince)
	}
	// A second capacity failure keeps the clock running from the first.
	step(model.StatusScheduled, 50, "")
	if j.StartedAt != 0 || j.BlockedSince != 40 {
		t.Fatalf("a new attempt must reset startedAt and keep the blocked clock: %+v", j)
	}
	step(model.StatusRunnable, 60, model.ReasonCapacity+" - again")
	if j.BlockedSince != 40 {
		t.Fatalf("BlockedSince %d, want 40", j.BlockedSince)
	}
	// The count of failures in a row that set the backoff survives a
	// start that does not reach training; training ends it.
	j.CapacityFailures, j.NotBefore = 2, 65
	step(model.StatusScheduled, 70, "")
	step(model.StatusStarting, 75, "")
	if j.CapacityFailures != 2 || j.NotBefore != 0 {
		t.Fatalf("starting: failures %d notBefore %d, want 2 and 0", j.CapacityFailures, j.NotBefore)
	}
	step(model.StatusRunning, 80, "")
	if j.BlockedCode != "" || j.BlockedSince != 0 || j.CapacityFailures != 0 {
		t.Fatalf("running clears the blocked clock and the failures: %+v", j)
	}
	step(model.StatusSucceeded, 90, "Received status from SageMaker: done")
	if j.StoppedAt != 90 || !j.Status.Terminal() {
		t.Fatalf("stoppedAt %d status %s", j.StoppedAt, j.Status)
	}
}

func TestStatusPredicates(t *testing.T) {
	for _, s := range model.AllStatuses {
		if !s.Valid() {
			t.Errorf("%s not valid", s)
		}
		if s.HoldsCapacity() != (s.AttemptRank() >= 1 && s.AttemptRank() <= 3) {
			t.Errorf("%s: HoldsCapacity and AttemptRank disagree", s)
		}
		if s.Terminal() == s.Waiting() && s.Terminal() {
			t.Errorf("%s is both terminal and waiting", s)
		}
	}
	if model.JobStatus("DONE").Valid() {
		t.Error("DONE is not a state")
	}
}

func TestShouldRetry(t *testing.T) {
	tests := map[string]struct {
		strategy   *model.RetryStrategy
		placements int32
		terminated bool
		reason     string
		want       bool
	}{
		"no strategy: one attempt":       {placements: 1, reason: "x", want: false},
		"attempts left, no rules":        {strategy: &model.RetryStrategy{Attempts: 3}, placements: 1, reason: "x", want: true},
		"attempts used up":               {strategy: &model.RetryStrategy{Attempts: 3}, placements: 3, reason: "x", want: false},
		"terminated jobs never retry":    {strategy: &model.RetryStrategy{Attempts: 3}, placements: 1, terminated: true, want: false},
		"EXIT rule matches prefix":       {strategy: rs(3, "EXIT", "Received status from SageMaker: AlgorithmError*"), placements: 1, reason: "Received status from SageMaker: AlgorithmError: exit code 2", want: false},
		"EXIT rule does not match":       {strategy: rs(3, "EXIT", "Received status from SageMaker: ClientError*"), placements: 1, reason: "Received status from SageMaker: AlgorithmError: x", want: true},
		"exact rule needs exact text":    {strategy: rs(3, "EXIT", "boom"), placements: 1, reason: "boom!", want: true},
		"first matching rule wins":       {strategy: &model.RetryStrategy{Attempts: 3, EvaluateOnExit: []model.EvaluateOnExit{{Action: "RETRY", OnStatusReason: "a*"}, {Action: "EXIT", OnStatusReason: "*"}}}, placements: 1, reason: "abc", want: true},
		"catch-all EXIT after RETRY":     {strategy: &model.RetryStrategy{Attempts: 3, EvaluateOnExit: []model.EvaluateOnExit{{Action: "RETRY", OnStatusReason: "a*"}, {Action: "EXIT", OnStatusReason: "*"}}}, placements: 1, reason: "xyz", want: false},
		"case-insensitive action":        {strategy: rs(3, "exit", "*"), placements: 1, reason: "x", want: false},
		"RETRY rule cannot exceed limit": {strategy: rs(2, "RETRY", "*"), placements: 2, reason: "x", want: false},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			j := model.ServiceJob{RetryStrategy: tc.strategy, Placements: tc.placements, IsTerminated: tc.terminated}
			if got := j.ShouldRetry(tc.reason); got != tc.want {
				t.Fatalf("ShouldRetry = %v, want %v", got, tc.want)
			}
		})
	}
}

func rs(attempts int32, action, pattern string) *model.RetryStrategy {
	return &model.RetryStrategy{Attempts: attempts, EvaluateOnExit: []model.EvaluateOnExit{{Action: action, OnStatusReason: pattern}}}
}

func TestWeight(t *testing.T) {
	p := &model.FairsharePolicy{ShareDistribution: []model.ShareAttributes{
		{ShareIdentifier: "research", WeightFactor: 0.5},
		{ShareIdentifier: "prod*", WeightFactor: 0.25},
		{ShareIdentifier: "dev", WeightFactor: 2},
	}}
	for share, want := range map[string]float64{
		"research": 0.5, "prod": 0.25, "prod-eu": 0.25, "dev": 2, "dev2": 1, "researcher": 1, "": 1,
	} {
		if got := p.Weight(share); got != want {
			t.Errorf("Weight(%q) = %v, want %v", share, got, want)
		}
	}
	var none *model.FairsharePolicy
	if none.Weight("x") != 1 || none.DecaySeconds() != model.DefaultShareDecaySeconds || none.Reserved(10, 0) != 0 {
		t.Error("a nil policy must mean weight 1, the default decay and no reservation")
	}
}

func TestReserved(t *testing.T) {
	p := &model.FairsharePolicy{ComputeReservation: 50}
	for active, want := range map[int]int64{0: 20, 1: 10, 2: 5, 3: 2, 4: 1, 5: 0} {
		if got := p.Reserved(20, active); got != want {
			t.Errorf("Reserved(20, %d) = %d, want %d", active, got, want)
		}
	}
	q := &model.FairsharePolicy{ComputeReservation: 25}
	if got := q.Reserved(1000, 2); got != 62 {
		t.Errorf("25%%, two shares, 1000 instances: %d, want 62 (6.25%%)", got)
	}
}

func TestShareUsage(t *testing.T) {
	const tau = 600.0
	// Held n instances for much longer than tau: usage approaches n.
	u := model.ShareUsage{}.Add(8, 0, 100*600*1000, tau)
	if math.Abs(u.Instances-8) > 1e-9 {
		t.Fatalf("steady usage %v, want 8", u.Instances)
	}
	// Decays by e after tau.
	if got := u.At(u.AsOf+600_000, tau); math.Abs(got-8/math.E) > 1e-9 {
		t.Fatalf("after tau: %v, want %v", got, 8/math.E)
	}
	if got := u.At(u.AsOf-5, tau); got != u.Instances {
		t.Fatalf("a time before AsOf must not grow usage: %v", got)
	}
	// Adding in pieces equals adding at once (the integral is additive).
	rng := rand.New(rand.NewPCG(1, 2))
	for range 1000 {
		start := int64(rng.IntN(1_000_000))
		mid := start + int64(rng.IntN(1_000_000))
		end := mid + int64(rng.IntN(1_000_000))
		whole := model.ShareUsage{}.Add(3, start, end, tau)
		parts := model.ShareUsage{}.Add(3, start, mid, tau).Add(3, mid, end, tau)
		if math.Abs(whole.Instances-parts.Instances) > 1e-9 || whole.AsOf != parts.AsOf {
			t.Fatalf("whole %+v != parts %+v", whole, parts)
		}
	}
	// A late record is decayed to the record's time, never rewinding it.
	base := model.ShareUsage{Instances: 1, AsOf: 2_000_000}
	late := base.Add(4, 0, 1_000_000, tau)
	if late.AsOf != base.AsOf {
		t.Fatalf("late add moved AsOf to %d", late.AsOf)
	}
	want := 1 + 4*(1-math.Exp(-1000/tau))*math.Exp(-1000/tau)
	if math.Abs(late.Instances-want) > 1e-9 {
		t.Fatalf("late add %v, want %v", late.Instances, want)
	}
}

func TestMatchGlob(t *testing.T) {
	for _, tc := range []struct {
		pattern, s string
		want       bool
	}{
		{"", "anything", true}, {"*", "", true}, {"abc", "abc", true}, {"abc", "abcd", false},
		{"ab*", "abcd", true}, {"ab*", "a", false}, {"a*c", "a*c", true}, {"a*c", "abc", false},
	} {
		if got := model.MatchGlob(tc.pattern, tc.s); got != tc.want {
			t.Errorf("MatchGlob(%q, %q) = %v, want %v", tc.pattern, tc.s, got, tc.want)
		}
	}
}

func TestReasonCode(t *testing.T) {
	if got := model.ReasonCode(model.ReasonMisconfigurationText); got != model.ReasonMisconfiguration {
		t.Fatalf("got %q", got)
	}
	if got := model.ReasonCode("plain"); got != "plain" {
		t.Fatalf("got %q", got)
	}
}

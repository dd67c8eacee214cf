package model_test

import (
	"strings"
	"testing"

	"github.com/sagequeue/sagequeue/internal/model"
)

func validJob() model.ServiceJob {
	return model.ServiceJob{
		JobName:               "train-1",
		ServiceJobType:        model.ServiceJobTypeSageMakerTraining,
		ServiceRequestPayload: `{"ResourceConfig":{"InstanceType":"ml.m5.xlarge","InstanceCount":2}}`,
	}
}

func ptr[T any](v T) *T { return &v }

// wantErr checks err against a wanted "field: rule" prefix ("" for no error).
func wantErr(t *testing.T, err error, want string) {
	t.Helper()
	if want == "" {
		if err != nil {
			t.Fatalf("unexpected error: %v", err)
		}
		return
	}
	if err == nil {
		t.Fatalf("no error, want %q", want)
	}
	if !model.IsValidation(err) {
		t.Fatalf("error %v is not a ValidationError", err)
	}
	if !strings.HasPrefix(err.Error(), want) {
		t.Fatalf("error %q, want it to start with %q", err, want)
	}
}

func TestValidateJob(t *testing.T) {
	tests := map[string]struct {
		mutate    func(j *model.ServiceJob)
		fairShare bool
		want      string
	}{
		"valid":                          {mutate: func(*model.ServiceJob) {}},
		"name required":                  {mutate: func(j *model.ServiceJob) { j.JobName = "" }, want: "jobName: is required"},
		"name of 128 characters":         {mutate: func(j *model.ServiceJob) { j.JobName = strings.Repeat("a", 128) }},
		"name of 129 characters":         {mutate: func(j *model.ServiceJob) { j.JobName = strings.Repeat("a", 129) }, want: "jobName: must be at most 128 characters"},
		"name with a dot":                {mutate: func(j *model.ServiceJob) { j.JobName = "a.b" }, want: "jobName: may contain only letters"},
		"name with a space":              {mutate: func(j *model.ServiceJob) { j.JobName = "a b" }, want: "jobName: may contain only"},
		"name with unicode":              {mutate: func(j *model.ServiceJob) { j.JobName = "é" }, want: "jobName: may contain only"},
		"name with dash and underscore":  {mutate: func(j *model.ServiceJob) { j.JobName = "A-b_9" }},
		"wrong job type":                 {mutate: func(j *model.ServiceJob) { j.ServiceJobType = "ECS" }, want: "serviceJobType: must be SAGEMAKER_TRAINING"},
		"priority 0":                     {mutate: func(j *model.ServiceJob) { j.SchedulingPriority = 0 }},
		"priority 9999":                  {mutate: func(j *model.ServiceJob) { j.SchedulingPriority = 9999 }},
		"priority 10000":                 {mutate: func(j *model.ServiceJob) { j.SchedulingPriority = 10000 }, want: "schedulingPriority: must be between 0 and 9999"},
		"priority negative":              {mutate: func(j *model.ServiceJob) { j.SchedulingPriority = -1 }, want: "schedulingPriority: must be between 0 and 9999"},
		"share refused on FIFO":          {mutate: func(j *model.ServiceJob) { j.ShareIdentifier = "a" }, want: "shareIdentifier: must not be set"},
		"share required on fair share":   {mutate: func(*model.ServiceJob) {}, fairShare: true, want: "shareIdentifier: is required"},
		"share on fair share":            {mutate: func(j *model.ServiceJob) { j.ShareIdentifier = "team-a" }, fairShare: true},
		"share with asterisk":            {mutate: func(j *model.ServiceJob) { j.ShareIdentifier = "team*" }, fairShare: true, want: "shareIdentifier: must not contain '*'"},
		"share of 256 characters":        {mutate: func(j *model.ServiceJob) { j.ShareIdentifier = strings.Repeat("s", 256) }, fairShare: true, want: "shareIdentifier: must be at most 255"},
		"attempts 1":                     {mutate: func(j *model.ServiceJob) { j.RetryStrategy = &model.RetryStrategy{Attempts: 1} }},
		"attempts 10":                    {mutate: func(j *model.ServiceJob) { j.RetryStrategy = &model.RetryStrategy{Attempts: 10} }},
		"attempts 0":                     {mutate: func(j *model.ServiceJob) { j.RetryStrategy = &model.RetryStrategy{Attempts: 0} }, want: "retryStrategy.attempts: must be between 1 and 10"},
		"attempts 11":                    {mutate: func(j *model.ServiceJob) { j.RetryStrategy = &model.RetryStrategy{Attempts: 11} }, want: "retryStrategy.attempts: must be between 1 and 10"},
		"five evaluateOnExit rules":      {mutate: func(j *model.ServiceJob) { j.RetryStrategy = rules(5, "RETRY", "x*") }},
		"six evaluateOnExit rules":       {mutate: func(j *model.ServiceJob) { j.RetryStrategy = rules(6, "RETRY", "x*") }, want: "retryStrategy.evaluateOnExit: must have at most 5 rules"},
		"bad action":                     {mutate: func(j *model.ServiceJob) { j.RetryStrategy = rules(2, "REDO", "x") }, want: "retryStrategy.evaluateOnExit[0].action: must be RETRY or EXIT"},
		"lower-case action":              {mutate: func(j *model.ServiceJob) { j.RetryStrategy = rules(1, "exit", "x") }},
		"onStatusReason of 512":          {mutate: func(j *model.ServiceJob) { j.RetryStrategy = rules(1, "EXIT", strings.Repeat("r", 512)) }},
		"onStatusReason of 513":          {mutate: func(j *model.ServiceJob) { j.RetryStrategy = rules(1, "EXIT", strings.Repeat("r", 513)) }, want: "retryStrategy.evaluateOnExit[0].onStatusReason: must be at most 512"},
		"onStatusReason not printable":   {mutate: func(j *model.ServiceJob) { j.RetryStrategy = rules(1, "EXIT", "a\nb") }, want: "retryStrategy.evaluateOnExit[0].onStatusReason: may contain only printable"},
		"timeout 1 second":               {mutate: func(j *model.ServiceJob) { j.TimeoutConfig = &model.TimeoutConfig{AttemptDurationSeconds: 1} }},
		"timeout 0":                      {mutate: func(j *model.ServiceJob) { j.TimeoutConfig = &model.TimeoutConfig{} }, want: "timeoutConfig.attemptDurationSeconds: must be at least 1"},
		"50 tags":                        {mutate: func(j *model.ServiceJob) { j.Tags = tags(50) }},
		"51 tags":                        {mutate: func(j *model.ServiceJob) { j.Tags = tags(51) }, want: "tags: must have at most 50 tags"},
		"reserved tag key":               {mutate: func(j *model.ServiceJob) { j.Tags = map[string]string{"AWS:x": "1"} }, want: "tags.AWS:x: tag keys starting with aws: are reserved"},
		"long tag value":                 {mutate: func(j *model.ServiceJob) { j.Tags = map[string]string{"k": strings.Repeat("v", 257)} }, want: "tags.k: tag value must be at most 256"},
		"empty tag key":                  {mutate: func(j *model.ServiceJob) { j.Tags = map[string]string{"": "v"} }, want: "tags: tag keys must not be empty"},
		"tag key with NUL":               {mutate: func(j *model.ServiceJob) { j.Tags = map[string]string{"a\x00b": "v"} }, want: `tags["a\x00b"]: tag key must not contain control or bidirectional formatting characters; found U+0000`},
		"tag value with an escape":       {mutate: func(j *model.ServiceJob) { j.Tags = map[string]string{"team": "\x1b[2Jx"} }, want: "tags.team: tag value must not contain control or bidirectional formatting characters; found U+001B"},
		"tag value with a bidi override": {mutate: func(j *model.ServiceJob) { j.Tags = map[string]string{"owner": "al\u202eice"} }, want: "tags.owner: tag value must not contain control or bidirectional formatting characters; found U+202E"},
		"tag key not UTF-8":              {mutate: func(j *model.ServiceJob) { j.Tags = map[string]string{"k\xff": "v"} }, want: `tags: tag key "k\xff" is not valid UTF-8`},
		"reserved tag value":             {mutate: func(j *model.ServiceJob) { j.Tags = map[string]string{"k": "aws:x"} }, want: "tags.k: tag values starting with aws: are reserved"},
		"unicode tags":                   {mutate: func(j *model.ServiceJob) { j.Tags = map[string]string{"équipe": "données + modèles @ été/2025"} }},
		"payload too large":              {mutate: func(j *model.ServiceJob) { j.ServiceRequestPayload = `{"x":"` + strings.Repeat("a", 10*1024) + `"}` }, want: "serviceRequestPayload: must be at most 10240 bytes"},
		"payload instance count of zero": {mutate: func(j *model.ServiceJob) { j.ServiceRequestPayload = `{"ResourceConfig":{"InstanceCount":0}}` }, want: "serviceRequestPayload.ResourceConfig.InstanceCount: must be at least 1"},
		"long client token":              {mutate: func(j *model.ServiceJob) { j.ClientToken = strings.Repeat("t", 65) }, want: "clientToken: must be at most 64"},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			j := validJob()
			tc.mutate(&j)
			wantErr(t, j.Validate(tc.fairShare), tc.want)
		})
	}
}

func rules(n int, action, pattern string) *model.RetryStrategy {
	r := &model.RetryStrategy{Attempts: 3}
	for range n {
		r.EvaluateOnExit = append(r.EvaluateOnExit, model.EvaluateOnExit{Action: action, OnStatusReason: pattern})
	}
	return r
}

func tags(n int) map[string]string {
	m := map[string]string{}
	for i := range n {
		m[strings.Repeat("k", i+1)] = "v"
	}
	return m
}

func validPolicy() model.SchedulingPolicy {
	return model.SchedulingPolicy{Name: "fs", FairsharePolicy: &model.FairsharePolicy{
		ShareDecaySeconds: 3600, ComputeReservation: 10,
		ShareDistribution: []model.ShareAttributes{{ShareIdentifier: "research", WeightFactor: 1}, {ShareIdentifier: "prod*", WeightFactor: 0.25}},
	}}
}

func TestValidatePolicy(t *testing.T) {
	share := func(id string, w float64) model.ShareAttributes {
		return model.ShareAttributes{ShareIdentifier: id, WeightFactor: w}
	}
	tests := map[string]struct {
		mutate func(p *model.SchedulingPolicy)
		want   string
	}{
		"valid":              {mutate: func(*model.SchedulingPolicy) {}},
		"no fair-share part": {mutate: func(p *model.SchedulingPolicy) { p.FairsharePolicy = nil }},
		"bad name":           {mutate: func(p *model.SchedulingPolicy) { p.Name = "a/b" }, want: "name: may contain only"},
		"decay 604800":       {mutate: func(p *model.SchedulingPolicy) { p.FairsharePolicy.ShareDecaySeconds = 604800 }},
		"decay 604801":       {mutate: func(p *model.SchedulingPolicy) { p.FairsharePolicy.ShareDecaySeconds = 604801 }, want: "fairsharePolicy.shareDecaySeconds: must be between 0 and 604800"},
		"decay negative":     {mutate: func(p *model.SchedulingPolicy) { p.FairsharePolicy.ShareDecaySeconds = -1 }, want: "fairsharePolicy.shareDecaySeconds"},
		"reservation 99":     {mutate: func(p *model.SchedulingPolicy) { p.FairsharePolicy.ComputeReservation = 99 }},
		"reservation 100":    {mutate: func(p *model.SchedulingPolicy) { p.FairsharePolicy.ComputeReservation = 100 }, want: "fairsharePolicy.computeReservation: must be between 0 and 99"},
		"weight 0.0001":      {mutate: func(p *model.SchedulingPolicy) { p.FairsharePolicy.ShareDistribution[0].WeightFactor = 0.0001 }},
		"weight 999.9999":    {mutate: func(p *model.SchedulingPolicy) { p.FairsharePolicy.ShareDistribution[0].WeightFactor = 999.9999 }},
		"weight 0.00009":     {mutate: func(p *model.SchedulingPolicy) { p.FairsharePolicy.ShareDistribution[0].WeightFactor = 0.00009 }, want: "fairsharePolicy.shareDistribution[0].weightFactor: must be between 0.0001 and 999.9999"},
		"weight 1000":        {mutate: func(p *model.SchedulingPolicy) { p.FairsharePolicy.ShareDistribution[1].WeightFactor = 1000 }, want: "fairsharePolicy.shareDistribution[1].weightFactor"},
		"empty identifier":   {mutate: func(p *model.SchedulingPolicy) { p.FairsharePolicy.ShareDistribution[0].ShareIdentifier = "" }, want: "fairsharePolicy.shareDistribution[0].shareIdentifier: is required"},
		"bare asterisk":      {mutate: func(p *model.SchedulingPolicy) { p.FairsharePolicy.ShareDistribution[0].ShareIdentifier = "*" }, want: "fairsharePolicy.shareDistribution[0].shareIdentifier: must not be empty"},
		"inner asterisk":     {mutate: func(p *model.SchedulingPolicy) { p.FairsharePolicy.ShareDistribution[0].ShareIdentifier = "a*b" }, want: "fairsharePolicy.shareDistribution[0].shareIdentifier: may contain '*' only as its last character"},
		"duplicate":          {mutate: func(p *model.SchedulingPolicy) { p.FairsharePolicy.ShareDistribution[1] = share("research", 2) }, want: `fairsharePolicy.shareDistribution[1].shareIdentifier: "research" overlaps "research"`},
		"prefix over exact":  {mutate: func(p *model.SchedulingPolicy) { p.FairsharePolicy.ShareDistribution[1] = share("res*", 2) }, want: "fairsharePolicy.shareDistribution[1].shareIdentifier: \"res*\" overlaps"},
		"exact under prefix": {mutate: func(p *model.SchedulingPolicy) { p.FairsharePolicy.ShareDistribution[0] = share("prod1", 2) }, want: "fairsharePolicy.shareDistribution[1].shareIdentifier"},
		"nested prefixes":    {mutate: func(p *model.SchedulingPolicy) { p.FairsharePolicy.ShareDistribution[0] = share("pr*", 2) }, want: "fairsharePolicy.shareDistribution[1]"},
		"disjoint prefixes":  {mutate: func(p *model.SchedulingPolicy) { p.FairsharePolicy.ShareDistribution[0] = share("dev*", 2) }},
		"500 entries":        {mutate: func(p *model.SchedulingPolicy) { p.FairsharePolicy.ShareDistribution = shares(500) }},
		"501 entries":        {mutate: func(p *model.SchedulingPolicy) { p.FairsharePolicy.ShareDistribution = shares(501) }, want: "fairsharePolicy.shareDistribution: must have at most 500 entries"},
		"identifier of 255 and *": {mutate: func(p *model.SchedulingPolicy) {
			p.FairsharePolicy.ShareDistribution[0].ShareIdentifier = strings.Repeat("x", 255) + "*"
		}},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			p := validPolicy()
			tc.mutate(&p)
			wantErr(t, p.Validate(), tc.want)
		})
	}
}

func shares(n int) []model.ShareAttributes {
	out := make([]model.ShareAttributes, n)
	for i := range out {
		out[i] = model.ShareAttributes{ShareIdentifier: "s" + strings.Repeat("x", i/26) + string(rune('a'+i%26)) + "-", WeightFactor: 1}
	}
	return out
}

func validQueue() model.JobQueue {
	return model.JobQueue{
		Name: "q", Type: model.ServiceJobTypeSageMakerTraining, State: model.StateEnabled, Priority: 1,
		ServiceEnvironmentOrder: []model.ServiceEnvironmentOrder{{Order: 1, ServiceEnvironment: "arn:aws:batch:local:000000000000:service-environment/e"}},
	}
}

func TestValidateQueue(t *testing.T) {
	action := func(a, reason, state string, secs int32) []model.JobStateTimeLimitAction {
		return []model.JobStateTimeLimitAction{{Action: a, Reason: reason, State: state, MaxTimeSeconds: secs}}
	}
	tests := map[string]struct {
		mutate func(q *model.JobQueue)
		want   string
	}{
		"valid":          {mutate: func(*model.JobQueue) {}},
		"bad name":       {mutate: func(q *model.JobQueue) { q.Name = "" }, want: "jobQueueName: is required"},
		"ECS queue":      {mutate: func(q *model.JobQueue) { q.Type = "ECS" }, want: "jobQueueType: must be SAGEMAKER_TRAINING"},
		"bad state":      {mutate: func(q *model.JobQueue) { q.State = "ON" }, want: "state: must be ENABLED or DISABLED"},
		"priority 1000":  {mutate: func(q *model.JobQueue) { q.Priority = 1000 }},
		"priority 1001":  {mutate: func(q *model.JobQueue) { q.Priority = 1001 }, want: "priority: must be between 0 and 1000"},
		"no environment": {mutate: func(q *model.JobQueue) { q.ServiceEnvironmentOrder = nil }, want: "serviceEnvironmentOrder: must name between 1 and 3"},
		"environment twice": {mutate: func(q *model.JobQueue) {
			q.ServiceEnvironmentOrder = append(q.ServiceEnvironmentOrder, q.ServiceEnvironmentOrder[0])
		}, want: "serviceEnvironmentOrder[1].serviceEnvironment"},
		"negative order": {mutate: func(q *model.JobQueue) { q.ServiceEnvironmentOrder[0].Order = -1 }, want: "serviceEnvironmentOrder[0].order: must be at least 0"},
		"time limit of 1s": {mutate: func(q *model.JobQueue) {
			q.JobStateTimeLimitActions = action("CANCEL", model.ReasonCapacity, "RUNNABLE", 1)
		}},
		"time limit of 86400s": {mutate: func(q *model.JobQueue) {
			q.JobStateTimeLimitActions = action("TERMINATE", model.ReasonCapacity, "RUNNABLE", 86400)
		}},
		"time limit of 0s": {mutate: func(q *model.JobQueue) {
			q.JobStateTimeLimitActions = action("CANCEL", model.ReasonCapacity, "RUNNABLE", 0)
		}, want: "jobStateTimeLimitActions[0].maxTimeSeconds: must be between 1 and 86400"},
		"time limit too long": {mutate: func(q *model.JobQueue) {
			q.JobStateTimeLimitActions = action("CANCEL", model.ReasonCapacity, "RUNNABLE", 86401)
		}, want: "jobStateTimeLimitActions[0].maxTimeSeconds"},
		"bad action": {mutate: func(q *model.JobQueue) {
			q.JobStateTimeLimitActions = action("RETRY", model.ReasonCapacity, "RUNNABLE", 600)
		}, want: "jobStateTimeLimitActions[0].action: must be CANCEL or TERMINATE"},
		"bad state for action": {mutate: func(q *model.JobQueue) {
			q.JobStateTimeLimitActions = action("CANCEL", model.ReasonCapacity, "RUNNING", 600)
		}, want: "jobStateTimeLimitActions[0].state: must be RUNNABLE"},
		"missing reason": {mutate: func(q *model.JobQueue) { q.JobStateTimeLimitActions = action("CANCEL", "", "RUNNABLE", 600) }, want: "jobStateTimeLimitActions[0].reason: is required"},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			q := validQueue()
			tc.mutate(&q)
			wantErr(t, q.Validate(), tc.want)
		})
	}
}

func TestValidateEnvironment(t *testing.T) {
	valid := func() model.ServiceEnvironment {
		return model.ServiceEnvironment{
			Name: "plan", Type: model.ServiceJobTypeSageMakerTraining, State: model.StateEnabled,
			CapacityLimits: []model.CapacityLimit{{CapacityUnit: "NUM_INSTANCES", MaxCapacity: 20}},
		}
	}
	tests := map[string]struct {
		mutate func(e *model.ServiceEnvironment)
		want   string
	}{
		"valid":         {mutate: func(*model.ServiceEnvironment) {}},
		"disabled":      {mutate: func(e *model.ServiceEnvironment) { e.State = model.StateDisabled }},
		"bad name":      {mutate: func(e *model.ServiceEnvironment) { e.Name = strings.Repeat("n", 129) }, want: "serviceEnvironmentName: must be at most 128"},
		"bad type":      {mutate: func(e *model.ServiceEnvironment) { e.Type = "EKS" }, want: "serviceEnvironmentType: must be SAGEMAKER_TRAINING"},
		"no limit":      {mutate: func(e *model.ServiceEnvironment) { e.CapacityLimits = nil }, want: "capacityLimits: must have exactly one limit"},
		"bad unit":      {mutate: func(e *model.ServiceEnvironment) { e.CapacityLimits[0].CapacityUnit = "VCPU" }, want: "capacityLimits[0].capacityUnit: must be NUM_INSTANCES"},
		"zero capacity": {mutate: func(e *model.ServiceEnvironment) { e.CapacityLimits[0].MaxCapacity = 0 }, want: "capacityLimits[0].maxCapacity: must be between 1"},
		"training plan": {mutate: func(e *model.ServiceEnvironment) {
			e.TrainingPlanArn = "arn:aws:sagemaker:us-east-1:123456789012:training-plan/p20"
		}},
		"bad training plan": {mutate: func(e *model.ServiceEnvironment) { e.TrainingPlanArn = "plan-20" }, want: "trainingPlanArn: must be a SageMaker training plan ARN"},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			e := valid()
			tc.mutate(&e)
			wantErr(t, e.Validate(), tc.want)
		})
	}
}

func TestNameOf(t *testing.T) {
	tests := map[string]struct {
		ref, kind, want, err string
	}{
		"a name":             {ref: "research", kind: model.KindJobQueue, want: "research"},
		"an ARN":             {ref: "arn:aws:batch:us-east-1:123456789012:job-queue/research", kind: model.KindJobQueue, want: "research"},
		"an ARN of the kind": {ref: model.LocalAccount.ARN(model.KindServiceEnvironment, "e"), kind: model.KindServiceEnvironment, want: "e"},
		"another kind":       {ref: "arn:aws:batch:us-east-1:123456789012:job-queue/research", kind: model.KindServiceEnvironment, err: "jobQueue: must name a service-environment, not a job-queue"},
		"not a Batch ARN":    {ref: "arn:aws:s3:::bucket", kind: model.KindJobQueue, err: "jobQueue: is not a valid AWS Batch ARN"},
		"empty":              {ref: "", kind: model.KindJobQueue, err: "jobQueue: is required"},
		"bad name":           {ref: "a b", kind: model.KindJobQueue, err: "jobQueue: may contain only"},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			got, err := model.NameOf("jobQueue", tc.kind, tc.ref)
			wantErr(t, err, tc.err)
			if got != tc.want {
				t.Fatalf("got %q, want %q", got, tc.want)
			}
		})
	}
}

func TestQueueBackfillNotForQuotaManagement(t *testing.T) {
	q := model.JobQueue{
		Name: "q", Type: model.ServiceJobTypeSageMakerTraining, State: model.StateEnabled, Priority: 1,
		SchedulingPolicyArn: model.LocalAccount.ARN(model.KindSchedulingPolicy, "p"), QuotaManagement: true, Backfill: true,
		ServiceEnvironmentOrder: []model.ServiceEnvironmentOrder{{Order: 1, ServiceEnvironment: model.LocalAccount.ARN(model.KindServiceEnvironment, "e")}},
	}
	if err := q.Validate(); err == nil || !strings.Contains(err.Error(), "backfill: is for FIFO and fair-share queues") {
		t.Fatalf("a quota management queue with backfill: %v", err)
	}
	q.QuotaManagement = false
	if err := q.Validate(); err != nil {
		t.Fatalf("a fair-share queue with backfill: %v", err)
	}
}

package model

import (
	"fmt"
	"math"
	"strings"
	"unicode/utf8"

	"github.com/sagequeue/sagequeue/internal/safetext"
)

// Limits of the Batch API. sagequeue is a superset of AWS Batch: where AWS's
// limit is an artefact of its system, ours is wider and says so.
const (
	MaxNameLength            = 128
	MaxSchedulingPriority    = 9999
	MaxAttempts              = 10
	MaxEvaluateOnExit        = 5
	MaxOnStatusReasonLength  = 512
	MaxTags                  = 50
	MaxTagKeyLength          = 128
	MaxTagValueLength        = 256
	MaxPayloadBytes          = 10 * 1024
	MaxShareIdentifierLength = 255
	MaxShareDistribution     = 500
	MinWeightFactor          = 0.0001
	MaxWeightFactor          = 999.9999
	MaxComputeReservation    = 99
	MaxShareDecaySeconds     = 604800
	MaxQueuePriority         = 1000
	MaxQueueEnvironments     = 3
	MaxTimeLimitActions      = 5
	// MinTimeLimitSeconds is 1 where AWS requires 600: short limits are
	// useful on a workstation and in tests.
	MinTimeLimitSeconds = 1
	MaxTimeLimitSeconds = 86400
)

// ValidateName checks a resource or job name: 1 to 128 letters, digits,
// hyphens and underscores.
func ValidateName(field, name string) error {
	if name == "" {
		return Invalid(field, "is required")
	}
	if len(name) > MaxNameLength {
		return Invalidf(field, "must be at most %d characters, got %d", MaxNameLength, len(name))
	}
	for i := 0; i < len(name); i++ {
		if !isNameChar(name[i]) {
			return Invalidf(field, "may contain only letters, numbers, hyphens (-) and underscores (_); found %q", rune(name[i]))
		}
	}
	return nil
}

func isNameChar(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_'
}

// ValidateSchedulingPriority checks a job's schedulingPriority.
func ValidateSchedulingPriority(field string, p int32) error {
	if p < 0 || p > MaxSchedulingPriority {
		return Invalidf(field, "must be between 0 and %d, got %d", MaxSchedulingPriority, p)
	}
	return nil
}

// ValidateTags checks a tag map by AWS Batch's tag rules: at most 50 tags,
// keys of 1 to 128 and values of up to 256 characters, neither starting
// with the reserved aws: prefix. Keys and values must be UTF-8 without
// control or bidirectional formatting characters (see safetext.Unsafe): tags are
// shown in terminals and pages, where those would rewrite what is shown.
func ValidateTags(field string, tags map[string]string) error {
	if len(tags) > MaxTags {
		return Invalidf(field, "must have at most %d tags, got %d", MaxTags, len(tags))
	}
	for _, k := range sortedKeys(tags) {
		v := tags[k]
		if err := checkTagText(field, k, "key"); err != nil {
			return err
		}
		switch n := utf8.RuneCountInString(k); {
		case n == 0:
			return Invalid(field, "tag keys must not be empty")
		case n > MaxTagKeyLength:
			return Invalidf(field+"."+k, "tag key must be at most %d characters", MaxTagKeyLength)
		case strings.HasPrefix(strings.ToLower(k), "aws:"):
			return Invalid(field+"."+k, "tag keys starting with aws: are reserved")
		}
		if err := checkTagText(field+"."+k, v, "value"); err != nil {
			return err
		}
		if utf8.RuneCountInString(v) > MaxTagValueLength {
			return Invalidf(field+"."+k, "tag value must be at most %d characters", MaxTagValueLength)
		}
		if strings.HasPrefix(strings.ToLower(v), "aws:") {
			return Invalid(field+"."+k, "tag values starting with aws: are reserved")
		}
	}
	return nil
}

// checkTagText refuses a tag key or value that is not UTF-8 or holds an
// unsafe character; the message quotes it with Go escapes, so the refusal
// itself is safe to print.
func checkTagText(field, s, what string) error {
	if !utf8.ValidString(s) {
		return Invalidf(field, "tag %s %q is not valid UTF-8", what, s)
	}
	for _, r := range s {
		if safetext.Unsafe(r) {
			if what == "key" {
				field = fmt.Sprintf("%s[%q]", field, s)
			}
			return Invalidf(field, "tag %s must not contain control or bidirectional formatting characters; found %U", what, r)
		}
	}
	return nil
}

// ValidateShareIdentifier checks a job's shareIdentifier against its queue:
// required on fair-share queues, refused on FIFO queues.
func ValidateShareIdentifier(field, share string, fairShare bool) error {
	if !fairShare {
		if share != "" {
			return Invalid(field, "must not be set: the job queue has no fair-share scheduling policy (FIFO)")
		}
		return nil
	}
	if share == "" {
		return Invalid(field, "is required: the job queue has a fair-share scheduling policy")
	}
	return validateShareText(field, share, false)
}

func validateShareText(field, s string, allowPrefix bool) error {
	body := s
	if allowPrefix {
		body = strings.TrimSuffix(s, "*")
	}
	if body == "" {
		return Invalid(field, "must not be empty")
	}
	if len(body) > MaxShareIdentifierLength {
		return Invalidf(field, "must be at most %d characters", MaxShareIdentifierLength)
	}
	for _, r := range body {
		if r == '*' {
			if allowPrefix {
				return Invalid(field, "may contain '*' only as its last character")
			}
			return Invalid(field, "must not contain '*'")
		}
		if r <= ' ' || r > '~' {
			return Invalidf(field, "may contain only printable ASCII characters without spaces; found %q", r)
		}
	}
	return nil
}

// Validate checks a retry strategy.
func (r *RetryStrategy) Validate(field string) error {
	if r == nil {
		return nil
	}
	if r.Attempts < 1 || r.Attempts > MaxAttempts {
		return Invalidf(field+".attempts", "must be between 1 and %d, got %d", MaxAttempts, r.Attempts)
	}
	if len(r.EvaluateOnExit) > MaxEvaluateOnExit {
		return Invalidf(field+".evaluateOnExit", "must have at most %d rules, got %d", MaxEvaluateOnExit, len(r.EvaluateOnExit))
	}
	for i, e := range r.EvaluateOnExit {
		f := fmt.Sprintf("%s.evaluateOnExit[%d]", field, i)
		if !strings.EqualFold(e.Action, RetryActionRetry) && !strings.EqualFold(e.Action, RetryActionExit) {
			return Invalidf(f+".action", "must be RETRY or EXIT, got %q", e.Action)
		}
		if len(e.OnStatusReason) > MaxOnStatusReasonLength {
			return Invalidf(f+".onStatusReason", "must be at most %d characters, got %d", MaxOnStatusReasonLength, len(e.OnStatusReason))
		}
		for _, c := range e.OnStatusReason {
			if c != '\t' && (c < ' ' || c > '~') {
				return Invalidf(f+".onStatusReason", "may contain only printable ASCII characters; found %q", c)
			}
		}
	}
	return nil
}

// Validate checks a timeout configuration. attemptDurationSeconds must be
// positive; AWS Batch's floor of 60 seconds for container jobs is not applied.
func (t *TimeoutConfig) Validate(field string) error {
	if t == nil {
		return nil
	}
	if t.AttemptDurationSeconds < 1 {
		return Invalidf(field+".attemptDurationSeconds", "must be at least 1, got %d", t.AttemptDurationSeconds)
	}
	return nil
}

// Validate checks a new job as submitted to a queue; fairShare says whether the
// queue has a fair-share policy. It checks the payload as a CreateTrainingJob
// request too.
func (j *ServiceJob) Validate(fairShare bool) error { return j.validate(fairShare, true) }

// ValidateParsed is Validate for a job whose payload the caller has checked
// with ParsePayload already: a submission parses it once.
func (j *ServiceJob) ValidateParsed(fairShare bool) error { return j.validate(fairShare, false) }

func (j *ServiceJob) validate(fairShare, payload bool) error {
	if err := ValidateName("jobName", j.JobName); err != nil {
		return err
	}
	if j.ServiceJobType != ServiceJobTypeSageMakerTraining {
		return Invalidf("serviceJobType", "must be %s, got %q", ServiceJobTypeSageMakerTraining, j.ServiceJobType)
	}
	if payload {
		if _, err := ParsePayload(j.ServiceRequestPayload); err != nil {
			return err
		}
	}
	if err := ValidateSchedulingPriority("schedulingPriority", j.SchedulingPriority); err != nil {
		return err
	}
	if j.QuotaShareName == "" {
		if err := ValidateShareIdentifier("shareIdentifier", j.ShareIdentifier, fairShare); err != nil {
			return err
		}
	}
	if err := j.PreemptionConfiguration.Validate("preemptionConfiguration"); err != nil {
		return err
	}
	if err := j.RetryStrategy.Validate("retryStrategy"); err != nil {
		return err
	}
	if err := j.TimeoutConfig.Validate("timeoutConfig"); err != nil {
		return err
	}
	if len(j.ClientToken) > 64 {
		return Invalidf("clientToken", "must be at most 64 characters, got %d", len(j.ClientToken))
	}
	return ValidateTags("tags", j.Tags)
}

// Validate checks a service environment.
func (e *ServiceEnvironment) Validate() error {
	if err := ValidateName("serviceEnvironmentName", e.Name); err != nil {
		return err
	}
	if e.Type != ServiceJobTypeSageMakerTraining {
		return Invalidf("serviceEnvironmentType", "must be %s, got %q", ServiceJobTypeSageMakerTraining, e.Type)
	}
	if err := validateState("state", e.State); err != nil {
		return err
	}
	if e.QuotaManaged() {
		// Quota management: 1 to 5 limits, one per instance type.
		for i, l := range e.CapacityLimits {
			if !strings.HasPrefix(l.CapacityUnit, "ml.") {
				return Invalidf(fmt.Sprintf("capacityLimits[%d].capacityUnit", i), "must be NUM_INSTANCES, or for quota management an instance type such as ml.p5.48xlarge; got %q", l.CapacityUnit)
			}
		}
		if err := ValidateQuotaLimits("capacityLimits", e.CapacityLimits); err != nil {
			return err
		}
	} else {
		if len(e.CapacityLimits) != 1 {
			return Invalidf("capacityLimits", "must have exactly one limit with capacityUnit %s, or (for quota management) 1 to %d limits whose capacityUnit is an instance type; got %d",
				CapacityUnitInstances, MaxQuotaShareLimits, len(e.CapacityLimits))
		}
		l := e.CapacityLimits[0]
		if l.MaxCapacity < 1 || l.MaxCapacity > math.MaxInt32 {
			return Invalidf("capacityLimits[0].maxCapacity", "must be between 1 and %d, got %d", math.MaxInt32, l.MaxCapacity)
		}
	}
	if e.TrainingPlanArn != "" && !IsTrainingPlanARN(e.TrainingPlanArn) {
		return Invalidf("trainingPlanArn", "must be a SageMaker training plan ARN (arn:<partition>:sagemaker:<region>:<account>:training-plan/<name>), got %q", e.TrainingPlanArn)
	}
	return ValidateTags("tags", e.Tags)
}

// IsTrainingPlanARN reports whether s has the shape of a SageMaker training plan ARN.
func IsTrainingPlanARN(s string) bool {
	parts := strings.SplitN(s, ":", 6)
	return len(parts) == 6 && parts[0] == "arn" && parts[2] == "sagemaker" &&
		strings.HasPrefix(parts[5], "training-plan/") && len(parts[5]) > len("training-plan/")
}

func validateState(field, s string) error {
	if s != StateEnabled && s != StateDisabled {
		return Invalidf(field, "must be ENABLED or DISABLED, got %q", s)
	}
	return nil
}

// Validate checks a scheduling policy.
func (p *SchedulingPolicy) Validate() error {
	if err := ValidateName("name", p.Name); err != nil {
		return err
	}
	if p.QuotaSharePolicy != nil {
		if p.FairsharePolicy != nil {
			return Invalid("quotaSharePolicy", "cannot be combined with fairsharePolicy: a scheduling policy is either fair share or quota management")
		}
		if s := p.QuotaSharePolicy.IdleResourceAssignmentStrategy; s != IdleAssignmentFIFO {
			return Invalidf("quotaSharePolicy.idleResourceAssignmentStrategy", "must be FIFO, got %q", s)
		}
	}
	if err := p.FairsharePolicy.Validate("fairsharePolicy"); err != nil {
		return err
	}
	return ValidateTags("tags", p.Tags)
}

// Validate checks a fair-share policy: ranges, weights, and that no two share
// entries overlap (UserA* and UserA1 may not both appear).
func (f *FairsharePolicy) Validate(field string) error {
	if f == nil {
		return nil
	}
	if f.ShareDecaySeconds < 0 || f.ShareDecaySeconds > MaxShareDecaySeconds {
		return Invalidf(field+".shareDecaySeconds", "must be between 0 and %d, got %d", MaxShareDecaySeconds, f.ShareDecaySeconds)
	}
	if f.ComputeReservation < 0 || f.ComputeReservation > MaxComputeReservation {
		return Invalidf(field+".computeReservation", "must be between 0 and %d, got %d", MaxComputeReservation, f.ComputeReservation)
	}
	if len(f.ShareDistribution) > MaxShareDistribution {
		return Invalidf(field+".shareDistribution", "must have at most %d entries, got %d", MaxShareDistribution, len(f.ShareDistribution))
	}
	for i, a := range f.ShareDistribution {
		fi := fmt.Sprintf("%s.shareDistribution[%d]", field, i)
		if a.ShareIdentifier == "" {
			return Invalid(fi+".shareIdentifier", "is required")
		}
		if err := validateShareText(fi+".shareIdentifier", a.ShareIdentifier, true); err != nil {
			return err
		}
		if math.IsNaN(a.WeightFactor) || a.WeightFactor < MinWeightFactor || a.WeightFactor > MaxWeightFactor {
			return Invalidf(fi+".weightFactor", "must be between %g and %g, got %g", MinWeightFactor, MaxWeightFactor, a.WeightFactor)
		}
		for k := 0; k < i; k++ {
			if sharesOverlap(f.ShareDistribution[k].ShareIdentifier, a.ShareIdentifier) {
				return Invalidf(fi+".shareIdentifier", "%q overlaps %q (shareDistribution[%d]); share identifiers in a policy must not overlap",
					a.ShareIdentifier, f.ShareDistribution[k].ShareIdentifier, k)
			}
		}
	}
	return nil
}

// sharesOverlap reports whether two shareDistribution entries can match the
// same share identifier.
func sharesOverlap(a, b string) bool {
	pa, wa := strings.CutSuffix(a, "*")
	pb, wb := strings.CutSuffix(b, "*")
	switch {
	case wa && wb:
		return strings.HasPrefix(pa, pb) || strings.HasPrefix(pb, pa)
	case wa:
		return strings.HasPrefix(b, pa)
	case wb:
		return strings.HasPrefix(a, pb)
	}
	return a == b
}

// Validate checks a job queue whose references are already resolved to ARNs.
func (q *JobQueue) Validate() error {
	if err := ValidateName("jobQueueName", q.Name); err != nil {
		return err
	}
	if q.Type != ServiceJobTypeSageMakerTraining {
		return Invalidf("jobQueueType", "must be %s, got %q: sagequeue runs service jobs only", ServiceJobTypeSageMakerTraining, q.Type)
	}
	if err := validateState("state", q.State); err != nil {
		return err
	}
	if q.Priority < 0 || q.Priority > MaxQueuePriority {
		return Invalidf("priority", "must be between 0 and %d, got %d", MaxQueuePriority, q.Priority)
	}
	if q.Backfill && q.QuotaShares() {
		return Invalid("backfill", "is for FIFO and fair-share queues; a quota management queue places jobs by its quota shares and preemption")
	}
	if n := len(q.ServiceEnvironmentOrder); n < 1 || n > MaxQueueEnvironments {
		return Invalidf("serviceEnvironmentOrder", "must name between 1 and %d service environments, got %d", MaxQueueEnvironments, n)
	}
	seen := map[string]bool{}
	for i, o := range q.ServiceEnvironmentOrder {
		f := fmt.Sprintf("serviceEnvironmentOrder[%d]", i)
		if o.ServiceEnvironment == "" {
			return Invalid(f+".serviceEnvironment", "is required")
		}
		if o.Order < 0 {
			return Invalidf(f+".order", "must be at least 0, got %d", o.Order)
		}
		if seen[o.ServiceEnvironment] {
			return Invalidf(f+".serviceEnvironment", "%s is listed twice", o.ServiceEnvironment)
		}
		seen[o.ServiceEnvironment] = true
	}
	if len(q.JobStateTimeLimitActions) > MaxTimeLimitActions {
		return Invalidf("jobStateTimeLimitActions", "must have at most %d actions, got %d", MaxTimeLimitActions, len(q.JobStateTimeLimitActions))
	}
	for i, a := range q.JobStateTimeLimitActions {
		f := fmt.Sprintf("jobStateTimeLimitActions[%d]", i)
		if a.Action != TimeLimitActionCancel && a.Action != TimeLimitActionTerminate {
			return Invalidf(f+".action", "must be CANCEL or TERMINATE, got %q", a.Action)
		}
		if a.State != string(StatusRunnable) {
			return Invalidf(f+".state", "must be RUNNABLE, got %q", a.State)
		}
		if a.Reason == "" {
			return Invalid(f+".reason", "is required (e.g. "+ReasonMisconfiguration+" or "+ReasonCapacity+")")
		}
		if len(a.Reason) > 256 {
			return Invalid(f+".reason", "must be at most 256 characters")
		}
		if a.MaxTimeSeconds < MinTimeLimitSeconds || a.MaxTimeSeconds > MaxTimeLimitSeconds {
			return Invalidf(f+".maxTimeSeconds", "must be between %d and %d, got %d", MinTimeLimitSeconds, MaxTimeLimitSeconds, a.MaxTimeSeconds)
		}
	}
	return ValidateTags("tags", q.Tags)
}

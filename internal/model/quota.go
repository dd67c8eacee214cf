package model

import (
	"fmt"
	"math"
	"strings"
)

// Quota management is AWS Batch's third scheduling mode: a job queue whose
// scheduling policy has a quotaSharePolicy, on one service environment whose
// capacity limits are per instance type, holds quota shares. Each share owns
// a quota per instance type, lends what it leaves idle (unless RESERVE),
// borrows idle quota of other shares (LEND_AND_BORROW, within borrowLimit),
// and gets lent capacity back by preemption when its own jobs arrive.

// KindQuotaShare is the ARN kind of a quota share. Shares are nested in a job
// queue, so their ARN names both: job-queue/<queue>/quota-share/<share>.
const KindQuotaShare = "quota-share"

// Quota share resource sharing strategies.
const (
	SharingReserve       = "RESERVE"
	SharingLend          = "LEND"
	SharingLendAndBorrow = "LEND_AND_BORROW"
)

// IdleAssignmentFIFO is the only idleResourceAssignmentStrategy AWS Batch has.
const IdleAssignmentFIFO = "FIFO"

// UnlimitedBorrow is the borrowLimit that puts no bound on borrowing.
const UnlimitedBorrow = -1

// AWS Batch's limits on quota management.
const (
	MaxQuotaSharesPerQueue = 20
	MaxQuotaShareLimits    = 5
	MaxQuotaPreemptions    = 100
	// KeptPreemptedAttempts is the length of the sliding window of recent
	// preempted attempts that a job keeps (preemptionSummary).
	KeptPreemptedAttempts = 10
)

// Reason codes of quota management (the part of statusReason before " - ").
const (
	ReasonQuotaLimit                 = "MISCONFIGURATION:QUOTA_MANAGEMENT_LIMIT_EXCEEDED"
	ReasonQuotaLimitText             = ReasonQuotaLimit + " - Job requirements exceed quota share capacity limits."
	ReasonQuotaBorrowLimitText       = ReasonQuotaLimit + " - Job requirements exceed quota share capacity limits and borrow limits."
	ReasonQuotaBorrowableText        = ReasonQuotaLimit + " - Job requires borrowing that exceeds all configured borrowable capacity."
	ReasonPreempted                  = "PREEMPTED"
	ReasonPreemptionRetriesExhausted = "Preemption retries exhausted"
)

// QuotaSharePolicy is the quota management part of a scheduling policy.
type QuotaSharePolicy struct {
	IdleResourceAssignmentStrategy string `json:"idleResourceAssignmentStrategy"`
}

// QuotaShare is a quota share of a quota-management job queue: a virtual
// queue with a quota per instance type.
type QuotaShare struct {
	Name     string `json:"quotaShareName"`
	Arn      string `json:"quotaShareArn"`
	JobQueue string `json:"jobQueueArn"`
	// CapacityLimits are per instance type: CapacityUnit is an instance type
	// such as ml.p5.48xlarge, MaxCapacity the share's quota of it.
	CapacityLimits               []CapacityLimit      `json:"capacityLimits"`
	ResourceSharingConfiguration ResourceSharing      `json:"resourceSharingConfiguration"`
	PreemptionConfiguration      QuotaSharePreemption `json:"preemptionConfiguration"`
	State                        string               `json:"state"`
	Status                       string               `json:"status"`
	Tags                         map[string]string    `json:"tags,omitempty"`
	Version                      int64                `json:"version"`
}

// ResourceSharing is a share's QuotaShareResourceSharingConfiguration.
type ResourceSharing struct {
	Strategy string `json:"strategy"`
	// BorrowLimit is the most a LEND_AND_BORROW share may borrow, in percent
	// of its quota of each instance type; -1 is unlimited.
	BorrowLimit int32 `json:"borrowLimit"`
}

// QuotaSharePreemption is a share's QuotaSharePreemptionConfiguration.
type QuotaSharePreemption struct {
	InSharePreemption string `json:"inSharePreemption"`
}

// Enabled reports whether the share accepts new jobs.
func (s *QuotaShare) Enabled() bool { return s.State != StateDisabled }

// InSharePreemption reports whether a higher-priority job of the share may
// preempt a lower-priority one of the same share.
func (s *QuotaShare) InSharePreemption() bool {
	return s.PreemptionConfiguration.InSharePreemption == StateEnabled
}

// Lends reports whether the share lends its idle quota.
func (s *QuotaShare) Lends() bool { return s.ResourceSharingConfiguration.Strategy != SharingReserve }

// Borrows reports whether the share may borrow idle quota of other shares.
func (s *QuotaShare) Borrows() bool {
	return s.ResourceSharingConfiguration.Strategy == SharingLendAndBorrow
}

// Quota is the share's quota of an instance type (0 when it has none).
func (s *QuotaShare) Quota(instanceType string) int64 { return limitOf(s.CapacityLimits, instanceType) }

// MaxHold is the most instances of a type the share may hold: its quota, plus
// what its borrow limit allows when it borrows (math.MaxInt64 unlimited).
func (s *QuotaShare) MaxHold(instanceType string) int64 {
	return MaxHold(s.Quota(instanceType), s.ResourceSharingConfiguration)
}

// MaxHold is the most instances of one type a share with quota q and sharing
// configuration rs may hold.
func MaxHold(q int64, rs ResourceSharing) int64 {
	if rs.Strategy != SharingLendAndBorrow {
		return q
	}
	if rs.BorrowLimit < 0 {
		return math.MaxInt64
	}
	return q + q*int64(rs.BorrowLimit)/100
}

func limitOf(limits []CapacityLimit, unit string) int64 {
	for _, l := range limits {
		if l.CapacityUnit == unit {
			return l.MaxCapacity
		}
	}
	return 0
}

// QuotaShareARN is the ARN of share name in queue queueArn.
func QuotaShareARN(queueArn, name string) string { return queueArn + "/" + KindQuotaShare + "/" + name }

// ParseQuotaShareARN splits a quota share ARN into its queue's ARN and the
// share's name.
func ParseQuotaShareARN(field, s string) (queueArn, name string, err error) {
	q, n, ok := strings.Cut(s, "/"+KindQuotaShare+"/")
	if !ok {
		return "", "", Invalidf(field, "must be a quota share ARN (arn:<partition>:batch:<region>:<account>:job-queue/<queue>/quota-share/<name>), got %q", s)
	}
	if kind, _, ok := ParseARN(q); !ok || kind != KindJobQueue {
		return "", "", Invalidf(field, "must be a quota share ARN (arn:<partition>:batch:<region>:<account>:job-queue/<queue>/quota-share/<name>), got %q", s)
	}
	if err := ValidateName(field, n); err != nil {
		return "", "", err
	}
	return q, n, nil
}

// Validate checks a quota share (its queue already resolved to an ARN).
func (s *QuotaShare) Validate() error {
	if err := ValidateName("quotaShareName", s.Name); err != nil {
		return err
	}
	if err := ValidateQuotaLimits("capacityLimits", s.CapacityLimits); err != nil {
		return err
	}
	rs := s.ResourceSharingConfiguration
	switch rs.Strategy {
	case SharingReserve, SharingLend:
		if rs.BorrowLimit != UnlimitedBorrow {
			return Invalidf("resourceSharingConfiguration.borrowLimit", "applies only to the LEND_AND_BORROW strategy, not %s", rs.Strategy)
		}
	case SharingLendAndBorrow:
		if rs.BorrowLimit < UnlimitedBorrow {
			return Invalidf("resourceSharingConfiguration.borrowLimit", "must be -1 (unlimited) or a percentage of at least 0, got %d", rs.BorrowLimit)
		}
	default:
		return Invalidf("resourceSharingConfiguration.strategy", "must be RESERVE, LEND or LEND_AND_BORROW, got %q", rs.Strategy)
	}
	if p := s.PreemptionConfiguration.InSharePreemption; p != StateEnabled && p != StateDisabled {
		return Invalidf("preemptionConfiguration.inSharePreemption", "must be ENABLED or DISABLED, got %q", p)
	}
	if err := validateState("state", s.State); err != nil {
		return err
	}
	return ValidateTags("tags", s.Tags)
}

// ValidateQuotaLimits checks capacity limits per instance type, as quota
// shares and quota-management environments have them: 1 to 5 limits, each
// an instance type named once with a maxCapacity of at least 0 (a share may
// own none of a type and only borrow it).
func ValidateQuotaLimits(field string, limits []CapacityLimit) error {
	if n := len(limits); n < 1 || n > MaxQuotaShareLimits {
		return Invalidf(field, "must have between 1 and %d limits (one per instance type), got %d", MaxQuotaShareLimits, n)
	}
	seen := map[string]bool{}
	for i, l := range limits {
		f := fmt.Sprintf("%s[%d]", field, i)
		if err := ValidateInstanceType(f+".capacityUnit", l.CapacityUnit); err != nil {
			return err
		}
		if seen[l.CapacityUnit] {
			return Invalidf(f+".capacityUnit", "%s is listed twice", l.CapacityUnit)
		}
		seen[l.CapacityUnit] = true
		if l.MaxCapacity < 0 || l.MaxCapacity > math.MaxInt32 {
			return Invalidf(f+".maxCapacity", "must be between 0 and %d, got %d", math.MaxInt32, l.MaxCapacity)
		}
	}
	return nil
}

// ValidateInstanceType checks that unit is a SageMaker training instance type
// (ml.<family>.<size>) as a quota capacity unit.
func ValidateInstanceType(field, unit string) error {
	if unit == CapacityUnitInstances {
		return Invalidf(field, "must be an instance type such as ml.p5.48xlarge in quota management, not %s", CapacityUnitInstances)
	}
	parts := strings.Split(unit, ".")
	if len(parts) != 3 || parts[0] != "ml" || parts[1] == "" || parts[2] == "" {
		return Invalidf(field, "must be a SageMaker instance type such as ml.p5.48xlarge, got %q", unit)
	}
	for _, c := range unit {
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '.' || c == '-') {
			return Invalidf(field, "must be a SageMaker instance type such as ml.p5.48xlarge, got %q", unit)
		}
	}
	return nil
}

// ServiceJobPreemption is a job's ServiceJobPreemptionConfiguration.
type ServiceJobPreemption struct {
	// RetriesBeforeTermination is how often the job may be preempted and
	// requeued; the next preemption ends it FAILED. Nil requeues without limit.
	RetriesBeforeTermination *int32 `json:"preemptionRetriesBeforeTermination,omitempty"`
}

// Validate checks a job's preemption configuration.
func (p *ServiceJobPreemption) Validate(field string) error {
	if p == nil || p.RetriesBeforeTermination == nil {
		return nil
	}
	if n := *p.RetriesBeforeTermination; n < 0 || n > MaxQuotaPreemptions {
		return Invalidf(field+".preemptionRetriesBeforeTermination", "must be between 0 and %d, got %d", MaxQuotaPreemptions, n)
	}
	return nil
}

// PreemptionRequeues reports whether a job preempted now goes back to
// RUNNABLE (true) or ends FAILED because its preemption retries are used up.
// Preemptions counts the preemptions before this one.
func (j *ServiceJob) PreemptionRequeues() bool {
	p := j.PreemptionConfiguration
	if p == nil || p.RetriesBeforeTermination == nil {
		return true
	}
	return j.Preemptions < *p.RetriesBeforeTermination
}

// RecordPreemption counts a preemption of attempt a and keeps it in the
// sliding window of recent preempted attempts.
func (j *ServiceJob) RecordPreemption(a Attempt) {
	j.Preemptions++
	j.PreemptedAttempts = append(j.PreemptedAttempts, a)
	if n := len(j.PreemptedAttempts); n > KeptPreemptedAttempts {
		j.PreemptedAttempts = append([]Attempt(nil), j.PreemptedAttempts[n-KeptPreemptedAttempts:]...)
	}
}

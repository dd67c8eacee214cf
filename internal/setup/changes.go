package setup

import (
	"encoding/json"
	"fmt"
	"slices"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/batch/types"
)

// Kinds of what a configuration holds, as a Change names them.
const (
	kindEnvironment = "environment"
	kindPolicy      = "policy"
	kindQueue       = "queue"
	kindQuotaShare  = "quota share"
)

// Change is one thing Apply changed: an environment, policy or queue it
// created, or one it updated and the fields that differed.
type Change struct {
	Kind    string // environment, policy or queue
	Name    string
	Created bool
	// Fields are the differences an update made, as "maxCapacity 8 -> 4".
	Fields []string
}

func (c Change) String() string {
	if c.Created {
		return fmt.Sprintf("created %s %s", c.Kind, c.Name)
	}
	return fmt.Sprintf("updated %s %s: %s", c.Kind, c.Name, strings.Join(c.Fields, ", "))
}

func created(kind, name string) *Change { return &Change{Kind: kind, Name: name, Created: true} }

// diff collects the fields whose stored value differs from the file's.
type diff struct{ fields []string }

func (d *diff) field(name string, stored, want any) {
	s, w := fmt.Sprint(stored), fmt.Sprint(want)
	if s == w {
		return
	}
	d.fields = append(d.fields, fmt.Sprintf("%s %s -> %s", name, shown(s), shown(w)))
}

// shown makes an empty value visible in a change.
func shown(s string) string {
	if s == "" {
		return `""`
	}
	return s
}

func (d *diff) empty() bool { return len(d.fields) == 0 }

func (d *diff) updated(kind, name string) *Change {
	return &Change{Kind: kind, Name: name, Fields: d.fields}
}

// nameOf is the name at the end of an ARN (or the name itself).
func nameOf(arnOrName string) string {
	return arnOrName[strings.LastIndex(arnOrName, "/")+1:]
}

func environmentsText(order []types.ServiceEnvironmentOrder) string {
	sorted := slices.Clone(order)
	slices.SortStableFunc(sorted, func(a, b types.ServiceEnvironmentOrder) int {
		return int(aws.ToInt32(a.Order)) - int(aws.ToInt32(b.Order))
	})
	var names []string
	for _, o := range sorted {
		names = append(names, nameOf(aws.ToString(o.ServiceEnvironment)))
	}
	return "[" + strings.Join(names, " ") + "]"
}

func sharesText(shares []types.ShareAttributes) string {
	return setText(shares, func(s types.ShareAttributes) string {
		return fmt.Sprintf("%s=%g", aws.ToString(s.ShareIdentifier), aws.ToFloat32(s.WeightFactor))
	})
}

func limitsText(limits []types.CapacityLimit) string {
	return setText(limits, func(l types.CapacityLimit) string {
		return fmt.Sprintf("%s=%d", aws.ToString(l.CapacityUnit), aws.ToInt32(l.MaxCapacity))
	})
}

func quotaLimitsText(limits []types.QuotaShareCapacityLimit) string {
	return setText(limits, func(l types.QuotaShareCapacityLimit) string {
		return fmt.Sprintf("%s=%d", aws.ToString(l.CapacityUnit), aws.ToInt32(l.MaxCapacity))
	})
}

// setText shows members whose order means nothing, sorted, so that the
// same set always reads the same.
func setText[T any](members []T, text func(T) string) string {
	out := make([]string, 0, len(members))
	for _, m := range members {
		out = append(out, text(m))
	}
	slices.Sort(out)
	return "[" + strings.Join(out, " ") + "]"
}

func timeLimitsText(limits []types.JobStateTimeLimitAction) string {
	var out []string
	for _, l := range limits {
		out = append(out, fmt.Sprintf("%s after %ds: %s", aws.ToString(l.Reason), aws.ToInt32(l.MaxTimeSeconds), l.Action))
	}
	return "[" + strings.Join(out, "; ") + "]"
}

// environmentPlan is the trainingPlanArn (an extension member, which the
// SDK drops) of the one environment of a DescribeServiceEnvironments
// response body.
func environmentPlan(body []byte) string {
	var doc struct {
		ServiceEnvironments []struct {
			TrainingPlanArn string `json:"trainingPlanArn"`
		} `json:"serviceEnvironments"`
	}
	if json.Unmarshal(body, &doc) != nil || len(doc.ServiceEnvironments) != 1 {
		return ""
	}
	return doc.ServiceEnvironments[0].TrainingPlanArn
}

// queueBackfill is the backfill setting (an extension member) of the one
// queue of a DescribeJobQueues response body.
func queueBackfill(body []byte) bool {
	var doc struct {
		JobQueues []struct {
			Backfill bool `json:"backfill"`
		} `json:"jobQueues"`
	}
	if json.Unmarshal(body, &doc) != nil || len(doc.JobQueues) != 1 {
		return false
	}
	return doc.JobQueues[0].Backfill
}

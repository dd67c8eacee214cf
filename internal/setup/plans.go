package setup

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/batch"

	"github.com/sagequeue/sagequeue/internal/model"
)

// LocalPlan is a training plan for the local SageMaker endpoint of
// `sagequeue serve` to emulate: InstanceCount instances of InstanceType in
// each of its windows. Environments name it by its ARN,
// arn:aws:sagemaker:local:000000000000:training-plan/<name>.
type LocalPlan struct {
	Name          string        `json:"name"`
	InstanceType  string        `json:"instanceType"`
	InstanceCount int32         `json:"instanceCount"`
	Windows       []LocalWindow `json:"windows"`
}

// LocalWindow is one window of a local plan: it starts at Start, or
// StartsIn after the server starts, and ends at End, or Duration after it
// starts.
type LocalWindow struct {
	Start    *time.Time `json:"start,omitempty"`
	StartsIn *Duration  `json:"startsIn,omitempty"`
	End      *time.Time `json:"end,omitempty"`
	Duration *Duration  `json:"duration,omitempty"`
}

// Times returns the window's start and end for a server started at t0.
func (w LocalWindow) Times(t0 time.Time) (start, end time.Time) {
	if w.Start != nil {
		start = *w.Start
	} else if w.StartsIn != nil {
		start = t0.Add(w.StartsIn.Duration)
	}
	if w.End != nil {
		end = *w.End
	} else if w.Duration != nil {
		end = start.Add(w.Duration.Duration)
	}
	return start, end
}

// Duration is a time.Duration written as in Go ("30s", "10m", "1h30m").
type Duration struct{ time.Duration }

// UnmarshalJSON implements json.Unmarshaler.
func (d *Duration) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return fmt.Errorf("a duration is a string like \"30s\" or \"10m\", got %s", b)
	}
	v, err := time.ParseDuration(s)
	if err != nil {
		return fmt.Errorf("a duration is a string like \"30s\" or \"10m\": %w", err)
	}
	d.Duration = v
	return nil
}

// MarshalJSON implements json.Marshaler.
func (d Duration) MarshalJSON() ([]byte, error) { return json.Marshal(d.String()) }

// validateLocalPlans checks the plans to emulate: what the file can get
// wrong, field by field.
func (c *Config) validateLocalPlans() error {
	seen := map[string]bool{}
	for i, p := range c.TrainingPlans {
		f := fmt.Sprintf("trainingPlans[%d]", i)
		switch {
		case p.Name == "":
			return fmt.Errorf("%s: name is required", f)
		case seen[strings.ToLower(p.Name)]:
			return fmt.Errorf("%s: training plan %s is declared twice", f, p.Name)
		case p.InstanceType == "":
			return fmt.Errorf("%s (%s): instanceType is required, such as ml.p5.48xlarge", f, p.Name)
		case p.InstanceCount < 1:
			return fmt.Errorf("%s (%s): instanceCount must be at least 1, got %d", f, p.Name, p.InstanceCount)
		case len(p.Windows) == 0:
			return fmt.Errorf("%s (%s): at least one window is required", f, p.Name)
		}
		seen[strings.ToLower(p.Name)] = true
		for k, w := range p.Windows {
			wf := fmt.Sprintf("%s (%s).windows[%d]", f, p.Name, k)
			switch {
			case (w.Start == nil) == (w.StartsIn == nil):
				return fmt.Errorf("%s: give either start (a time) or startsIn (a duration after the server starts)", wf)
			case (w.End == nil) == (w.Duration == nil):
				return fmt.Errorf("%s: give either end (a time) or duration", wf)
			case w.StartsIn != nil && w.StartsIn.Duration < 0:
				return fmt.Errorf("%s: startsIn must not be negative, got %s", wf, w.StartsIn)
			case w.Duration != nil && w.Duration.Duration <= 0:
				return fmt.Errorf("%s: duration must be positive, got %s", wf, w.Duration)
			case w.Start != nil && w.End != nil && !w.End.After(*w.Start):
				return fmt.Errorf("%s: end must be after start", wf)
			}
		}
	}
	return nil
}

// describedPlan is what planCapacities reads of the describetrainingplans
// extension operation.
type describedPlan struct {
	TrainingPlanArn string `json:"trainingPlanArn"`
	Status          string `json:"status"`
	Windows         []struct {
		Instances int64 `json:"instances"`
	} `json:"windows"`
	Error string `json:"error"`
}

// planCapacities describes every plan the environments name, through the
// API's describetrainingplans, and returns each plan's size: its
// instanceCount override, or the most instances any of its windows
// offers. A plan that cannot be described is an error naming it; so is a
// plan whose environments hold more than it has.
func planCapacities(ctx context.Context, client *batch.Client, c *Config) (map[string]int32, error) {
	arns := c.TrainingPlanArns()
	if len(arns) == 0 {
		return nil, nil
	}
	var out struct {
		TrainingPlans []describedPlan `json:"trainingPlans"`
	}
	if err := CallExtension(ctx, client, "describetrainingplans", map[string]any{"trainingPlans": arns}, &out); err != nil {
		return nil, fmt.Errorf("describing the training plans: %w", err)
	}
	size := map[string]int32{}
	for _, p := range out.TrainingPlans {
		if p.Error != "" {
			return nil, fmt.Errorf("training plan %s cannot be described: %s", p.TrainingPlanArn, p.Error)
		}
		if p.Status != model.PlanScheduled && p.Status != model.PlanActive {
			return nil, fmt.Errorf("training plan %s is %s: training jobs can use a plan only while it is Scheduled or Active", p.TrainingPlanArn, p.Status)
		}
		for _, w := range p.Windows {
			size[p.TrainingPlanArn] = max(size[p.TrainingPlanArn], int32(w.Instances))
		}
	}
	total := map[string]int32{}
	var envs = map[string][]string{}
	for _, e := range c.Environments {
		arn := e.PlanArn()
		if arn == "" {
			continue
		}
		if tp := e.TrainingPlan; tp != nil && tp.InstanceCount > 0 {
			size[arn] = tp.InstanceCount
		}
	}
	for _, e := range c.Environments {
		arn := e.PlanArn()
		if arn == "" {
			continue
		}
		n := e.Capacity()
		if n == 0 {
			n = size[arn]
		}
		total[arn] += n
		envs[arn] = append(envs[arn], fmt.Sprintf("%s %d", e.Name, n))
	}
	for _, arn := range arns {
		if size[arn] > 0 && total[arn] > size[arn] {
			return nil, fmt.Errorf("training plan %s has %d instances, but its environments hold %d together (%s)", arn, size[arn], total[arn], strings.Join(envs[arn], ", "))
		}
		if size[arn] == 0 {
			return nil, fmt.Errorf("training plan %s offers no instances in any window to come", arn)
		}
	}
	return size, nil
}

// partialWindowsOf is the partialWindows setting (an extension member) of
// the one environment or queue (list names the response's list) of a
// Describe response body.
func partialWindowsOf(body []byte, list string) bool {
	var doc map[string][]struct {
		PartialWindows bool `json:"partialWindows"`
	}
	if json.Unmarshal(body, &doc) != nil || len(doc[list]) != 1 {
		return false
	}
	return doc[list][0].PartialWindows
}

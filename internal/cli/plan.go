package cli

import (
	"encoding/json"
	"fmt"
	"strings"

	"github.com/spf13/cobra"
)

func init() { register(groupConfig, []string{"plan", "plans", "training-plan"}, newPlanCmd) }

func newPlanCmd(a *App) *cobra.Command {
	cmd := &cobra.Command{
		Use:     "plan",
		Aliases: []string{"plans", "training-plan"},
		Short:   "Show SageMaker training plans: windows, capacity now, jobs on them",
		Long: `Show the SageMaker training plans that service environments name, as
sagequeue sees them: SageMaker's status, the windows in which the plan
offers instances (each usable until SageMaker begins to take the instances
back, 30 minutes before its end), what the plan gives now, and the jobs of
sagequeue holding its instances. Plans are read through the sagequeue
extension operation describetrainingplans (docs/api.md).`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error { return cmd.Help() },
	}
	cmd.AddCommand(newPlanListCmd(a), newPlanDescribeCmd(a))
	return cmd
}

// planWindow, planEnv, planJob and planDetail are what the CLI reads of
// describetrainingplans.
type planWindow struct {
	StartTime   int64 `json:"startTime"`
	UsableUntil int64 `json:"usableUntil"`
	EndTime     int64 `json:"endTime"`
	Instances   int64 `json:"instances"`
}

type planEnv struct {
	ServiceEnvironmentName string `json:"serviceEnvironmentName"`
	State                  string `json:"state"`
	MaxCapacity            int64  `json:"maxCapacity"`
	PartialWindows         bool   `json:"partialWindows"`
	InstancesInUse         int64  `json:"instancesInUse"`
}

type planJob struct {
	JobID              string `json:"jobId"`
	JobName            string `json:"jobName"`
	JobQueue           string `json:"jobQueue"`
	Status             string `json:"status"`
	ServiceEnvironment string `json:"serviceEnvironment"`
	Instances          int64  `json:"instances"`
	ScheduledAt        int64  `json:"scheduledAt"`
	RuntimeBound       int64  `json:"runtimeBound"`
}

type planDetail struct {
	TrainingPlanArn     string       `json:"trainingPlanArn"`
	TrainingPlanName    string       `json:"trainingPlanName"`
	Status              string       `json:"status"`
	StatusMessage       string       `json:"statusMessage"`
	InstanceTypes       []string     `json:"instanceTypes"`
	TotalInstanceCount  int64        `json:"totalInstanceCount"`
	UnhealthyInstances  int64        `json:"unhealthyInstanceCount"`
	Windows             []planWindow `json:"windows"`
	CapacityNow         int64        `json:"capacityNow"`
	WindowEnd           int64        `json:"windowEnd"`
	NextWindowStart     int64        `json:"nextWindowStart"`
	InstancesInUse      int64        `json:"instancesInUse"`
	ServiceEnvironments []planEnv    `json:"serviceEnvironments"`
	Jobs                []planJob    `json:"jobs"`
	DescribedAt         int64        `json:"describedAt"`
	Error               string       `json:"error"`
}

// describePlans calls describetrainingplans; raw is its answer as is, for
// --output json.
func (a *App) describePlans(cmd *cobra.Command, names []string) (plans []planDetail, raw json.RawMessage, err error) {
	in := map[string]any{}
	if len(names) > 0 {
		in["trainingPlans"] = names
	}
	var out struct {
		TrainingPlans json.RawMessage `json:"trainingPlans"`
	}
	if err := a.callExtension(cmd.Context(), "describetrainingplans", in, &out); err != nil {
		return nil, nil, err
	}
	if err := json.Unmarshal(out.TrainingPlans, &plans); err != nil {
		return nil, nil, fmt.Errorf("describetrainingplans: unreadable answer: %w", err)
	}
	return plans, out.TrainingPlans, nil
}

func newPlanListCmd(a *App) *cobra.Command {
	return &cobra.Command{
		Use:   "list",
		Short: "List the training plans the service environments name",
		Example: `  sagequeue plan list
  sagequeue plan list -o json`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			plans, raw, err := a.describePlans(cmd, nil)
			if err != nil {
				return err
			}
			if a.json() {
				return a.printJSON(map[string]json.RawMessage{"trainingPlans": raw})
			}
			t := newTable(a.Stdout, "NAME", "STATUS", "TYPE", "NOW", "IN USE", "WINDOW", "ENVIRONMENTS")
			for _, p := range plans {
				var envs []string
				for _, e := range p.ServiceEnvironments {
					envs = append(envs, e.ServiceEnvironmentName)
				}
				status := p.Status
				if p.Error != "" && status == "" {
					status = "UNKNOWN"
				}
				t.row(p.TrainingPlanName, dash(status), dash(strings.Join(p.InstanceTypes, "+")),
					fmt.Sprint(p.CapacityNow), fmt.Sprint(p.InstancesInUse), a.windowSummary(p), dash(strings.Join(envs, ",")))
			}
			return t.flush()
		},
	}
}

// windowSummary says when the window in force ends or the next one opens.
func (a *App) windowSummary(p planDetail) string {
	switch {
	case p.WindowEnd > 0:
		return "open until " + a.shortTime(&p.WindowEnd)
	case p.NextWindowStart > 0:
		return "opens " + a.shortTime(&p.NextWindowStart)
	}
	return "-"
}

func newPlanDescribeCmd(a *App) *cobra.Command {
	return &cobra.Command{
		Use:   "describe [NAME|ARN...]",
		Short: "Show training plans in detail: windows, environments, jobs (all when none are named)",
		Long: `Show training plans in detail. A plan is named by its ARN, or by its name when a
service environment names it.`,
		Example: `  sagequeue plan describe p5-20-instances
  sagequeue plan describe arn:aws:sagemaker:us-east-1:111122223333:training-plan/p5-20-instances -o json`,
		RunE: func(cmd *cobra.Command, args []string) error {
			plans, raw, err := a.describePlans(cmd, args)
			if err != nil {
				return err
			}
			if a.json() {
				return a.printJSON(map[string]json.RawMessage{"trainingPlans": raw})
			}
			for i, p := range plans {
				if i > 0 {
					fmt.Fprintln(a.Stdout)
				}
				if err := a.printPlan(p); err != nil {
					return err
				}
			}
			return nil
		},
	}
}

func (a *App) printPlan(p planDetail) error {
	t := newTable(a.Stdout)
	field := func(k, v string) { t.row(k+":", v) }
	field("Name", p.TrainingPlanName)
	field("ARN", p.TrainingPlanArn)
	status := p.Status
	if p.StatusMessage != "" {
		status += " (" + p.StatusMessage + ")"
	}
	field("Status", dash(status))
	if p.Error != "" {
		field("Error", p.Error)
	}
	field("Instance type", dash(strings.Join(p.InstanceTypes, ", ")))
	field("Instances", fmt.Sprintf("%d (%d unhealthy)", p.TotalInstanceCount, p.UnhealthyInstances))
	field("Capacity now", fmt.Sprintf("%d, %d held by sagequeue's jobs", p.CapacityNow, p.InstancesInUse))
	field("Window", a.windowSummary(p))
	field("Described", a.longTime(&p.DescribedAt))
	if err := t.flush(); err != nil {
		return err
	}
	fmt.Fprintln(a.Stdout, "Windows:")
	wt := newTable(a.Stdout, "  START", "USABLE UNTIL", "END", "INSTANCES")
	for _, w := range p.Windows {
		wt.row("  "+a.longTime(&w.StartTime), a.longTime(&w.UsableUntil), a.longTime(&w.EndTime), fmt.Sprint(w.Instances))
	}
	if len(p.Windows) == 0 {
		wt.row("  -", "-", "-", "-")
	}
	if err := wt.flush(); err != nil {
		return err
	}
	fmt.Fprintln(a.Stdout, "Service environments:")
	et := newTable(a.Stdout, "  NAME", "STATE", "MAX INSTANCES", "IN USE", "PARTIAL WINDOWS")
	for _, e := range p.ServiceEnvironments {
		et.row("  "+e.ServiceEnvironmentName, e.State, fmt.Sprint(e.MaxCapacity), fmt.Sprint(e.InstancesInUse), fmt.Sprint(e.PartialWindows))
	}
	if err := et.flush(); err != nil {
		return err
	}
	if len(p.Jobs) == 0 {
		_, err := fmt.Fprintln(a.Stdout, "Jobs: none")
		return err
	}
	fmt.Fprintln(a.Stdout, "Jobs:")
	jt := newTable(a.Stdout, "  JOB ID", "NAME", "QUEUE", "STATUS", "INSTANCES", "SCHEDULED", "RUNTIME BOUND")
	for _, j := range p.Jobs {
		jt.row("  "+j.JobID, j.JobName, j.JobQueue, a.colorStatus(a.Stdout, j.Status), fmt.Sprint(j.Instances), a.shortTime(&j.ScheduledAt), fmt.Sprintf("%ds", j.RuntimeBound))
	}
	return jt.flush()
}

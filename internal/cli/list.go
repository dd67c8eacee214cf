package cli

import (
	"sort"
	"strconv"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/batch"
	"github.com/aws/aws-sdk-go-v2/service/batch/types"
	"github.com/spf13/cobra"
)

func init() { register(groupJobs, []string{"list"}, newListCmd) }

// Filter names of ListServiceJobs.
const (
	filterJobName         = "JOB_NAME"
	filterShareIdentifier = "SHARE_IDENTIFIER"
	filterAfterCreatedAt  = "AFTER_CREATED_AT"
	filterBeforeCreatedAt = "BEFORE_CREATED_AT"
)

type listOptions struct {
	queue, status, share, name  string
	createdAfter, createdBefore *timeFlag
	max                         int
}

func newListCmd(a *App) *cobra.Command {
	o := &listOptions{createdAfter: a.newTimeFlag(), createdBefore: a.newTimeFlag()}
	cmd := &cobra.Command{
		Use:   "list [flags]",
		Short: "List jobs, newest first",
		Long: `List service jobs, newest first (ListServiceJobs).

Without flags, jobs of every status are listed. Batch takes one filter per
request, so --name, --share, --created-after and --created-before exclude
each other, and --status combines only with --share (Batch ignores the job
status under the other filters). --share without --status lists the share's
jobs of every status.

--name matches job names case-insensitively; a trailing * matches a prefix.
--created-after and --created-before take an RFC 3339 time, a date, or a
duration meaning that long ago (2h).`,
		Example: `  sagequeue list -q research
  sagequeue list -q research --status RUNNABLE
  sagequeue list -q research --share team-a --status RUNNING
  sagequeue list -q research --name 'bert*'
  sagequeue list -q research --created-after 2h --max 20 -o json`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			return a.runList(cmd, o)
		},
	}
	f := cmd.Flags()
	f.StringVarP(&o.queue, "queue", "q", "", "job queue name or ARN")
	f.StringVarP(&o.status, "status", "s", "", "only jobs in this status: "+strings.Join(statusNames(), ", "))
	f.StringVar(&o.share, "share", "", "only jobs of this share identifier")
	f.StringVarP(&o.name, "name", "n", "", "only jobs with this name (case-insensitive; a trailing * matches a prefix)")
	f.Var(o.createdAfter, "created-after", "only jobs created after TIME (RFC 3339, a date, or a duration ago like 2h)")
	f.Var(o.createdBefore, "created-before", "only jobs created before TIME (RFC 3339, a date, or a duration ago like 2h)")
	f.IntVar(&o.max, "max", 0, "stop after N jobs (0: all)")
	return cmd
}

func statusNames() []string {
	var names []string
	for _, s := range types.ServiceJobStatus("").Values() {
		names = append(names, string(s))
	}
	return names
}

// listInputs turns the flags into the ListServiceJobs requests to make: one,
// or one per status for --share without --status.
func listInputs(o *listOptions) ([]*batch.ListServiceJobsInput, error) {
	if o.max < 0 {
		return nil, usagef("--max must be 0 or more, got %d", o.max)
	}
	var status types.ServiceJobStatus
	if o.status != "" {
		status = types.ServiceJobStatus(strings.ToUpper(o.status))
		valid := false
		for _, s := range status.Values() {
			valid = valid || s == status
		}
		if !valid {
			return nil, usagef("--status must be one of %s, got %q", strings.Join(statusNames(), ", "), o.status)
		}
	}
	var given []string
	if o.name != "" {
		given = append(given, "--name")
	}
	if o.share != "" {
		given = append(given, "--share")
	}
	if o.createdAfter.set {
		given = append(given, "--created-after")
	}
	if o.createdBefore.set {
		given = append(given, "--created-before")
	}
	if len(given) > 1 {
		return nil, usagef("%s cannot be combined: a job list takes one filter at a time (of --name, --share, --created-after, --created-before)",
			strings.Join(given, " and "))
	}
	if status != "" && len(given) == 1 && given[0] != "--share" {
		return nil, usagef("--status cannot be combined with %s: the job status is ignored under that filter (only --share combines with --status)", given[0])
	}

	base := batch.ListServiceJobsInput{}
	if o.queue != "" {
		base.JobQueue = aws.String(o.queue)
	}
	if o.max > 0 && o.max < 100 {
		base.MaxResults = aws.Int32(int32(o.max))
	}
	filter := func(name, value string) []types.KeyValuesPair {
		return []types.KeyValuesPair{{Name: aws.String(name), Values: []string{value}}}
	}
	ms := func(f *timeFlag) string { return strconv.FormatInt(f.T.UnixMilli(), 10) }
	switch {
	case o.name != "":
		base.Filters = filter(filterJobName, o.name)
	case o.createdAfter.set:
		base.Filters = filter(filterAfterCreatedAt, ms(o.createdAfter))
	case o.createdBefore.set:
		base.Filters = filter(filterBeforeCreatedAt, ms(o.createdBefore))
	case o.share != "":
		base.Filters = filter(filterShareIdentifier, o.share)
		if status == "" {
			// One request per status: without one, Batch lists RUNNING jobs only.
			var ins []*batch.ListServiceJobsInput
			for _, s := range status.Values() {
				in := base
				in.JobStatus = s
				ins = append(ins, &in)
			}
			return ins, nil
		}
		base.JobStatus = status
	case status != "":
		base.JobStatus = status
	default:
		// Without a status Batch lists RUNNING jobs only; the filter "created
		// after the epoch" lists jobs of every status.
		base.Filters = filter(filterAfterCreatedAt, "0")
	}
	return []*batch.ListServiceJobsInput{&base}, nil
}

func (a *App) runList(cmd *cobra.Command, o *listOptions) error {
	ins, err := listInputs(o)
	if err != nil {
		return err
	}
	ctx := cmd.Context()
	client, err := a.Batch(ctx)
	if err != nil {
		return err
	}
	jobs := []types.ServiceJobSummary{}
	for _, in := range ins {
		p := batch.NewListServiceJobsPaginator(client, in)
		for p.HasMorePages() && (o.max == 0 || len(ins) > 1 || len(jobs) < o.max) {
			page, err := p.NextPage(ctx)
			if err != nil {
				return err
			}
			jobs = append(jobs, page.JobSummaryList...)
		}
	}
	if len(ins) > 1 {
		sort.SliceStable(jobs, func(i, j int) bool {
			ci, cj := aws.ToInt64(jobs[i].CreatedAt), aws.ToInt64(jobs[j].CreatedAt)
			if ci != cj {
				return ci > cj
			}
			return aws.ToString(jobs[i].JobId) > aws.ToString(jobs[j].JobId)
		})
	}
	if o.max > 0 && len(jobs) > o.max {
		jobs = jobs[:o.max]
	}
	if a.json() {
		return writeJSON(a.Stdout, map[string]any{"jobSummaryList": toJSON(jobs)})
	}
	t := newTable(a.Stdout, "JOB ID", "NAME", a.colorCell(a.Stdout, "STATUS"), "SHARE", "INSTANCES", "CREATED", "STARTED", "STOPPED", "REASON")
	for _, j := range jobs {
		t.row(
			aws.ToString(j.JobId),
			aws.ToString(j.JobName),
			a.colorStatus(a.Stdout, string(j.Status)),
			dash(aws.ToString(j.ShareIdentifier)+aws.ToString(j.QuotaShareName)),
			summaryInstances(j.CapacityUsage),
			a.shortTime(j.CreatedAt),
			a.shortTime(j.StartedAt),
			a.shortTime(j.StoppedAt),
			dash(truncate(safe(aws.ToString(j.StatusReason)), reasonWidth)),
		)
	}
	return t.flush()
}

func summaryInstances(usage []types.ServiceJobCapacityUsageSummary) string {
	if len(usage) == 0 {
		return "-"
	}
	var total float64
	for _, u := range usage {
		total += aws.ToFloat64(u.Quantity)
	}
	return number(total)
}

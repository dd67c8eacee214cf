package cli

import (
	"context"
	"errors"
	"fmt"
	"os"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/batch"
	"github.com/aws/aws-sdk-go-v2/service/batch/types"
	"github.com/aws/smithy-go"
	"github.com/spf13/cobra"
)

func init() { register(groupJobs, []string{"watch"}, newWatchCmd) }

// Without getdashboard, watch counts a queue's jobs with ListServiceJobs,
// page by page: up to watchCountPages pages of the waiting and running
// states, one page of the finished ones, so that a refresh stays cheap
// at any backlog (a count that reaches the cap shows as "1000+").
const (
	watchPageSize     = 100
	watchCountPages   = 10
	watchRecentWindow = 24 * time.Hour // SUCCEEDED and FAILED counts, with getdashboard
)

func newWatchCmd(a *App) *cobra.Command {
	var (
		interval   = durationFlag{D: 2 * time.Second, set: true}
		iterations int
	)
	cmd := &cobra.Command{
		Use:   "watch QUEUE",
		Short: "Watch a queue live: counts, capacity, the front of the queue, the running jobs",
		Long: `Watch a queue like top: a header with the number of jobs in each state and
the instances in use of each of the queue's service environments, then the
jobs at the front of the queue and the jobs running, refreshed every
--interval.

On a terminal the screen is redrawn in place; press q (or Ctrl-C) to quit.
Otherwise (a pipe, a file) a plain frame is printed every --interval, and
with --output json one JSON object a line. --iterations stops after that
many refreshes.

With a sagequeue server it reads the extension operation getdashboard (exact
counts, SUCCEEDED and FAILED over the last 24 hours); elsewhere (AWS Batch)
it counts with ListServiceJobs, up to 1000 jobs a state, and reads
utilization with GetJobQueueSnapshot.`,
		Example: `  sagequeue watch research
  sagequeue watch research --interval 5s
  sagequeue watch research --iterations 1 -o json | jq .jobCounts`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if interval.D < 100*time.Millisecond {
				return usagef("--interval must be at least 100ms, got %s", interval.D)
			}
			if iterations < 0 {
				return usagef("--iterations must be 0 (no end) or more, got %d", iterations)
			}
			return a.runWatch(cmd, args[0], interval.D, iterations)
		},
	}
	f := cmd.Flags()
	f.VarP(&interval, "interval", "n", "time between refreshes, like 5s or 5 (seconds)")
	f.IntVar(&iterations, "iterations", 0, "stop after this many refreshes (0: until q or Ctrl-C)")
	return markNotFoundTarget(cmd)
}

// watchFrame is what one refresh shows.
type watchFrame struct {
	At           time.Time          `json:"-"`
	GeneratedAt  int64              `json:"generatedAt"`
	Queue        string             `json:"jobQueueName"`
	QueueArn     string             `json:"jobQueueArn"`
	State        string             `json:"state"`
	Priority     int32              `json:"priority"`
	FairShare    bool               `json:"fairShare"`
	Counts       map[string]int64   `json:"jobCounts"`
	Capped       []string           `json:"cappedCounts"`
	RecentWindow int64              `json:"recentSeconds,omitempty"`
	InUse        int64              `json:"instancesInUse"`
	Environments []watchEnvironment `json:"serviceEnvironments"`
	Shares       []watchShare       `json:"shares,omitempty"`
	Front        []watchJob         `json:"frontOfQueue"`
	Running      []watchJob         `json:"running"`
	Source       string             `json:"source"`
}

type watchEnvironment struct {
	Name     string `json:"serviceEnvironmentName"`
	State    string `json:"state"`
	InUse    int64  `json:"instancesInUse"`
	Capacity int64  `json:"maxCapacity"`
	// Approximate: without getdashboard, the usage of queues that span
	// several environments is counted in their first.
	Approximate bool `json:"approximate,omitempty"`
}

type watchShare struct {
	ID       string  `json:"shareIdentifier"`
	InUse    float64 `json:"instancesInUse"`
	Usage    float64 `json:"decayedUsage"`
	Runnable int64   `json:"runnable"`
	Weight   float64 `json:"weightFactor,omitempty"`
}

type watchJob struct {
	Position  int    `json:"position,omitempty"`
	JobID     string `json:"jobId"`
	Name      string `json:"jobName,omitempty"`
	Status    string `json:"status,omitempty"`
	Share     string `json:"shareIdentifier,omitempty"`
	Instances int64  `json:"instances,omitempty"`
	Since     int64  `json:"since,omitempty"` // at position since (front), started (running)
}

// watcher gathers frames of one queue.
type watcher struct {
	a      *App
	client *batch.Client
	queue  string
	// noDashboard is set once getdashboard turned out missing.
	noDashboard bool
	names       map[string][2]string // job id -> name and share, which never change
}

func (a *App) runWatch(cmd *cobra.Command, queue string, interval time.Duration, iterations int) error {
	ctx, cancel := context.WithCancel(cmd.Context())
	defer cancel()
	client, err := a.Batch(ctx)
	if err != nil {
		return err
	}
	w := &watcher{a: a, client: client, queue: queue, names: map[string][2]string{}, noDashboard: a.Endpoint == EndpointAWS}
	live := !a.json() && a.isTerminal(a.Stdout)
	if live {
		fmt.Fprint(a.Stdout, ansiAltScreen+ansiHideCursor)
		defer fmt.Fprint(a.Stdout, ansiShowCursor+ansiMainScreen)
		if f, ok := a.Stdin.(*os.File); ok && a.isTerminal(f) {
			if restore, ok := cbreak(f); ok {
				defer restore()
				go readKeys(f, cancel)
			}
		}
	}
	var last *watchFrame
	var problem string
	for n := 1; ; n++ {
		frame, err := w.frame(ctx)
		switch {
		case err == nil:
			last, problem = frame, ""
		case ctx.Err() != nil:
			return nil // q or Ctrl-C
		case last == nil:
			return err // the first refresh must work: a wrong name, no server
		default:
			// Later, the server may be restarting: keep the last frame.
			_, msg, ok := a.classifyAPI(cmd, err)
			if !ok {
				msg = err.Error()
			}
			problem = msg
		}
		switch {
		case a.json():
			if err := writeCompactJSON(a.Stdout, last); err != nil {
				return err
			}
		case live:
			cols, rows := a.termSize(a.Stdout)
			lines := a.renderWatch(last, interval, problem, cols, rows)
			var b strings.Builder
			b.WriteString(ansiHome)
			for i, l := range lines {
				if i > 0 {
					b.WriteString("\r\n")
				}
				b.WriteString(fitWidth(l, cols) + ansiClearToEOL)
			}
			b.WriteString(ansiClearToEOS)
			fmt.Fprint(a.Stdout, b.String())
		default:
			if n > 1 {
				fmt.Fprintln(a.Stdout)
			}
			for _, l := range a.renderWatch(last, interval, problem, 0, 0) {
				fmt.Fprintln(a.Stdout, strings.TrimRight(l, " "))
			}
		}
		if iterations > 0 && n >= iterations {
			return nil
		}
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(interval):
		}
	}
}

// readKeys cancels the watch when q (or Ctrl-C, should it arrive as a
// key) is pressed.
func readKeys(f *os.File, quit context.CancelFunc) {
	buf := make([]byte, 16)
	for {
		n, err := f.Read(buf)
		if err != nil {
			return
		}
		for _, c := range buf[:n] {
			if c == 'q' || c == 'Q' || c == 0x03 || c == 0x04 {
				quit()
				return
			}
		}
	}
}

// frame gathers one refresh.
func (w *watcher) frame(ctx context.Context) (*watchFrame, error) {
	f := &watchFrame{At: time.Now(), Counts: map[string]int64{}, Capped: []string{}}
	f.GeneratedAt = f.At.UnixMilli()
	if !w.noDashboard {
		err := w.fromDashboard(ctx, f)
		if err == nil {
			f.Source = "getdashboard"
		} else if missingOperation(err) {
			w.noDashboard = true
		} else {
			return nil, err
		}
	}
	if w.noDashboard {
		f.Source = "ListServiceJobs"
		if err := w.fromBatch(ctx, f); err != nil {
			return nil, err
		}
	}
	if err := w.jobs(ctx, f); err != nil {
		return nil, err
	}
	return f, nil
}

// missingOperation reports the error of a server without getdashboard.
func missingOperation(err error) bool {
	var ae smithy.APIError
	if errors.As(err, &ae) && (ae.ErrorCode() == "UnknownOperationException" || ae.ErrorCode() == "NotFoundException") {
		return true
	}
	var ee *exitError
	return errors.As(err, &ee) && ee.code == ExitUsage // callExtension against AWS
}

// dashboardResponse is what watch reads of getdashboard.
type dashboardResponse struct {
	RecentSeconds int64 `json:"recentSeconds"`
	JobQueues     []struct {
		Name                string           `json:"jobQueueName"`
		Arn                 string           `json:"jobQueueArn"`
		State               string           `json:"state"`
		Priority            int32            `json:"priority"`
		SchedulingPolicyArn string           `json:"schedulingPolicyArn"`
		ServiceEnvironments []string         `json:"serviceEnvironments"`
		JobCounts           map[string]int64 `json:"jobCounts"`
		CappedCounts        []string         `json:"cappedCounts"`
		InstancesInUse      int64            `json:"instancesInUse"`
		Fairshare           *struct {
			Shares []struct {
				ID           string  `json:"shareIdentifier"`
				Weight       float64 `json:"weightFactor"`
				InUse        int64   `json:"instancesInUse"`
				DecayedUsage float64 `json:"decayedUsage"`
				Runnable     int64   `json:"runnable"`
			} `json:"shares"`
		} `json:"fairshare"`
	} `json:"jobQueues"`
	ServiceEnvironments []struct {
		Name           string `json:"serviceEnvironmentName"`
		State          string `json:"state"`
		MaxCapacity    int64  `json:"maxCapacity"`
		InstancesInUse int64  `json:"instancesInUse"`
	} `json:"serviceEnvironments"`
}

func (w *watcher) fromDashboard(ctx context.Context, f *watchFrame) error {
	var d dashboardResponse
	in := map[string]any{"recentSeconds": int64(watchRecentWindow / time.Second)}
	if err := w.a.callExtension(ctx, "getdashboard", in, &d); err != nil {
		return err
	}
	for _, q := range d.JobQueues {
		if q.Name != w.queue && q.Arn != w.queue {
			continue
		}
		f.Queue, f.QueueArn, f.State, f.Priority, f.FairShare = q.Name, q.Arn, q.State, q.Priority, q.SchedulingPolicyArn != ""
		f.Counts, f.Capped, f.InUse, f.RecentWindow = q.JobCounts, q.CappedCounts, q.InstancesInUse, d.RecentSeconds
		if f.Capped == nil {
			f.Capped = []string{}
		}
		for _, name := range q.ServiceEnvironments {
			for _, e := range d.ServiceEnvironments {
				if e.Name == name {
					f.Environments = append(f.Environments, watchEnvironment{Name: e.Name, State: e.State, InUse: e.InstancesInUse, Capacity: e.MaxCapacity})
				}
			}
		}
		if q.Fairshare != nil {
			for _, s := range q.Fairshare.Shares {
				f.Shares = append(f.Shares, watchShare{ID: s.ID, InUse: float64(s.InUse), Usage: s.DecayedUsage, Runnable: s.Runnable, Weight: s.Weight})
			}
		}
		return nil
	}
	return notFoundf("jobQueue: job queue %s not found", w.queue)
}

// fromBatch fills the header with Batch operations only.
func (w *watcher) fromBatch(ctx context.Context, f *watchFrame) error {
	qs, err := w.client.DescribeJobQueues(ctx, &batch.DescribeJobQueuesInput{JobQueues: []string{w.queue}})
	if err != nil {
		return err
	}
	if len(qs.JobQueues) == 0 {
		return notFoundf("jobQueue: job queue %s not found", w.queue)
	}
	q := qs.JobQueues[0]
	f.Queue, f.QueueArn, f.State, f.Priority = aws.ToString(q.JobQueueName), aws.ToString(q.JobQueueArn), string(q.State), aws.ToInt32(q.Priority)
	f.FairShare = aws.ToString(q.SchedulingPolicyArn) != ""

	var mu sync.Mutex
	var wg sync.WaitGroup
	errs := make([]error, len(statusNames()))
	for i, s := range statusNames() {
		if s == "PENDING" {
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			pages := watchCountPages
			if s == "SUCCEEDED" || s == "FAILED" {
				pages = 1
			}
			n, capped, err := w.count(ctx, f.QueueArn, types.ServiceJobStatus(s), pages)
			mu.Lock()
			defer mu.Unlock()
			errs[i] = err
			f.Counts[s] = n
			if capped {
				f.Capped = append(f.Capped, s)
			}
		}()
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return err
	}
	sort.Strings(f.Capped)

	// Capacity: the queue's environments, and what every queue placing
	// jobs into them holds (GetJobQueueSnapshot's utilization).
	var envNames []string
	for _, o := range sortedEnvOrder(q.ServiceEnvironmentOrder) {
		envNames = append(envNames, aws.ToString(o.ServiceEnvironment))
	}
	if len(envNames) == 0 {
		return nil
	}
	envs, err := w.client.DescribeServiceEnvironments(ctx, &batch.DescribeServiceEnvironmentsInput{ServiceEnvironments: envNames})
	if err != nil {
		return err
	}
	all, err := w.client.DescribeJobQueues(ctx, &batch.DescribeJobQueuesInput{})
	if err != nil {
		return err
	}
	inUse := map[string]float64{}
	approx := map[string]bool{}
	for _, other := range all.JobQueues {
		order := sortedEnvOrder(other.ServiceEnvironmentOrder)
		if len(order) == 0 {
			continue
		}
		first := nameFromARN(aws.ToString(order[0].ServiceEnvironment))
		relevant := false
		for _, o := range order {
			for _, e := range envNames {
				relevant = relevant || nameFromARN(aws.ToString(o.ServiceEnvironment)) == nameFromARN(e)
			}
		}
		if !relevant {
			continue
		}
		snap, err := w.client.GetJobQueueSnapshot(ctx, &batch.GetJobQueueSnapshotInput{JobQueue: other.JobQueueArn})
		if err != nil {
			return err
		}
		var used float64
		if u := snap.QueueUtilization; u != nil {
			for _, c := range u.TotalCapacityUsage {
				used += aws.ToFloat64(c.Quantity)
			}
			if aws.ToString(other.JobQueueArn) == f.QueueArn {
				f.InUse = int64(used)
				if fs := u.FairshareUtilization; fs != nil {
					for _, s := range fs.TopCapacityUtilization {
						var n float64
						for _, c := range s.CapacityUsage {
							n += aws.ToFloat64(c.Quantity)
						}
						f.Shares = append(f.Shares, watchShare{ID: aws.ToString(s.ShareIdentifier), InUse: n})
					}
				}
			}
		}
		inUse[first] += used
		if len(order) > 1 {
			approx[first] = true
		}
	}
	for _, e := range envs.ServiceEnvironments {
		name := aws.ToString(e.ServiceEnvironmentName)
		var capacity int64
		for _, l := range e.CapacityLimits {
			capacity += int64(aws.ToInt32(l.MaxCapacity))
		}
		f.Environments = append(f.Environments, watchEnvironment{Name: name, State: string(e.State), InUse: int64(inUse[name]), Capacity: capacity, Approximate: approx[name]})
	}
	return nil
}

func sortedEnvOrder(o []types.ServiceEnvironmentOrder) []types.ServiceEnvironmentOrder {
	o = append([]types.ServiceEnvironmentOrder(nil), o...)
	sort.SliceStable(o, func(i, j int) bool { return aws.ToInt32(o[i].Order) < aws.ToInt32(o[j].Order) })
	return o
}

// count counts a queue's jobs in a status, reading at most pages pages.
func (w *watcher) count(ctx context.Context, queue string, status types.ServiceJobStatus, pages int) (int64, bool, error) {
	p := batch.NewListServiceJobsPaginator(w.client, &batch.ListServiceJobsInput{
		JobQueue: aws.String(queue), JobStatus: status, MaxResults: aws.Int32(watchPageSize),
	})
	var n int64
	for i := 0; p.HasMorePages(); i++ {
		if i == pages {
			return n, true, nil
		}
		page, err := p.NextPage(ctx)
		if err != nil {
			return 0, false, err
		}
		n += int64(len(page.JobSummaryList))
	}
	return n, false, nil
}

// jobs fills the front of the queue (GetJobQueueSnapshot, named with
// DescribeServiceJob once per job) and the running jobs (ListServiceJobs).
func (w *watcher) jobs(ctx context.Context, f *watchFrame) error {
	snap, err := w.client.GetJobQueueSnapshot(ctx, &batch.GetJobQueueSnapshotInput{JobQueue: aws.String(f.QueueArn)})
	if err != nil {
		return err
	}
	if front := snap.FrontOfQueue; front != nil {
		for i, j := range front.Jobs {
			if i == 50 {
				break // more than any screen shows
			}
			f.Front = append(f.Front, watchJob{Position: i + 1, JobID: jobIDFromARN(aws.ToString(j.JobArn)), Since: aws.ToInt64(j.EarliestTimeAtPosition)})
		}
	}
	var missing []int
	for i, j := range f.Front {
		if n, ok := w.names[j.JobID]; ok {
			f.Front[i].Name, f.Front[i].Share = n[0], n[1]
		} else if len(missing) < 20 {
			missing = append(missing, i)
		}
	}
	var wg sync.WaitGroup
	var mu sync.Mutex
	for _, i := range missing {
		wg.Add(1)
		go func() {
			defer wg.Done()
			d, err := w.client.DescribeServiceJob(ctx, &batch.DescribeServiceJobInput{JobId: aws.String(f.Front[i].JobID)})
			if err != nil {
				return // it may have just left the front; the next refresh tells
			}
			mu.Lock()
			defer mu.Unlock()
			f.Front[i].Name, f.Front[i].Share = aws.ToString(d.JobName), aws.ToString(d.ShareIdentifier)
			w.names[f.Front[i].JobID] = [2]string{f.Front[i].Name, f.Front[i].Share}
		}()
	}
	wg.Wait()
	for _, s := range []types.ServiceJobStatus{types.ServiceJobStatusRunning, types.ServiceJobStatusStarting, types.ServiceJobStatusScheduled} {
		page, err := w.client.ListServiceJobs(ctx, &batch.ListServiceJobsInput{JobQueue: aws.String(f.QueueArn), JobStatus: s, MaxResults: aws.Int32(watchPageSize)})
		if err != nil {
			return err
		}
		for _, j := range page.JobSummaryList {
			since := aws.ToInt64(j.StartedAt)
			if since == 0 {
				since = aws.ToInt64(j.ScheduledAt)
			}
			var inst float64
			for _, c := range j.CapacityUsage {
				inst += aws.ToFloat64(c.Quantity)
			}
			f.Running = append(f.Running, watchJob{JobID: aws.ToString(j.JobId), Name: aws.ToString(j.JobName), Status: string(j.Status),
				Share: aws.ToString(j.ShareIdentifier), Instances: int64(inst), Since: since})
		}
	}
	// Longest running first: what is about to finish, or stuck.
	sort.SliceStable(f.Running, func(i, j int) bool {
		a, b := f.Running[i].Since, f.Running[j].Since
		if a == 0 || b == 0 {
			return b == 0 && a != 0
		}
		return a < b
	})
	return nil
}

// renderWatch lays a frame out in lines. cols and rows bound it on a
// terminal (0: no bound); the lists are cut to fit, saying how many more.
func (a *App) renderWatch(f *watchFrame, interval time.Duration, problem string, cols, rows int) []string {
	w := a.Stdout
	kind := "FIFO"
	if f.FairShare {
		kind = "fair share"
	}
	title := fmt.Sprintf("sagequeue watch %s · %s · priority %d · %s", f.Queue, kind, f.Priority, f.State)
	right := fmt.Sprintf("every %s · %s", interval, f.At.In(a.Location).Format("15:04:05"))
	if rows > 0 {
		right += " · q quits"
	}
	head := title + "   " + right
	if cols > 0 && visibleWidth(title)+visibleWidth(right)+3 <= cols {
		head = title + strings.Repeat(" ", cols-visibleWidth(title)-visibleWidth(right)) + right
	}
	if a.colors(w) {
		head = sgrBold + head + sgrReset
	}
	lines := []string{head}

	capped := map[string]bool{}
	for _, s := range f.Capped {
		capped[s] = true
	}
	var counts []string
	for _, s := range statusNames() {
		if s == "PENDING" {
			continue
		}
		n := fmt.Sprint(f.Counts[s])
		if capped[s] {
			n += "+"
		}
		counts = append(counts, a.colorStatus(w, s)+" "+n)
	}
	jobs := "Jobs:  " + strings.Join(counts, "   ")
	if f.RecentWindow > 0 {
		window := formatElapsed(time.Duration(f.RecentWindow) * time.Second)
		if f.RecentWindow%3600 == 0 {
			window = fmt.Sprintf("%dh", f.RecentWindow/3600)
		}
		jobs += "   (finished: last " + window + ")"
	}
	lines = append(lines, jobs)
	for _, e := range f.Environments {
		pct := 0
		if e.Capacity > 0 {
			pct = int(100 * e.InUse / e.Capacity)
		}
		l := fmt.Sprintf("Env %s:  %s %d/%d instances in use (%d%%)", e.Name, bar(e.InUse, e.Capacity, 20), e.InUse, e.Capacity, pct)
		if e.State != "" && e.State != "ENABLED" {
			l += "  " + e.State
		}
		if e.Approximate {
			l += "  (approximate)"
		}
		lines = append(lines, l)
	}
	if len(f.Environments) == 0 {
		lines = append(lines, fmt.Sprintf("Instances in use: %d", f.InUse))
	}
	if len(f.Shares) > 0 {
		var parts []string
		for _, s := range f.Shares {
			p := fmt.Sprintf("%s %s in use", s.ID, number(s.InUse))
			if f.Source == "getdashboard" {
				p += fmt.Sprintf(", usage %s, %d waiting", number(roundTo(s.Usage, 2)), s.Runnable)
			}
			parts = append(parts, p)
		}
		lines = append(lines, "Shares:  "+strings.Join(parts, " · "))
	}
	if problem != "" {
		p := "(showing the last refresh: " + problem + ")"
		if a.colors(w) {
			p = sgrRed + p + sgrReset
		}
		lines = append(lines, p)
	}

	// The rest of the screen goes to the two lists: the front at most
	// half, the running jobs what is left.
	room := 1 << 30
	if rows > 0 {
		room = max(rows-len(lines)-6, 2) // the titles and headers of the lists take 6
	}
	frontRoom := min(len(f.Front), max(room/2, room-len(f.Running)))
	runRoom := max(room-frontRoom, 0)

	now := f.At.UnixMilli()
	lines = append(lines, "")
	waiting := f.Counts["RUNNABLE"]
	lines = append(lines, fmt.Sprintf("FRONT OF QUEUE (%d waiting)", waiting))
	if len(f.Front) == 0 {
		lines = append(lines, "  no jobs waiting")
	} else {
		lines = append(lines, a.tableLines([]string{"  #", "JOB ID", "NAME", "SHARE", "WAITING"}, len(f.Front), frontRoom, func(i int) []string {
			j := f.Front[i]
			return []string{fmt.Sprintf("  %d", j.Position), j.JobID, dash(j.Name), dash(j.Share), sinceText(now, j.Since)}
		})...)
	}
	lines = append(lines, "")
	lines = append(lines, fmt.Sprintf("RUNNING (%d)", len(f.Running)))
	if len(f.Running) == 0 {
		lines = append(lines, "  no jobs running")
	} else {
		lines = append(lines, a.tableLines([]string{"  JOB ID", "NAME", a.colorCell(w, "STATUS"), "SHARE", "INSTANCES", "FOR"}, len(f.Running), runRoom, func(i int) []string {
			j := f.Running[i]
			return []string{"  " + j.JobID, j.Name, a.colorStatus(w, j.Status), dash(j.Share), fmt.Sprint(j.Instances), sinceText(now, j.Since)}
		})...)
	}
	return lines
}

// tableLines renders up to room rows of n (the last saying how many more).
func (a *App) tableLines(header []string, n, room int, row func(int) []string) []string {
	var b strings.Builder
	t := newTable(&b, header...)
	show := n
	if n > room {
		show = max(room-1, 0)
	}
	for i := range show {
		t.row(row(i)...)
	}
	_ = t.flush()
	lines := strings.Split(strings.TrimRight(b.String(), "\n"), "\n")
	if show < n {
		lines = append(lines, fmt.Sprintf("  … %d more", n-show))
	}
	return lines
}

// bar draws used of total as a bar of width cells.
func bar(used, total int64, width int) string {
	filled := 0
	if total > 0 {
		filled = int(min(used, total) * int64(width) / total)
	}
	return "[" + strings.Repeat("█", filled) + strings.Repeat("░", width-filled) + "]"
}

func sinceText(now, since int64) string {
	if since == 0 {
		return "-"
	}
	return formatElapsed(time.Duration(max(now-since, 0)) * time.Millisecond)
}

func roundTo(f float64, digits int) float64 {
	p := 1.0
	for range digits {
		p *= 10
	}
	return float64(int64(f*p+0.5)) / p
}

package cli

import (
	"context"
	"fmt"
	"io"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/batch"
	"github.com/aws/aws-sdk-go-v2/service/batch/types"
	"github.com/spf13/cobra"
)

// waitOptions are the flags of submit --wait.
type waitOptions struct {
	wait     bool
	timeout  durationFlag
	interval time.Duration
}

func (o *waitOptions) addFlags(cmd *cobra.Command) {
	f := cmd.Flags()
	f.BoolVarP(&o.wait, "wait", "w", false, "wait until the job ends, showing its status; the exit code says how it ended (0 SUCCEEDED, 5 FAILED)")
	f.Var(&o.timeout, "wait-timeout", "stop waiting after this long (exit code 6; the job goes on)")
	f.DurationVar(&o.interval, "poll-interval", 2*time.Second, "how often --wait asks for the job's status")
}

func (o *waitOptions) check(cmd *cobra.Command) error {
	changed := cmd.Flags().Changed
	if !o.wait && (changed("wait-timeout") || changed("poll-interval")) {
		return usagef("--wait-timeout and --poll-interval need --wait")
	}
	if o.interval <= 0 {
		return usagef("--poll-interval must be positive, got %s", o.interval)
	}
	return nil
}

// spinner frames of the live status line.
var spinner = []string{"⠋", "⠙", "⠹", "⠸", "⠼", "⠴", "⠦", "⠧", "⠇", "⠏"}

// waiter polls jobs until they end and shows their progress on stderr: on
// a terminal one line rewritten in place, otherwise a line per change.
type waiter struct {
	a        *App
	client   *batch.Client
	o        *waitOptions
	w        io.Writer
	live     bool // a terminal: rewrite one line
	parallel int

	ids   []string
	start time.Time
	jobs  map[string]*batch.DescribeServiceJobOutput
	last  string // the last line printed, to print only changes
	frame int
	drawn bool
}

func (a *App) newWaiter(client *batch.Client, o *waitOptions, ids []string, parallel int) *waiter {
	return &waiter{
		a: a, client: client, o: o, w: a.Stderr, live: a.isTerminal(a.Stderr), parallel: max(parallel, 1),
		ids: ids, start: time.Now(), jobs: map[string]*batch.DescribeServiceJobOutput{},
	}
}

func finished(j *batch.DescribeServiceJobOutput) bool {
	return j != nil && (j.Status == types.ServiceJobStatusSucceeded || j.Status == types.ServiceJobStatusFailed)
}

// run polls until every job has ended, the wait times out, or ctx ends.
// The jobs' last states are in w.jobs either way.
func (w *waiter) run(ctx context.Context) error {
	var deadline <-chan time.Time
	if w.o.timeout.set {
		t := time.NewTimer(w.o.timeout.D)
		defer t.Stop()
		deadline = t.C
	}
	// The spinner and the elapsed time move every second on a terminal
	// even when the job's status does not.
	redraw := time.Second
	if !w.live {
		redraw = w.o.interval
	}
	nextPoll := time.Now()
	var trouble string
	for {
		if !time.Now().Before(nextPoll) {
			err := w.poll(ctx)
			switch {
			case err == nil:
				trouble = ""
			case ctx.Err() != nil:
			case transient(w.a, err):
				// The server restarting (or a network blip) is no reason
				// to give up on a job that may run for days.
				_, msg, _ := w.a.classifyAPI(nil, err)
				trouble = "retrying: " + msg
			default:
				w.clear()
				return err
			}
			nextPoll = time.Now().Add(w.o.interval)
		}
		if w.done() {
			// The report says how they ended (reportWait).
			w.clear()
			return nil
		}
		w.show(trouble)
		wait := min(redraw, time.Until(nextPoll))
		select {
		case <-ctx.Done():
			w.clear()
			return w.ended("interrupted")
		case <-deadline:
			w.clear()
			return w.ended("--wait-timeout " + w.o.timeout.D.String() + " passed")
		case <-time.After(max(wait, 10*time.Millisecond)):
		}
	}
}

// transient reports errors worth retrying: the service unavailable or
// unreachable.
func transient(a *App, err error) bool {
	code, _, ok := a.classifyAPI(nil, err)
	return ok && code == ExitUnavailable
}

// ended is the error of a wait that stopped before its jobs ended.
func (w *waiter) ended(why string) error {
	var open []string
	for _, id := range w.ids {
		if j := w.jobs[id]; !finished(j) {
			status := "unknown"
			if j != nil {
				status = string(j.Status)
			}
			open = append(open, fmt.Sprintf("%s is %s", id, status))
		}
	}
	what := strings.Join(open, ", ")
	if len(open) > 3 {
		what = fmt.Sprintf("%d jobs have not ended", len(open))
	}
	return &exitError{code: ExitWaitEnded, err: fmt.Errorf("stopped waiting (%s): %s; the job goes on", why, what)}
}

func (w *waiter) done() bool {
	for _, id := range w.ids {
		if !finished(w.jobs[id]) {
			return false
		}
	}
	return true
}

// poll describes the jobs that have not ended, a few at a time.
func (w *waiter) poll(ctx context.Context) error {
	var todo []string
	for _, id := range w.ids {
		if !finished(w.jobs[id]) {
			todo = append(todo, id)
		}
	}
	var (
		mu    sync.Mutex
		first error
		wg    sync.WaitGroup
		sem   = make(chan struct{}, w.parallel)
	)
	for _, id := range todo {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			out, err := w.client.DescribeServiceJob(ctx, &batch.DescribeServiceJobInput{JobId: aws.String(id)})
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				if first == nil {
					first = err
				}
				return
			}
			w.jobs[id] = out
		}()
	}
	wg.Wait()
	return first
}

// show prints the progress: rewritten in place on a terminal, a new line
// when it changed otherwise.
func (w *waiter) show(trouble string) {
	line, key := w.line(trouble)
	if w.live {
		cols, _ := w.a.termSize(w.w)
		w.frame++
		fmt.Fprint(w.w, ansiClearLine+fitWidth(spinner[w.frame%len(spinner)]+" "+line, cols-1))
		w.drawn = true
		return
	}
	if key != w.last {
		fmt.Fprintln(w.w, line)
		w.last = key
	}
}

// clear removes the live line, so that what follows starts on a clean line.
func (w *waiter) clear() {
	if w.live && w.drawn {
		fmt.Fprint(w.w, ansiClearLine)
		w.drawn = false
	}
}

// line is the progress line, and the part of it whose change is worth a
// new line when not on a terminal (not the elapsed time).
func (w *waiter) line(trouble string) (line, key string) {
	suffix := ""
	if trouble != "" {
		suffix = "  (" + trouble + ")"
	}
	if len(w.ids) == 1 {
		j := w.jobs[w.ids[0]]
		if j == nil {
			return "waiting for " + w.ids[0] + suffix, "start" + trouble
		}
		status := w.a.colorStatus(w.w, string(j.Status))
		reason := safe(aws.ToString(j.StatusReason))
		key = string(j.Status) + "\x00" + reason
		parts := []string{status, aws.ToString(j.JobName), elapsedText(j)}
		if reason != "" {
			parts = append(parts, reason)
		}
		return strings.Join(parts, "  ") + suffix, key + "\x00" + trouble
	}
	counts := map[string]int{}
	for _, id := range w.ids {
		status := "SUBMITTED"
		if j := w.jobs[id]; j != nil {
			status = string(j.Status)
		}
		counts[status]++
	}
	var parts []string
	for _, s := range statusNames() {
		if n := counts[s]; n > 0 {
			parts = append(parts, fmt.Sprintf("%d %s", n, w.a.colorStatus(w.w, s)))
		}
	}
	key = fmt.Sprint(counts)
	return fmt.Sprintf("%d jobs: %s  %s", len(w.ids), strings.Join(parts, ", "), formatElapsed(time.Since(w.start))) + suffix, key + trouble
}

// elapsedText is how long a job has existed, or took when it ended.
func elapsedText(j *batch.DescribeServiceJobOutput) string {
	created := aws.ToInt64(j.CreatedAt)
	if created == 0 {
		return "-"
	}
	end := time.Now().UnixMilli()
	if finished(j) && aws.ToInt64(j.StoppedAt) > 0 {
		end = aws.ToInt64(j.StoppedAt)
	}
	return formatElapsed(time.Duration(max(end-created, 0)) * time.Millisecond)
}

// formatElapsed writes a duration the way people read it: 45s, 12m03s,
// 3h07m, 2d04h.
func formatElapsed(d time.Duration) string {
	s := int64(d.Round(time.Second) / time.Second)
	switch {
	case s < 60:
		return fmt.Sprintf("%ds", s)
	case s < 3600:
		return fmt.Sprintf("%dm%02ds", s/60, s%60)
	case s < 86400:
		return fmt.Sprintf("%dh%02dm", s/3600, s%3600/60)
	}
	return fmt.Sprintf("%dd%02dh", s/86400, s%86400/3600)
}

// finalLine says how a job ended.
func (a *App) finalLine(j *batch.DescribeServiceJobOutput) string {
	reason := safe(aws.ToString(j.StatusReason))
	if reason == "" {
		reason = "-"
	}
	status := a.colorStatus(a.Stderr, string(j.Status))
	if aws.ToBool(j.IsTerminated) {
		status += " (terminated)"
	}
	return fmt.Sprintf("job %s (%s) %s after %s: %s", aws.ToString(j.JobId), aws.ToString(j.JobName), status, elapsedText(j), reason)
}

// reportWait says on stderr how the jobs ended and returns the exit code:
// a line for each job (one line in all when there are several and none
// FAILED), and ExitJobFailed when any FAILED. Error lines carry the
// "sagequeue: " prefix, as every error does.
func (a *App) reportWait(w *waiter) int {
	var failed []*batch.DescribeServiceJobOutput
	for _, id := range w.ids {
		j := w.jobs[id]
		if j.Status == types.ServiceJobStatusFailed {
			failed = append(failed, j)
		} else if len(w.ids) == 1 {
			fmt.Fprintln(a.Stderr, a.finalLine(j))
		}
	}
	sort.SliceStable(failed, func(i, j int) bool { return aws.ToInt64(failed[i].CreatedAt) < aws.ToInt64(failed[j].CreatedAt) })
	for _, j := range failed {
		a.errorLine(a.finalLine(j))
	}
	switch {
	case len(failed) > 0 && len(w.ids) > 1:
		a.errorLine(fmt.Sprintf("%d of %d jobs FAILED", len(failed), len(w.ids)))
	case len(w.ids) > 1:
		fmt.Fprintf(a.Stderr, "all %d jobs SUCCEEDED\n", len(w.ids))
	}
	if len(failed) > 0 {
		return ExitJobFailed
	}
	return ExitOK
}

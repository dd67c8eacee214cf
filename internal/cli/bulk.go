package cli

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/batch"
	"github.com/spf13/cobra"
)

// maxClientToken is the longest clientToken Batch takes.
const maxClientToken = 64

// bulk reports whether the flags ask for several jobs: --from-file,
// --count, or a brace list in a sweep flag's value.
func (o *submitOptions) bulk(cmd *cobra.Command) bool {
	if o.fromFile != "" || cmd.Flags().Changed("count") {
		return true
	}
	s, err := newSweep(o)
	return err != nil || len(s.axes) > 0
}

// clone copies options so that one job's overrides do not leak into the
// next.
func (o *submitOptions) clone() *submitOptions {
	c := *o
	for _, kv := range []*kvFlag{&c.hyperParameters, &c.environment, &c.tags} {
		kv.Map = maps.Clone(kv.Map)
		kv.Keys = slices.Clone(kv.Keys)
	}
	c.rules = slices.Clone(o.rules)
	return &c
}

// bulkJob is one job of a bulk submission.
type bulkJob struct {
	index int // 1-based
	line  int // line of --from-file, 0 for --count and sweeps
	in    *batch.SubmitServiceJobInput

	out *batch.SubmitServiceJobOutput
	err error
	msg string // err's message, as printed
}

// where names a job in messages: its file line, or its number.
func (j *bulkJob) where(file string) string {
	name := aws.ToString(j.in.JobName)
	if j.line > 0 {
		return fmt.Sprintf("%s:%d (%s)", file, j.line, name)
	}
	return fmt.Sprintf("job %d (%s)", j.index, name)
}

func (a *App) runBulkSubmit(cmd *cobra.Command, o *submitOptions, entry []string, payloadFile []byte) error {
	changed := cmd.Flags().Changed
	switch {
	case o.clientToken != "":
		return usagef("--client-token names one job; give a bulk submission --client-token-prefix (job i gets PREFIX-i)")
	case o.parallel < 1:
		return usagef("--parallel must be at least 1, got %d", o.parallel)
	case o.sweepMode != "grid" && o.sweepMode != "zip":
		return usagef("--sweep must be grid or zip, got %q", o.sweepMode)
	case changed("count") && o.count < 1:
		return usagef("--count must be at least 1, got %d", o.count)
	}
	var jobs []*bulkJob
	var err error
	fileName := o.fromFile
	if o.fromFile != "" {
		if fileName == "-" {
			fileName = "stdin"
		}
		jobs, err = a.fileJobs(cmd, o, entry, payloadFile, fileName)
	} else {
		jobs, err = a.sweepJobs(cmd, o, entry, payloadFile)
	}
	if err != nil {
		return err
	}
	if o.clientTokenPrefix != "" {
		if l := len(o.clientTokenPrefix) + 1 + len(strconv.Itoa(len(jobs))); l > maxClientToken {
			return usagef("--client-token-prefix: %q is too long: the tokens would have %d characters, at most %d", o.clientTokenPrefix, l, maxClientToken)
		}
		for _, j := range jobs {
			if j.in.ClientToken == nil {
				j.in.ClientToken = aws.String(o.clientTokenPrefix + "-" + strconv.Itoa(j.index))
			}
		}
	}

	ctx := cmd.Context()
	client, err := a.Batch(ctx)
	if err != nil {
		return err
	}
	a.submitAll(ctx, client, jobs, o.parallel)

	var submitted []string
	var failed []*bulkJob
	for _, j := range jobs {
		if j.err != nil {
			failed = append(failed, j)
		} else {
			submitted = append(submitted, aws.ToString(j.out.JobId))
		}
	}
	if !a.json() {
		if err := a.printBulk(jobs, o.fromFile != ""); err != nil {
			return err
		}
	}
	code := ExitOK
	for _, j := range failed {
		c, msg := a.classify(cmd, j.err)
		if code == ExitOK {
			code = c
		}
		j.msg = msg
		a.errorLine(j.where(fileName) + ": " + msg)
	}
	if len(failed) > 0 {
		a.errorLine(fmt.Sprintf("%d of %d jobs were not submitted", len(failed), len(jobs)))
	}

	var w *waiter
	if o.wait.wait && len(submitted) > 0 {
		w = a.newWaiter(client, &o.wait, submitted, o.parallel)
		if err := w.run(ctx); err != nil {
			return err
		}
	}
	if a.json() {
		if err := a.printBulkJSON(jobs, w, o.fromFile != ""); err != nil {
			return err
		}
	}
	if w != nil {
		if c := a.reportWait(w); code == ExitOK {
			code = c
		}
	}
	if code != ExitOK {
		return &silentExit{code: code}
	}
	return nil
}

// sweepJobs expands --count and the sweep flags into jobs.
func (a *App) sweepJobs(cmd *cobra.Command, o *submitOptions, entry []string, payloadFile []byte) ([]*bulkJob, error) {
	sw, err := newSweep(o)
	if err != nil {
		return nil, err
	}
	n := sw.size()
	if cmd.Flags().Changed("count") {
		n = o.count
	}
	if n > maxBulkJobs {
		return nil, usagef("that would submit %d jobs; one submission takes at most %d", n, maxBulkJobs)
	}
	if o.name == "" {
		return nil, usagef("--name is required: a template for the jobs' names, like 'sweep-{i}'")
	}
	nameTemplate := o.name
	if !hasPlaceholder(nameTemplate) {
		nameTemplate += "-{i}"
	}
	entrySegs, err := parseEntry(entry)
	if err != nil {
		return nil, err
	}
	jobs := make([]*bulkJob, 0, n)
	for k := range n {
		values := sw.jobValues(k, n)
		jo := o.clone()
		for flag, kv := range map[string]*kvFlag{"hyperparameter": &jo.hyperParameters, "env": &jo.environment, "tag": &jo.tags} {
			maps.Copy(kv.Map, values[flag])
		}
		lookup := refLookup(k, n, values)
		if jo.name, err = jobName(nameTemplate, lookup); err != nil {
			return nil, err
		}
		in, err := a.submitInput(jo, cmd.Flags().Changed, renderEntry(entrySegs, lookup), payloadFile)
		if err != nil {
			return nil, err
		}
		jobs = append(jobs, &bulkJob{index: k + 1, in: in})
	}
	return jobs, nil
}

func parseEntry(entry []string) ([][]segment, error) {
	out := make([][]segment, len(entry))
	for i, arg := range entry {
		segs, err := parseTemplate(arg, false)
		if err != nil {
			return nil, err
		}
		out[i] = segs
	}
	return out, nil
}

func renderEntry(segs [][]segment, lookup func(string) (string, bool)) []string {
	if segs == nil {
		return nil
	}
	out := make([]string, len(segs))
	for i, s := range segs {
		out[i] = render(s, lookup, nil)
	}
	return out
}

// Members of a --from-file line. Each overrides what the flag of the same
// meaning says; docs/cli.md describes them.
var fileMembers = []string{
	"name", "queue", "share", "priority", "image", "instanceType", "instanceCount", "maxRuntime", "roleArn",
	"hyperparameters", "env", "outputPath", "trainingPlanArn", "checkpointUri", "entrypoint", "attempts", "timeout", "tags",
	"clientToken", "payload",
}

// fileLine is one job of --from-file.
type fileLine struct {
	line    int
	members map[string]json.RawMessage
}

// parseJobsFile reads JSON Lines: one JSON object a line; blank lines and
// lines starting with # are skipped. Every bad line is reported, each with
// its number, so one run shows every mistake.
func parseJobsFile(name string, data []byte) ([]fileLine, []error) {
	var lines []fileLine
	var errs []error
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(nil, 1<<20)
	known := map[string]bool{}
	for _, m := range fileMembers {
		known[m] = true
	}
	n := 0
	for sc.Scan() {
		n++
		text := strings.TrimSpace(sc.Text())
		if n == 1 {
			text = strings.TrimPrefix(text, "\ufeff")
		}
		if text == "" || strings.HasPrefix(text, "#") {
			continue
		}
		bad := func(format string, args ...any) {
			errs = append(errs, fmt.Errorf("%s:%d: %s", name, n, fmt.Sprintf(format, args...)))
		}
		var members map[string]json.RawMessage
		d := json.NewDecoder(strings.NewReader(text))
		if err := d.Decode(&members); err != nil || members == nil {
			if err == nil {
				err = errors.New("null")
			}
			bad("not a JSON object: %s", jsonErrorText(err))
			continue
		}
		if d.More() {
			bad("more than one JSON value on the line (one job a line)")
			continue
		}
		var unknown []string
		for k := range members {
			if !known[k] {
				unknown = append(unknown, strconv.Quote(k))
			}
		}
		if len(unknown) > 0 {
			sort.Strings(unknown)
			bad("unknown member %s (known: %s)", strings.Join(unknown, ", "), strings.Join(fileMembers, ", "))
			continue
		}
		lines = append(lines, fileLine{line: n, members: members})
	}
	if err := sc.Err(); err != nil {
		errs = append(errs, fmt.Errorf("%s: %v", name, err))
	}
	if len(lines) == 0 && len(errs) == 0 {
		errs = append(errs, fmt.Errorf("%s: no jobs in the file", name))
	}
	return lines, errs
}

// jsonErrorText shortens encoding/json's messages.
func jsonErrorText(err error) string {
	var syn *json.SyntaxError
	if errors.As(err, &syn) {
		return fmt.Sprintf("%v (at character %d)", syn, syn.Offset)
	}
	if errors.Is(err, io.ErrUnexpectedEOF) {
		return "unexpected end of the line"
	}
	return strings.TrimPrefix(err.Error(), "json: ")
}

// fileJobs makes a job of every line of --from-file over the flags.
func (a *App) fileJobs(cmd *cobra.Command, o *submitOptions, entry []string, payloadFile []byte, fileName string) ([]*bulkJob, error) {
	if sw, err := newSweep(o); err != nil || len(sw.axes) > 0 || cmd.Flags().Changed("count") {
		return nil, usagef("--from-file takes its jobs from the file: it cannot be combined with --count or brace lists in the flags")
	}
	data, err := a.readInput(o.fromFile, "--from-file")
	if err != nil {
		return nil, err
	}
	lines, errs := parseJobsFile(fileName, data)
	nameTemplate := o.name
	if nameTemplate != "" && !hasPlaceholder(nameTemplate) {
		nameTemplate += "-{i}"
	}
	entrySegs, err := parseEntry(entry)
	if err != nil {
		return nil, err
	}
	var jobs []*bulkJob
	for i, l := range lines {
		jo := o.clone()
		given := map[string]bool{}
		jentry, patch, err := applyLine(jo, given, l.members)
		if err == nil {
			values := map[string]map[string]string{"hyperparameter": jo.hyperParameters.Map, "env": jo.environment.Map, "tag": jo.tags.Map}
			lookup := refLookup(i, len(lines), values)
			if _, named := l.members["name"]; !named {
				if nameTemplate == "" {
					err = errors.New(`no "name" member, and no --name to make one from`)
				} else {
					jo.name, err = jobName(nameTemplate, lookup)
				}
			}
			if jentry == nil {
				jentry = renderEntry(entrySegs, lookup)
			}
		}
		var in *batch.SubmitServiceJobInput
		if err == nil {
			changed := func(flag string) bool { return given[flag] || cmd.Flags().Changed(flag) }
			in, err = a.submitInput(jo, changed, jentry, payloadFile)
		}
		if err == nil && patch != nil {
			err = patchPayload(in, patch)
		}
		if err != nil {
			var ee *exitError
			if errors.As(err, &ee) {
				err = ee.err
			}
			errs = append(errs, fmt.Errorf("%s:%d: %v", fileName, l.line, err))
			continue
		}
		jobs = append(jobs, &bulkJob{index: i + 1, line: l.line, in: in})
	}
	if len(errs) > 0 {
		// Nothing is submitted while any line is wrong: a half-submitted
		// file is harder to finish than a corrected one to run.
		for _, e := range errs {
			a.errorLine(e.Error())
		}
		if len(errs) > 1 {
			a.errorLine(fmt.Sprintf("%d lines of %s are wrong; nothing was submitted", len(errs), fileName))
		}
		return nil, &silentExit{code: ExitUsage}
	}
	return jobs, nil
}

// applyLine sets a line's members into the options; given records the
// flags the line counts as giving. It returns the line's entry point and
// payload patch, if it has them.
func applyLine(o *submitOptions, given map[string]bool, members map[string]json.RawMessage) (entry []string, patch map[string]any, err error) {
	for _, k := range fileMembers {
		raw, ok := members[k]
		if !ok {
			continue
		}
		bad := func(want string) error {
			return fmt.Errorf("member %q: must be %s, got %s", k, want, truncate(string(raw), 40))
		}
		str := func(dst *string) error {
			if json.Unmarshal(raw, dst) != nil {
				return bad("a string")
			}
			return nil
		}
		switch k {
		case "name":
			err = str(&o.name)
		case "queue":
			err = str(&o.queue)
		case "share":
			err = str(&o.share)
		case "image":
			err = str(&o.image)
		case "roleArn":
			err = str(&o.roleArn)
		case "outputPath":
			err = str(&o.outputPath)
		case "trainingPlanArn":
			err = str(&o.trainingPlanArn)
		case "checkpointUri":
			err = str(&o.checkpointURI)
		case "clientToken":
			err = str(&o.clientToken)
		case "instanceType":
			err = str(&o.instanceType)
			given["instance-type"] = true
		case "priority":
			if json.Unmarshal(raw, &o.priority) != nil {
				err = bad("an integer")
			}
			given["priority"] = true
		case "attempts":
			if json.Unmarshal(raw, &o.attempts) != nil {
				err = bad("an integer")
			}
			given["attempts"] = true
		case "instanceCount":
			if json.Unmarshal(raw, &o.instanceCount) != nil {
				err = bad("an integer")
			}
			given["instance-count"] = true
		case "maxRuntime":
			err = durationMember(raw, &o.maxRuntime, bad)
		case "timeout":
			err = durationMember(raw, &o.timeout, bad)
		case "hyperparameters":
			err = stringsMember(raw, &o.hyperParameters, bad)
		case "env":
			err = stringsMember(raw, &o.environment, bad)
		case "tags":
			err = stringsMember(raw, &o.tags, bad)
		case "entrypoint":
			if json.Unmarshal(raw, &entry) != nil || len(entry) == 0 {
				err = bad("a non-empty array of strings (the command and its arguments)")
			}
		case "payload":
			if json.Unmarshal(raw, &patch) != nil || patch == nil {
				err = bad("a JSON object (merged into the CreateTrainingJob request)")
			}
		}
		if err != nil {
			return nil, nil, err
		}
	}
	return entry, patch, nil
}

// durationMember reads a duration: a string like "2h" or a number of seconds.
func durationMember(raw json.RawMessage, dst *durationFlag, bad func(string) error) error {
	var s string
	if json.Unmarshal(raw, &s) != nil {
		var n json.Number
		if json.Unmarshal(raw, &n) != nil {
			return bad(`a duration ("2h") or a number of seconds`)
		}
		s = n.String()
	}
	if err := dst.Set(s); err != nil {
		return bad(`a duration ("2h") or a number of seconds`)
	}
	return nil
}

// stringsMember merges an object of strings (numbers and booleans are
// taken as written: hyperparameters are strings to SageMaker).
func stringsMember(raw json.RawMessage, dst *kvFlag, bad func(string) error) error {
	var m map[string]json.RawMessage
	if json.Unmarshal(raw, &m) != nil || m == nil {
		return bad("an object of strings")
	}
	keys := slices.Sorted(maps.Keys(m))
	for _, key := range keys {
		v := bytes.TrimSpace(m[key])
		var s string
		switch {
		case json.Unmarshal(v, &s) == nil:
		case len(v) > 0 && (v[0] == '-' || v[0] >= '0' && v[0] <= '9' || string(v) == "true" || string(v) == "false"):
			s = string(v)
		default:
			return bad("an object of strings (or numbers)")
		}
		if key == "" {
			return bad("an object without empty keys")
		}
		if err := dst.Set(key + "=" + s); err != nil {
			return bad("an object of strings")
		}
	}
	return nil
}

// patchPayload merges patch into the request's payload as a JSON Merge
// Patch (RFC 7386): objects merge member by member, null deletes a member,
// anything else replaces.
func patchPayload(in *batch.SubmitServiceJobInput, patch map[string]any) error {
	d := json.NewDecoder(strings.NewReader(aws.ToString(in.ServiceRequestPayload)))
	d.UseNumber()
	var doc map[string]any
	if err := d.Decode(&doc); err != nil || doc == nil {
		return fmt.Errorf(`member "payload": the payload it patches is not a JSON object`)
	}
	merged := mergePatch(doc, patch)
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(merged); err != nil {
		return err
	}
	in.ServiceRequestPayload = aws.String(strings.TrimSpace(buf.String()))
	return nil
}

func mergePatch(target any, patch any) any {
	p, ok := patch.(map[string]any)
	if !ok {
		return patch
	}
	t, ok := target.(map[string]any)
	if !ok {
		t = map[string]any{}
	}
	for k, v := range p {
		if v == nil {
			delete(t, k)
			continue
		}
		t[k] = mergePatch(t[k], v)
	}
	return t
}

// submitAll submits the jobs, parallel at a time, with a progress bar on
// stderr when it is a terminal.
func (a *App) submitAll(ctx context.Context, client *batch.Client, jobs []*bulkJob, parallel int) {
	var (
		mu      sync.Mutex
		done    int
		failed  int
		wg      sync.WaitGroup
		sem     = make(chan struct{}, parallel)
		live    = a.isTerminal(a.Stderr)
		start   = time.Now()
		stopBar = make(chan struct{})
		barDone = make(chan struct{})
	)
	draw := func() {
		mu.Lock()
		d, f := done, failed
		mu.Unlock()
		cols, _ := a.termSize(a.Stderr)
		fmt.Fprint(a.Stderr, ansiClearLine+a.progressBar(d, f, len(jobs), time.Since(start), cols-1))
	}
	if live {
		go func() {
			defer close(barDone)
			t := time.NewTicker(100 * time.Millisecond)
			defer t.Stop()
			for {
				draw()
				select {
				case <-stopBar:
					return
				case <-t.C:
				}
			}
		}()
	} else {
		close(barDone)
	}
	for _, j := range jobs {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			j.out, j.err = client.SubmitServiceJob(ctx, j.in)
			mu.Lock()
			done++
			if j.err != nil {
				failed++
			}
			mu.Unlock()
		}()
	}
	wg.Wait()
	close(stopBar)
	<-barDone
	if live {
		draw()
		fmt.Fprintln(a.Stderr)
	}
}

// progressBar is "[#####.....] 42/100 submitted, 2 failed  3s", fitted to
// cols columns.
func (a *App) progressBar(done, failed, total int, took time.Duration, cols int) string {
	text := fmt.Sprintf(" %d/%d submitted", done, total)
	if failed > 0 {
		f := fmt.Sprintf("%d failed", failed)
		if a.colors(a.Stderr) {
			f = sgrRed + f + sgrReset
		}
		text += ", " + f
	}
	text += "  " + formatElapsed(took)
	width := min(40, cols-visibleWidth(text)-2)
	if width < 5 {
		return fitWidth(strings.TrimSpace(text), cols)
	}
	filled := width * done / max(total, 1)
	return "[" + strings.Repeat("█", filled) + strings.Repeat("░", width-filled) + "]" + text
}

// printBulk prints the submitted jobs in their order, as a table.
func (a *App) printBulk(jobs []*bulkJob, fromFile bool) error {
	header := []string{"#", "JOB ID", "NAME"}
	if fromFile {
		header = []string{"#", "LINE", "JOB ID", "NAME"}
	}
	t := newTable(a.Stdout, header...)
	for _, j := range jobs {
		if j.err != nil {
			continue
		}
		row := []string{strconv.Itoa(j.index), aws.ToString(j.out.JobId), aws.ToString(j.out.JobName)}
		if fromFile {
			row = slices.Insert(row, 1, strconv.Itoa(j.line))
		}
		t.row(row...)
	}
	return t.flush()
}

// printBulkJSON prints {"submitted": [...], "failed": [...]} and, after
// --wait, "jobs": the final DescribeServiceJob outputs.
func (a *App) printBulkJSON(jobs []*bulkJob, w *waiter, fromFile bool) error {
	submitted := []any{}
	failed := []any{}
	finals := []any{}
	for _, j := range jobs {
		entry := map[string]any{"index": j.index}
		if fromFile {
			entry["line"] = j.line
		}
		if j.err != nil {
			entry["jobName"] = aws.ToString(j.in.JobName)
			entry["message"] = j.msg
			failed = append(failed, entry)
			continue
		}
		maps.Copy(entry, toJSON(j.out).(map[string]any))
		submitted = append(submitted, entry)
		if w != nil {
			if d := w.jobs[aws.ToString(j.out.JobId)]; d != nil {
				finals = append(finals, toJSON(d))
			}
		}
	}
	out := map[string]any{"submitted": submitted, "failed": failed}
	if w != nil {
		out["jobs"] = finals
	}
	return writeJSON(a.Stdout, out)
}

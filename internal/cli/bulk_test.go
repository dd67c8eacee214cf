package cli

import (
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

func TestParseTemplate(t *testing.T) {
	for _, c := range []struct {
		in    string
		lists bool
		want  []segment
	}{
		{"lr={0.1,0.01}", true, []segment{{lit: "lr="}, {values: []string{"0.1", "0.01"}}}},
		{"{1..3}", true, []segment{{values: []string{"1", "2", "3"}}}},
		{"{3..1}", true, []segment{{values: []string{"3", "2", "1"}}}},
		{"{0..10..5}", true, []segment{{values: []string{"0", "5", "10"}}}},
		{"s{01..03}", true, []segment{{lit: "s"}, {values: []string{"01", "02", "03"}}}},
		{"{a,b}", false, []segment{{lit: "{a,b}"}}}, // no lists in names and entry points
		{"run-{i}-{lr}", false, []segment{{lit: "run-"}, {ref: "i"}, {lit: "-"}, {ref: "lr"}}},
		{`\{i\}`, true, []segment{{lit: "{i}"}}},
		{"echo ${HOME} {i}", false, []segment{{lit: "echo ${HOME} "}, {ref: "i"}}},
		{`{"a":1,"b":[1,2]}`, true, []segment{{lit: `{"a":1,"b":[1,2]}`}}}, // JSON stays
		{"{not a ref}", true, []segment{{lit: "{not a ref}"}}},
		{"open{", true, []segment{{lit: "open{"}}},
	} {
		got, err := parseTemplate(c.in, c.lists)
		if err != nil || !reflect.DeepEqual(got, c.want) {
			t.Errorf("parseTemplate(%q, %v) = %+v, %v; want %+v", c.in, c.lists, got, err, c.want)
		}
	}
	if _, err := parseTemplate("{1..100000}", true); exitCodeOf(err) != ExitUsage {
		t.Errorf("a huge range: %v", err)
	}
}

// sweepBodies runs a bulk submit against a recorder and returns the
// SubmitServiceJob bodies in job order.
func sweepBodies(t *testing.T, args ...string) (result, []map[string]any) {
	t.Helper()
	rec := newRecorder(t)
	rec.reply = func(op string, body map[string]any) (int, string, any) {
		return 200, "", map[string]any{"jobId": "id-" + body["jobName"].(string), "jobName": body["jobName"], "jobArn": "arn"}
	}
	r := runCLI(t, rec.URL(), "", args...)
	rec.mu.Lock()
	defer rec.mu.Unlock()
	byName := map[string]map[string]any{}
	for _, q := range rec.reqs {
		byName[q.body["jobName"].(string)] = q.body
	}
	// Concurrent submissions arrive in any order; the table printed them
	// in job order.
	var bodies []map[string]any
	for _, line := range strings.Split(strings.TrimSpace(r.stdout), "\n")[1:] {
		f := strings.Fields(line)
		bodies = append(bodies, byName[f[len(f)-1]])
	}
	return r, bodies
}

func payloadOf(t *testing.T, body map[string]any) map[string]any {
	t.Helper()
	var p map[string]any
	if err := json.Unmarshal([]byte(body["serviceRequestPayload"].(string)), &p); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestSweepExpansion(t *testing.T) {
	// A grid: the first flag varies slowest; names from the values.
	r, bodies := sweepBodies(t, "submit", "-q", "q", "-n", "lr{lr}-bs{bs}", "--hyperparameter", "lr={0.1,0.01}",
		"--hyperparameter", "bs={32,64}", "--hyperparameter", "epochs=3", "--env", "RUN=r{i}of{n}",
		"--client-token-prefix", "sw1", "--", "python", "train.py", "--seed", "{i}", "--lr", "{lr}", "${HOME}")
	wantCode(t, r, ExitOK)
	var names, tokens []string
	var args [][]any
	for _, b := range bodies {
		names = append(names, b["jobName"].(string))
		tokens = append(tokens, b["clientToken"].(string))
		p := payloadOf(t, b)
		args = append(args, dig(p, "AlgorithmSpecification", "ContainerArguments").([]any))
		if dig(p, "HyperParameters", "epochs") != "3" {
			t.Errorf("the fixed hyperparameter is lost: %v", p)
		}
	}
	if want := []string{"lr0_1-bs32", "lr0_1-bs64", "lr0_01-bs32", "lr0_01-bs64"}; !reflect.DeepEqual(names, want) {
		t.Fatalf("names %v, want %v", names, want)
	}
	if want := []string{"sw1-1", "sw1-2", "sw1-3", "sw1-4"}; !reflect.DeepEqual(tokens, want) {
		t.Fatalf("tokens %v", tokens)
	}
	if want := []any{"train.py", "--seed", "3", "--lr", "0.01", "${HOME}"}; !reflect.DeepEqual(args[2], want) {
		t.Fatalf("entry point of job 3: %v", args[2])
	}
	p := payloadOf(t, bodies[3])
	if dig(p, "HyperParameters", "lr") != "0.01" || dig(p, "HyperParameters", "bs") != "64" || dig(p, "Environment", "RUN") != "r4of4" {
		t.Fatalf("job 4's payload %v", p)
	}

	// zip: the lists advance together; --count cycles.
	_, bodies = sweepBodies(t, "submit", "-q", "q", "-n", "z", "--sweep", "zip", "--count", "5",
		"--hyperparameter", "lr={1,2,3}", "--hyperparameter", "wd={a,b}", "--", "x")
	var got []string
	for _, b := range bodies {
		p := payloadOf(t, b)
		got = append(got, b["jobName"].(string)+":"+dig(p, "HyperParameters", "lr").(string)+dig(p, "HyperParameters", "wd").(string))
	}
	if want := []string{"z-1:1a", "z-2:2b", "z-3:3a", "z-4:1b", "z-5:2a"}; !reflect.DeepEqual(got, want) {
		t.Fatalf("zip %v, want %v", got, want)
	}

	// --count alone: copies, told apart by {i}.
	_, bodies = sweepBodies(t, "submit", "-q", "q", "-n", "seed", "--count", "3", "--", "train", "--seed={i}")
	if len(bodies) != 3 || bodies[2]["jobName"] != "seed-3" || dig(payloadOf(t, bodies[2]), "AlgorithmSpecification", "ContainerArguments").([]any)[0] != "--seed=3" {
		t.Fatalf("count: %v", bodies)
	}

	// Usage errors, before anything is sent.
	for _, args := range [][]string{
		{"submit", "-q", "q", "-n", "x-{nope}", "--count", "2", "--", "x"},                                              // unknown placeholder in the name
		{"submit", "-q", "q", "-n", "x", "--count", "0", "--", "x"},                                                     // no jobs
		{"submit", "-q", "q", "-n", "x", "--count", "20000", "--", "x"},                                                 // too many
		{"submit", "-q", "q", "-n", "x", "--hyperparameter", "a={1..200}", "--hyperparameter", "b={1..200}", "--", "x"}, // a 40,000-job grid
		{"submit", "-q", "q", "-n", "x", "--count", "2", "--client-token", "t", "--", "x"},                              // one token for many jobs
		{"submit", "-q", "q", "-n", "x", "--count", "2", "--sweep", "cartesian", "--", "x"},
		{"submit", "-q", "q", "-n", "x", "--count", "2", "--client-token-prefix", strings.Repeat("p", 63), "--", "x"},
	} {
		rec := newRecorder(t)
		wantCode(t, runCLI(t, rec.URL(), "", args...), ExitUsage)
		if rec.count() != 0 {
			t.Fatalf("%v sent %d requests", args, rec.count())
		}
	}
}

func writeFile(t *testing.T, name, content string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestJobsFileParsingErrors(t *testing.T) {
	file := writeFile(t, "jobs.jsonl", `{"name": "fine", "hyperparameters": {"lr": 0.1}}
{"name": "broken",
# a comment, and a blank line:

{"name": "x", "nmae": "typo"}
{"name": "y", "priority": "high"}
{"name": "z", "entrypoint": "python train.py"}
{"name": "w", "payload": {"ResourceConfig": {"InstanceCount": 2}}, "maxRuntime": "soon"}
[1, 2]
`)
	rec := newRecorder(t)
	r := runCLI(t, rec.URL(), "", "submit", "-q", "q", "--from-file", file, "--", "python", "train.py")
	if r.code != ExitUsage || rec.count() != 0 {
		t.Fatalf("exit %d after %d requests\n%s", r.code, rec.count(), r)
	}
	for _, want := range []string{
		"sagequeue: " + file + `:2: not a JSON object: unexpected end of the line`,
		"sagequeue: " + file + `:5: unknown member "nmae" (known: name, queue,`,
		"sagequeue: " + file + `:6: member "priority": must be an integer, got "high"`,
		"sagequeue: " + file + `:7: member "entrypoint": must be a non-empty array of strings`,
		"sagequeue: " + file + `:8: member "maxRuntime": must be a duration`,
		"sagequeue: " + file + `:9: not a JSON object`,
		"sagequeue: 6 lines of " + file + " are wrong; nothing was submitted",
	} {
		if !strings.Contains(r.stderr, want) {
			t.Errorf("stderr lacks %q:\n%s", want, r.stderr)
		}
	}
	if strings.Contains(r.stderr, ":1:") || strings.Contains(r.stderr, ":3:") {
		t.Errorf("good lines reported:\n%s", r.stderr)
	}
	// From stdin, and a file without jobs.
	r = runCLI(t, rec.URL(), "{\"name\": 1}\n", "submit", "-q", "q", "--from-file", "-", "--", "x")
	if r.code != ExitUsage || !strings.Contains(r.stderr, `stdin:1: member "name": must be a string, got 1`) {
		t.Fatalf("stdin: %s", r)
	}
	wantCode(t, runCLI(t, rec.URL(), "", "submit", "-q", "q", "--from-file", writeFile(t, "empty.jsonl", "\n# nothing\n"), "--", "x"), ExitUsage)
	wantCode(t, runCLI(t, rec.URL(), "", "submit", "-q", "q", "--from-file", file, "--count", "2", "--", "x"), ExitUsage)
}

func TestBulkSubmitSummarizesFailures(t *testing.T) {
	s := newServer(t)
	s.ok(t, "env", "create", "gpu", "--max-capacity", "4")
	s.ok(t, "queue", "create", "research", "--priority", "1", "--env", "gpu")
	s.ok(t, "queue", "create", "other", "--priority", "1", "--env", "gpu")
	file := writeFile(t, "jobs.jsonl", `{"name": "a", "hyperparameters": {"lr": "0.1"}, "tags": {"k": "v"}}
{"hyperparameters": {"lr": "0.2"}}
{"name": "bad name!"}
{"name": "elsewhere", "queue": "other", "entrypoint": ["python", "eval.py"], "payload": {"ResourceConfig": {"VolumeSizeInGB": 100}, "StoppingCondition": null}}
{"name": "lost", "queue": "nope"}
{"name": "big", "instanceCount": 3, "maxRuntime": "2h", "priority": 5, "attempts": 2, "timeout": 3600, "env": {"X": "1"}}
`)
	r := s.run(t, "submit", "-q", "research", "-n", "exp", "--from-file", file, "--client-token-prefix", "run1", "--", "python", "train.py", "--lr", "{lr}")
	if r.code != ExitRefused {
		t.Fatalf("exit %d, want %d\n%s", r.code, ExitRefused, r)
	}
	// Every failure named by its line, then the count.
	for _, want := range []string{
		"sagequeue: " + file + ":3 (bad name!): jobName: may contain only letters",
		"sagequeue: " + file + ":5 (lost): jobQueue: ",
		"sagequeue: 2 of 6 jobs were not submitted",
	} {
		if !strings.Contains(r.stderr, want) {
			t.Errorf("stderr lacks %q:\n%s", want, r.stderr)
		}
	}
	lines := strings.Split(strings.TrimSpace(r.stdout), "\n")
	if len(lines) != 5 || !strings.HasPrefix(lines[0], "#  LINE  JOB ID") || !strings.Contains(lines[2], "exp-2") {
		t.Fatalf("table:\n%s", r.stdout)
	}
	noANSI(t, "stdout", r.stdout)

	// What the jobs became.
	m := s.okJSON(t, "list", "-q", "other")
	jobs := m["jobSummaryList"].([]any)
	if len(jobs) != 1 {
		t.Fatalf("other: %v", jobs)
	}
	id := jobs[0].(map[string]any)["jobId"].(string)
	d := s.okJSON(t, "describe", id)
	p := map[string]any{}
	_ = json.Unmarshal([]byte(d["serviceRequestPayload"].(string)), &p)
	if dig(p, "ResourceConfig", "VolumeSizeInGB") != 100.0 || p["StoppingCondition"] != nil ||
		!reflect.DeepEqual(dig(p, "AlgorithmSpecification", "ContainerArguments"), []any{"eval.py"}) {
		t.Fatalf("payload of the line with a patch: %v", p)
	}
	byName := map[string]map[string]any{}
	for _, j := range s.okJSON(t, "list", "-q", "research")["jobSummaryList"].([]any) {
		byName[j.(map[string]any)["jobName"].(string)] = j.(map[string]any)
	}
	big := s.okJSON(t, "describe", byName["big"]["jobId"].(string))
	_ = json.Unmarshal([]byte(big["serviceRequestPayload"].(string)), &p)
	if dig(p, "ResourceConfig", "InstanceCount") != 3.0 || dig(p, "StoppingCondition", "MaxRuntimeInSeconds") != 7200.0 ||
		big["schedulingPriority"] != 5.0 || dig(big, "retryStrategy", "attempts") != 2.0 || dig(big, "timeoutConfig", "attemptDurationSeconds") != 3600.0 {
		t.Fatalf("big: %v", big)
	}
	second := s.okJSON(t, "describe", byName["exp-2"]["jobId"].(string))
	_ = json.Unmarshal([]byte(second["serviceRequestPayload"].(string)), &p)
	if !reflect.DeepEqual(dig(p, "AlgorithmSpecification", "ContainerArguments"), []any{"train.py", "--lr", "0.2"}) {
		t.Fatalf("line 2's entry point: %v", p)
	}

	// Running the same command again submits nothing new: the derived
	// client tokens return the jobs made the first time.
	again := s.run(t, "-o", "json", "submit", "-q", "research", "-n", "exp", "--from-file", file, "--client-token-prefix", "run1", "--", "python", "train.py", "--lr", "{lr}")
	var out struct {
		Submitted []map[string]any `json:"submitted"`
		Failed    []map[string]any `json:"failed"`
	}
	if err := json.Unmarshal([]byte(again.stdout), &out); err != nil {
		t.Fatal(err)
	}
	if again.code != ExitRefused || len(out.Submitted) != 4 || len(out.Failed) != 2 || out.Failed[0]["line"] != 3.0 || out.Failed[1]["line"] != 5.0 {
		t.Fatalf("again: %v", out)
	}
	if out.Submitted[0]["jobId"] != byName["a"]["jobId"] || out.Submitted[0]["line"] != 1.0 || out.Submitted[0]["index"] != 1.0 {
		t.Fatalf("a re-run made a new job: %v vs %v", out.Submitted[0], byName["a"])
	}
	if n := len(s.okJSON(t, "list")["jobSummaryList"].([]any)); n != 4 {
		t.Fatalf("%d jobs after the re-run, want 4", n)
	}
}

func TestBulkProgressBarOnATerminal(t *testing.T) {
	s := newServer(t)
	s.ok(t, "env", "create", "gpu", "--max-capacity", "4")
	s.ok(t, "queue", "create", "research", "--priority", "1", "--env", "gpu")
	r := runWith(t, s.url, runOpts{terminal: true}, "submit", "-q", "research", "-n", "p", "--count", "20", "--parallel", "4", "--", "x")
	if r.code != 0 || !strings.Contains(r.stderr, "20/20 submitted") || !strings.Contains(r.stderr, ansiClearLine+"[") {
		t.Fatalf("progress bar: %q", r.stderr)
	}
	// Not a terminal: no bar at all.
	r = runWith(t, s.url, runOpts{}, "submit", "-q", "research", "-n", "p", "--count", "3", "--", "x")
	if r.code != 0 || r.stderr != "" {
		t.Fatalf("not a terminal: %q", r.stderr)
	}
}

func TestBulkWait(t *testing.T) {
	s := startLive(t)
	r := runWith(t, s.url, runOpts{}, "submit", "-q", "q", "-n", "w{code}", "--hyperparameter", "code={0,0,4}", "--wait", "--poll-interval", "50ms",
		"--", "sh", "-c", "exit {code}")
	if r.code != ExitJobFailed || !strings.Contains(r.stderr, "(w4) FAILED after") || !strings.Contains(r.stderr, "sagequeue: 1 of 3 jobs FAILED") {
		t.Fatalf("%s", r)
	}
	r = runWith(t, s.url, runOpts{}, "-o", "json", "submit", "-q", "q", "-n", "ok", "--count", "2", "--wait", "--poll-interval", "50ms", "--", "true")
	var out struct{ Jobs []map[string]any }
	if err := json.Unmarshal([]byte(r.stdout), &out); err != nil || r.code != 0 || len(out.Jobs) != 2 || out.Jobs[1]["status"] != "SUCCEEDED" {
		t.Fatalf("json: %v %s", err, r)
	}
}

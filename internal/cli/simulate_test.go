package cli

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// simFiles writes a configuration (FIFO queue q on 2 instances, with or
// without backfill) and a trace: r1 holds one instance for 100 s, big needs
// both from t=1, small needs one for 50 s from t=2. FIFO starts small after
// big (t=110); backfill starts it at once, as it ends (t=52) before big's
// reservation (t=100).
func simFiles(t *testing.T) (fifo, backfill, trace string) {
	dir := t.TempDir()
	write := func(name, text string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	const config = "environments: [{name: pool, maxCapacity: 2}]\nqueues: [{name: q, priority: 1, environments: [pool]%s}]\n"
	fifo = write("fifo.yaml", strings.Replace(config, "%s", "", 1))
	backfill = write("backfill.yaml", strings.Replace(config, "%s", ", backfill: true", 1))
	trace = write("jobs.csv", `id,arrival,duration,instances,queue,share,priority,maxRuntime
r1,0,100,1,q,a,,100
big,1,10,2,,b,,10
small,2,50,1,q,a,0,50
`)
	return fifo, backfill, trace
}

func TestSimulateTable(t *testing.T) {
	fifo, _, trace := simFiles(t)
	r := runCLI(t, "", "", "simulate", "--config", fifo, "--trace", trace)
	wantCode(t, r, ExitOK)
	for _, want := range []string{"Trace:", trace + " (sagequeue): 3 jobs", "2 instances; queue q (FIFO)", "Utilization", "Idle while waiting", "3 placed",
		"WAIT", "queue q", "q/a", "q/b", "SHARE", "COMPETING", "1m 9s"} { // mean wait (0 + 99 + 108) / 3 s
		if !strings.Contains(r.stdout, want) {
			t.Fatalf("simulate table lacks %q:\n%s", want, r.stdout)
		}
	}
}

func TestSimulateJSONAndCompare(t *testing.T) {
	fifo, backfill, trace := simFiles(t)
	r := runCLI(t, "", "", "simulate", "--config", fifo, "--trace", trace, "--json")
	wantCode(t, r, ExitOK)
	var one map[string]any
	if err := json.Unmarshal([]byte(r.stdout), &one); err != nil {
		t.Fatalf("--json output is not JSON: %v\n%s", err, r.stdout)
	}
	for _, k := range []string{"jobs", "placed", "unfinished", "utilization", "idleWhileWaiting", "waitSeconds", "shares", "passes", "wallSeconds"} {
		if _, ok := one[k]; !ok {
			t.Fatalf("--json lacks %q: %s", k, r.stdout)
		}
	}
	if dig(one, "jobs") != 3.0 || dig(one, "placed") != 3.0 || dig(one, "unfinished") != 0.0 || dig(one, "waitSeconds", "mean") != 69.0 ||
		dig(one, "waitSeconds", "max") != 108.0 || dig(one, "waitSeconds", "p50") != 99.0 {
		t.Fatalf("--json figures: %s", r.stdout)
	}
	for _, k := range []string{"utilization", "idleWhileWaiting"} {
		if f, _ := one[k].(float64); f < 0 || f > 1 {
			t.Fatalf("%s = %v, want a fraction", k, one[k])
		}
	}
	share, _ := dig(one, "shares").(map[string]any)["q/a"].(map[string]any)
	if share == nil || share["waitSeconds"] == nil || share["achieved"] == nil {
		t.Fatalf("shares.q/a: %v", dig(one, "shares"))
	}

	r = runCLI(t, "", "", "simulate", "--config", fifo, "--trace", trace, "--compare", backfill, "-o", "json")
	wantCode(t, r, ExitOK)
	var two map[string]map[string]any
	if err := json.Unmarshal([]byte(r.stdout), &two); err != nil {
		t.Fatalf("--compare --json output: %v\n%s", err, r.stdout)
	}
	if dig(two["a"], "waitSeconds", "mean") != 69.0 || dig(two["b"], "waitSeconds", "mean") != 33.0 {
		t.Fatalf("mean waits: FIFO %v, backfill %v; want 69 and 33 (small backfilled)", dig(two["a"], "waitSeconds", "mean"), dig(two["b"], "waitSeconds", "mean"))
	}

	r = runCLI(t, "", "", "simulate", "--config", fifo, "--trace", trace, "--compare", backfill)
	wantCode(t, r, ExitOK)
	for _, want := range []string{"A fifo.yaml", "B backfill.yaml", "B - A", "wait mean", "1m 9s", "33s", "-52.2 %"} {
		if !strings.Contains(r.stdout, want) {
			t.Fatalf("--compare table lacks %q:\n%s", want, r.stdout)
		}
	}
}

// TestSimulateHTML: --html writes one page that needs nothing else: no
// scripts, styles or images fetched from anywhere.
func TestSimulateHTML(t *testing.T) {
	fifo, backfill, trace := simFiles(t)
	page := filepath.Join(t.TempDir(), "report.html")
	r := runCLI(t, "", "", "simulate", "--config", fifo, "--trace", trace, "--compare", backfill, "--html", page)
	wantCode(t, r, ExitOK)
	b, err := os.ReadFile(page)
	if err != nil {
		t.Fatal(err)
	}
	html := string(b)
	for _, want := range []string{"<!DOCTYPE html>", "<svg", "Instances in use", "Jobs waiting", "Instances held per share", "fifo.yaml", "backfill.yaml"} {
		if !strings.Contains(html, want) {
			t.Fatalf("the report lacks %q", want)
		}
	}
	for _, bad := range []string{"http://", "https://", "<script src", "<link", "<img", "@import"} {
		if strings.Contains(html, bad) {
			t.Fatalf("the report refers to something outside itself: %q", bad)
		}
	}
}

func TestSimulateRefusesBadInput(t *testing.T) {
	fifo, _, trace := simFiles(t)
	dir := t.TempDir()
	bad := filepath.Join(dir, "bad.csv")
	os.WriteFile(bad, []byte("id,arrival,duration,instances\nx,0,10,1\ny,5,-3,1\n"), 0o644)
	unknown := filepath.Join(dir, "unknown.csv")
	os.WriteFile(unknown, []byte("id,arrival,duration,instances,queue\nx,0,10,1,research\n"), 0o644)
	tests := map[string]struct {
		args []string
		want string
	}{
		"a negative field":   {[]string{"--config", fifo, "--trace", bad}, "bad.csv: line 3, column duration: must not be negative, got -3"},
		"an unknown queue":   {[]string{"--config", fifo, "--trace", unknown}, "line 2, column queue: unknown queue research"},
		"an unknown --queue": {[]string{"--config", fifo, "--trace", trace, "--queue", "other"}, "--queue other: no such queue"},
		"no trace":           {[]string{"--config", fifo}, "--config and --trace are required"},
		"a missing file":     {[]string{"--config", fifo, "--trace", filepath.Join(dir, "none.csv")}, "none.csv: no such file"},
		"a bad format":       {[]string{"--config", fifo, "--trace", trace, "--format", "slurm"}, "--format must be sagequeue or openb"},
		"a bad bound":        {[]string{"--config", fifo, "--trace", trace, "--runtime-bound", "0.5x"}, "--runtime-bound"},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			r := runCLI(t, "", "", append([]string{"simulate"}, tc.args...)...)
			wantCode(t, r, ExitUsage)
			if !strings.Contains(r.stderr, tc.want) || r.stdout != "" {
				t.Fatalf("want nothing simulated and an error containing %q:\n%s", tc.want, r)
			}
		})
	}
}

// TestSimulateOpenBTrace runs the shared trace as docs/simulate.md does.
func TestSimulateOpenBTrace(t *testing.T) {
	traces := filepath.Join("..", "..", "examples", "traces")
	r := runCLI(t, "", "", "simulate", "--config", filepath.Join(traces, "backfill.yaml"),
		"--trace", filepath.Join(traces, "openb_pod_list_default.first-half.csv"), "--format", "openb", "--capacity", "52", "--json")
	wantCode(t, r, ExitOK)
	var out map[string]any
	if err := json.Unmarshal([]byte(r.stdout), &out); err != nil {
		t.Fatal(err)
	}
	if dig(out, "jobs") != 3123.0 || dig(out, "placed") != 3123.0 || dig(out, "capacity") != 52.0 ||
		dig(out, "skippedRows", "no GPU") != 608.0 || dig(out, "shares", "jobs/ls", "waitSeconds", "jobs") != 1496.0 {
		t.Fatalf("the openb trace: %s", r.stdout)
	}
}

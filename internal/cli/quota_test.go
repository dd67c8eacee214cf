package cli

import (
	"context"
	"strings"
	"testing"

	"github.com/sagequeue/sagequeue/internal/model"
)

func TestIntegrationQuotaShares(t *testing.T) {
	s := newServer(t)
	s.ok(t, "policy", "create", "quotas", "--quota")
	s.ok(t, "env", "create", "gpus-env", "--limit", "ml.p5.48xlarge=4", "--limit", "ml.g6.xlarge=2")
	s.ok(t, "queue", "create", "gpus", "--env", "gpus-env", "--policy", "quotas", "--priority", "1")
	arn := strings.TrimSpace(s.ok(t, "quota-share", "create", "research", "-q", "gpus", "--limit", "ml.p5.48xlarge=2",
		"--strategy", "lend_and_borrow", "--borrow-limit", "100", "--tag", "team=r"))
	if arn != model.LocalAccount.ARN(model.KindJobQueue, "gpus")+"/quota-share/research" {
		t.Fatalf("create printed %q", arn)
	}
	s.ok(t, "quota-share", "create", "prod", "-q", "gpus", "--limit", "ml.p5.48xlarge=2", "--strategy", "LEND", "--in-share-preemption", "ENABLED")
	s.fails(t, 2, "--queue, --limit and --strategy are required", "quota-share", "create", "x", "-q", "gpus")
	s.fails(t, 1, "borrowLimit: applies only to the LEND_AND_BORROW strategy", "quota-share", "create", "x", "-q", "gpus",
		"--limit", "ml.p5.48xlarge=1", "--strategy", "RESERVE", "--borrow-limit", "5")

	// A job of a share, held in the store as running on 3 instances.
	id := strings.TrimSpace(s.ok(t, "submit", "-q", "gpus", "-n", "big", "--quota-share", "research", "--preemption-retries", "2",
		"--instance-type", "ml.p5.48xlarge", "--instance-count", "3", "--", "sleep", "1"))
	j, err := s.st.GetJob(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	if j.QuotaShareName != "research" || j.PreemptionConfiguration == nil || *j.PreemptionConfiguration.RetriesBeforeTermination != 2 {
		t.Fatalf("submitted job %+v", j)
	}
	j.Status, j.ServiceEnvironment = model.StatusRunning, model.LocalAccount.ARN(model.KindServiceEnvironment, "gpus-env")
	if _, err := s.st.UpdateJob(context.Background(), j, nil); err != nil {
		t.Fatal(err)
	}

	out := s.ok(t, "quota-share", "list", "-q", "gpus")
	for _, want := range []string{"research", "LEND_AND_BORROW (borrow up to 100%)", "prod", "ENABLED"} {
		if !strings.Contains(out, want) {
			t.Fatalf("list lacks %q:\n%s", want, out)
		}
	}
	// research holds 3 of its quota of 2: borrowed 1; prod lends its 2.
	if f := strings.Fields(rowOf(out, "research")); strings.Join(f[len(f)-4:], " ") != "2 3 1 0" {
		t.Fatalf("research row %q, want quota 2, in use 3, borrowed 1, lendable 0", rowOf(out, "research"))
	}
	if f := strings.Fields(rowOf(out, "prod")); strings.Join(f[len(f)-4:], " ") != "2 0 0 2" {
		t.Fatalf("prod row %q, want quota 2, in use 0, borrowed 0, lendable 2", rowOf(out, "prod"))
	}
	desc := s.ok(t, "quota-share", "describe", "research", "-q", "gpus")
	if !strings.Contains(desc, "quota 2, in use 3, borrowed 1") || !strings.Contains(desc, "team") {
		t.Fatalf("describe:\n%s", desc)
	}
	m := s.okJSON(t, "quota-share", "describe", arn)
	if m["quotaShareName"] != "research" {
		t.Fatalf("describe -o json %v", m)
	}
	s.ok(t, "quota-share", "update", "research", "-q", "gpus", "--limit", "ml.p5.48xlarge=1", "--state", "DISABLED")
	if m := s.okJSON(t, "quota-share", "describe", arn); m["state"] != "DISABLED" {
		t.Fatalf("after update %v", m)
	}
	s.fails(t, 1, "still has unfinished jobs", "quota-share", "delete", "research", "-q", "gpus")
	s.ok(t, "quota-share", "delete", "prod", "-q", "gpus")
	s.fails(t, 3, "quota share prod not found", "quota-share", "describe", "prod", "-q", "gpus")
}

func rowOf(table, name string) string {
	for _, l := range strings.Split(table, "\n") {
		if strings.HasPrefix(l, name+" ") {
			return l
		}
	}
	return ""
}

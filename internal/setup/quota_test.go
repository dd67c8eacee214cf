package setup_test

import (
	"context"
	"strings"
	"testing"

	"github.com/sagequeue/sagequeue/internal/setup"
)

const quotaConfig = `
# quota management: 4 p5 instances, research (2, borrows) and prod (2, lends)
environments:
  - name: gpus
    limits: {ml.p5.48xlarge: 4}
policies:
  - name: quotas
    quota: true
queues:
  - name: teams
    priority: 1
    environments: [gpus]
    policy: quotas
    quotaShares:
      - {name: research, limits: {ml.p5.48xlarge: 2}, strategy: LEND_AND_BORROW, borrowLimit: 100}
      - {name: prod, limits: {ml.p5.48xlarge: 2}, strategy: LEND, inSharePreemption: true}
`

func TestApplyQuotaManagement(t *testing.T) {
	client, st := start(t)
	ctx := context.Background()
	// The first apply creates everything; a second changes nothing; a
	// changed share is updated, and only it.
	want := []string{
		"created environment gpus, created policy quotas, created queue teams, created quota share teams/research, created quota share teams/prod",
		"",
		"updated quota share teams/research: limits [ml.p5.48xlarge=2] -> [ml.p5.48xlarge=3], borrowLimit 100 -> 50",
	}
	for i, config := range []string{quotaConfig, quotaConfig,
		strings.Replace(quotaConfig, "{ml.p5.48xlarge: 2}, strategy: LEND_AND_BORROW, borrowLimit: 100", "{ml.p5.48xlarge: 3}, strategy: LEND_AND_BORROW, borrowLimit: 50", 1)} {
		changes, err := setup.Apply(ctx, client, load(t, config))
		if err != nil {
			t.Fatal(err)
		}
		var got []string
		for _, c := range changes {
			got = append(got, c.String())
		}
		if strings.Join(got, ", ") != want[i] {
			t.Fatalf("apply %d: changes %q, want %q", i+1, strings.Join(got, ", "), want[i])
		}
	}
	e, err := st.GetEnvironment(ctx, "gpus")
	if err != nil || !e.QuotaManaged() || e.Limit("ml.p5.48xlarge") != 4 {
		t.Fatalf("environment %+v %v", e, err)
	}
	q, err := st.GetQueue(ctx, "teams")
	if err != nil || !q.QuotaShares() {
		t.Fatalf("queue %+v %v", q, err)
	}
	shares, err := st.ListQuotaShares(ctx, "teams")
	if err != nil || len(shares) != 2 {
		t.Fatalf("shares %+v %v", shares, err)
	}
	prod, research := shares[0], shares[1]
	if research.ResourceSharingConfiguration.BorrowLimit != 50 || !research.Borrows() || research.Quota("ml.p5.48xlarge") != 3 ||
		!prod.InSharePreemption() || prod.Borrows() || prod.ResourceSharingConfiguration.BorrowLimit != -1 {
		t.Fatalf("shares %+v %+v", research, prod)
	}
	bad := `
environments:
  - {name: x, maxCapacity: 2, limits: {ml.p5.48xlarge: 4}}
`
	if _, err := setup.Apply(ctx, client, load(t, bad)); err == nil {
		t.Fatal("limits with maxCapacity accepted")
	}
}

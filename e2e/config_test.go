package e2e

import (
	"context"
	"os"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/batch"
	"github.com/aws/aws-sdk-go-v2/service/batch/types"
)

const restartConfig = `
environments:
  - {name: box, maxCapacity: 4}
queues:
  - {name: q, priority: 1, environments: [box]}
`

// TestConfigAppliedOnlyWhenChanged: `serve --config` applies the file only
// when it differs from the one last applied, so a change made through the
// API survives restarts with the same file, and a changed file says what it
// changed.
func TestConfigAppliedOnlyWhenChanged(t *testing.T) {
	s := StartServer(t, restartConfig, ServerOptions{})
	if !strings.Contains(s.Stderr(), "configuration: created environment box") || !strings.Contains(s.Stderr(), "configuration: created queue q") {
		t.Fatalf("the first start does not say what it created:\n%s", s.Stderr())
	}
	setCapacity(t, s, 8)

	s.Stop()
	s.Restart()
	if got := capacity(t, s); got != 8 {
		t.Fatalf("after a restart with the same configuration: maxCapacity %d, want 8 (the env update)", got)
	}
	if !strings.Contains(s.Stderr(), "configuration unchanged since it was last applied") {
		t.Fatalf("the restart does not say it left the configuration alone:\n%s", s.Stderr())
	}

	// The same after a kill -9, and with only comments changed.
	s.Kill()
	os.WriteFile(s.Config, []byte("# a comment changes nothing\n"+restartConfig), 0o644)
	s.Restart()
	if got := capacity(t, s); got != 8 {
		t.Fatalf("after a kill -9 and a restart with the same configuration: maxCapacity %d, want 8", got)
	}

	// A changed file is applied, and the server says what it changed.
	changed := strings.Replace(restartConfig, "maxCapacity: 4", "maxCapacity: 6", 1) + "  - {name: q2, priority: 2, environments: [box]}\n"
	if err := os.WriteFile(s.Config, []byte(changed), 0o644); err != nil {
		t.Fatal(err)
	}
	s.Stop()
	s.Restart()
	if got := capacity(t, s); got != 6 {
		t.Fatalf("after a restart with a changed configuration: maxCapacity %d, want 6", got)
	}
	for _, want := range []string{"configuration: updated environment box: maxCapacity 8 -> 6", "configuration: created queue q2"} {
		if !strings.Contains(s.Stderr(), want) {
			t.Errorf("the server's log lacks %q:\n%s", want, s.Stderr())
		}
	}
	if strings.Contains(s.Stderr(), "updated queue q:") {
		t.Errorf("queue q did not change, yet the server updated it:\n%s", s.Stderr())
	}
}

func setCapacity(t *testing.T, s *Server, n int32) {
	t.Helper()
	_, err := s.Batch.UpdateServiceEnvironment(context.Background(), &batch.UpdateServiceEnvironmentInput{
		ServiceEnvironment: aws.String("box"),
		CapacityLimits:     []types.CapacityLimit{{CapacityUnit: aws.String("NUM_INSTANCES"), MaxCapacity: aws.Int32(n)}},
	})
	if err != nil {
		t.Fatal(err)
	}
}

func capacity(t *testing.T, s *Server) int32 {
	t.Helper()
	out, err := s.Batch.DescribeServiceEnvironments(context.Background(), &batch.DescribeServiceEnvironmentsInput{ServiceEnvironments: []string{"box"}})
	if err != nil || len(out.ServiceEnvironments) != 1 || len(out.ServiceEnvironments[0].CapacityLimits) != 1 {
		t.Fatalf("describing box: %+v %v", out, err)
	}
	return aws.ToInt32(out.ServiceEnvironments[0].CapacityLimits[0].MaxCapacity)
}

package api_test

import (
	"log/slog"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/batch"
	"github.com/aws/aws-sdk-go-v2/service/batch/types"
	"github.com/aws/aws-sdk-go-v2/service/sagemaker"

	"github.com/sagequeue/sagequeue/internal/api"
	"github.com/sagequeue/sagequeue/internal/localsm"
	"github.com/sagequeue/sagequeue/internal/plans"
	"github.com/sagequeue/sagequeue/internal/setup"
)

const p5Arn = "arn:aws:sagemaker:local:000000000000:training-plan/p5"

// planHarness is the API describing its plans with a local SageMaker
// endpoint that knows p5: 4 ml.p5.48xlarge from an hour before the
// harness's clock to an hour after.
func planHarness(t *testing.T) *harness {
	t.Helper()
	at := time.UnixMilli(1_800_000_000_000)
	local, err := localsm.New(localsm.Config{Dir: t.TempDir(), Logger: slog.New(slog.DiscardHandler), Plans: []localsm.Plan{
		{Name: "p5", InstanceType: "ml.p5.48xlarge", InstanceCount: 4, Windows: []localsm.Window{{Start: at.Add(-time.Hour), End: at.Add(time.Hour)}}},
	}})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(local)
	t.Cleanup(func() { srv.Close(); local.Shutdown(ctx) })
	sm := sagemaker.New(sagemaker.Options{BaseEndpoint: aws.String(srv.URL), Region: "local", Credentials: credentials.NewStaticCredentialsProvider("a", "b", "")})
	return newHarnessWith(t, func(c *api.Config) { c.Plans = plans.New(sm, 0, nil) })
}

func createEnv(h *harness, name, plan string) error {
	_, err := h.client.CreateServiceEnvironment(ctx, &batch.CreateServiceEnvironmentInput{
		ServiceEnvironmentName: aws.String(name), ServiceEnvironmentType: types.ServiceEnvironmentTypeSagemakerTraining,
		CapacityLimits: []types.CapacityLimit{{CapacityUnit: aws.String("NUM_INSTANCES"), MaxCapacity: aws.Int32(4)}},
	}, setup.WithMembers(map[string]any{"trainingPlanArn": plan, "partialWindows": true}))
	return err
}

func TestEnvironmentsOnPlans(t *testing.T) {
	h := planHarness(t)
	const unknown = "arn:aws:sagemaker:local:000000000000:training-plan/nope"
	clientError(t, createEnv(h, "bad", unknown), "trainingPlanArn: training plan "+unknown+" does not exist")
	if err := createEnv(h, "gpus", p5Arn); err != nil {
		t.Fatal(err)
	}
	_, err := h.client.UpdateServiceEnvironment(ctx, &batch.UpdateServiceEnvironmentInput{ServiceEnvironment: aws.String("gpus")},
		setup.WithMember("trainingPlanArn", unknown))
	clientError(t, err, "training plan "+unknown+" does not exist")

	// A payload of another instance type than the plan's is refused, naming both.
	if _, err := h.client.CreateJobQueue(ctx, &batch.CreateJobQueueInput{
		JobQueueName: aws.String("q"), Priority: aws.Int32(1), JobQueueType: types.JobQueueTypeSagemakerTraining,
		ServiceEnvironmentOrder: []types.ServiceEnvironmentOrder{{Order: aws.Int32(1), ServiceEnvironment: aws.String("gpus")}},
	}, setup.WithMember("partialWindows", true)); err != nil {
		t.Fatal(err)
	}
	submit := func(instanceType string) error {
		_, err := h.client.SubmitServiceJob(ctx, &batch.SubmitServiceJobInput{
			JobName: aws.String("j"), JobQueue: aws.String("q"), ServiceJobType: types.ServiceJobTypeSagemakerTraining,
			ServiceRequestPayload: aws.String(`{"ResourceConfig":{"InstanceType":"` + instanceType + `","InstanceCount":1}}`),
		})
		return err
	}
	clientError(t, submit("ml.g5.xlarge"), "serviceRequestPayload.ResourceConfig.InstanceType: ml.g5.xlarge is not the instance type of the training plans of job queue q (p5 reserves ml.p5.48xlarge)")
	if err := submit("ml.p5.48xlarge"); err != nil {
		t.Fatal(err)
	}

	// The queue and the environment keep their partialWindows.
	_, _, q := h.raw("describejobqueues", []byte(`{"jobQueues":["q"]}`))
	_, _, e := h.raw("describeserviceenvironments", []byte(`{"serviceEnvironments":["gpus"]}`))
	if q["jobQueues"].([]any)[0].(map[string]any)["partialWindows"] != true || e["serviceEnvironments"].([]any)[0].(map[string]any)["partialWindows"] != true {
		t.Errorf("partialWindows not kept: %v %v", q, e)
	}
}

func TestDescribeTrainingPlans(t *testing.T) {
	h := planHarness(t)
	if err := createEnv(h, "gpus", p5Arn); err != nil {
		t.Fatal(err)
	}
	for _, body := range []string{`{}`, `{"trainingPlans":["p5"]}`, `{"trainingPlans":["` + p5Arn + `"]}`} {
		status, _, out := h.raw("describetrainingplans", []byte(body))
		if status != 200 {
			t.Fatalf("%s: HTTP %d %v", body, status, out)
		}
		plans := out["trainingPlans"].([]any)
		if len(plans) != 1 {
			t.Fatalf("%s: %v", body, out)
		}
		p := plans[0].(map[string]any)
		// The harness's clock is inside the plan's window.
		if p["trainingPlanArn"] != p5Arn || p["status"] != "Active" || p["capacityNow"] != 4.0 || p["windowEnd"] != float64(1_800_000_000_000+3_600_000-30*60_000) ||
			len(p["windows"].([]any)) != 1 || len(p["serviceEnvironments"].([]any)) != 1 {
			t.Errorf("%s: %v", body, p)
		}
	}
	for body, want := range map[string]string{
		`{"trainingPlans":["nope"]}`: `trainingPlans[0]: \"nope\" is neither a training plan ARN nor the name of a plan a service environment names`,
		`{"trainingPlans":["arn:aws:sagemaker:local:000000000000:training-plan/nope"]}`: "trainingPlans[0]: training plan arn:aws:sagemaker:local:000000000000:training-plan/nope does not exist",
	} {
		status, _, out := h.raw("describetrainingplans", []byte(body))
		if status != 400 || !strings.Contains(out["message"].(string), strings.ReplaceAll(want, `\"`, `"`)) {
			t.Errorf("%s: HTTP %d %v, want %q", body, status, out, want)
		}
	}
}

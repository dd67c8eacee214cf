package api_test

import (
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/batch"
	"github.com/aws/aws-sdk-go-v2/service/batch/types"
)

// TestQueueBackfillMember: backfill is a sagequeue extension member of
// CreateJobQueue, UpdateJobQueue and DescribeJobQueues, off unless asked
// for, kept by updates that leave it out.
func TestQueueBackfillMember(t *testing.T) {
	h := newHarness(t)
	h.setup(4)
	c := h.client
	described := func(name string) any {
		t.Helper()
		code, _, body := h.raw("describejobqueues", []byte(`{"jobQueues":["`+name+`"]}`))
		queues, _ := body["jobQueues"].([]any)
		if code != 200 || len(queues) != 1 {
			t.Fatalf("DescribeJobQueues %s: %d %v", name, code, body)
		}
		return queues[0].(map[string]any)["backfill"]
	}
	if got := described("fifo"); got != false {
		t.Fatalf("a queue created without the member: backfill %v, want false", got)
	}
	must[*batch.CreateJobQueueOutput](t)(c.CreateJobQueue(ctx, &batch.CreateJobQueueInput{
		JobQueueName: aws.String("bf"), Priority: aws.Int32(1), JobQueueType: types.JobQueueTypeSagemakerTraining,
		ServiceEnvironmentOrder: []types.ServiceEnvironmentOrder{{Order: aws.Int32(1), ServiceEnvironment: aws.String("plan")}},
	}, withMember("backfill", true)))
	if got := described("bf"); got != true {
		t.Fatalf("created with backfill: %v, want true", got)
	}
	stored, err := h.store.GetQueue(ctx, "bf")
	if err != nil || !stored.Backfill {
		t.Fatalf("stored queue %+v, %v: want Backfill", stored, err)
	}
	must[*batch.UpdateJobQueueOutput](t)(c.UpdateJobQueue(ctx, &batch.UpdateJobQueueInput{JobQueue: aws.String("bf"), Priority: aws.Int32(5)}))
	if got := described("bf"); got != true {
		t.Fatalf("an update without the member turned backfill to %v", got)
	}
	must[*batch.UpdateJobQueueOutput](t)(c.UpdateJobQueue(ctx, &batch.UpdateJobQueueInput{JobQueue: aws.String("bf")}, withMember("backfill", false)))
	if got := described("bf"); got != false {
		t.Fatalf("updated to backfill false: %v", got)
	}
	code, kind, body := h.raw("createjobqueue", []byte(`{"jobQueueName":"x","priority":1,"backfill":"yes","serviceEnvironmentOrder":[{"order":1,"serviceEnvironment":"plan"}]}`))
	if code != 400 || kind != "ClientException" {
		t.Fatalf("backfill \"yes\": %d %s %v, want a ClientException", code, kind, body)
	}
}

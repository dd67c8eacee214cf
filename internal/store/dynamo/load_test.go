package dynamo_test

import (
	"context"
	"fmt"
	"net/http/httptest"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/batch"
	batchtypes "github.com/aws/aws-sdk-go-v2/service/batch/types"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/sagemaker"

	"github.com/sagequeue/sagequeue/internal/api"
	"github.com/sagequeue/sagequeue/internal/ddbfault"
	"github.com/sagequeue/sagequeue/internal/ddblocal"
	"github.com/sagequeue/sagequeue/internal/engine"
	"github.com/sagequeue/sagequeue/internal/model"
	"github.com/sagequeue/sagequeue/internal/sched/sim"
	"github.com/sagequeue/sagequeue/internal/store/dynamo"
)

// rate is the sustained submission rate the design must carry: 1,000 jobs
// a second into one queue (every job's index entries in one queue's
// partitions: the worst case).
const rate = 1000

// TestPartitionLoad submits jobs through the API into one FIFO queue and
// promotes them with scheduling passes (the path every submission takes at
// once; admissions follow at the rate capacity frees, far lower), on a
// table behind the fault layer's key meter. It then scales what each
// partition key took to 1,000 submissions a second and fails if any key
// would take more than 80 % of a partition's limits (1,000 WCU and 3,000
// RCU a second), as the hot SUBMITTED collection did before it was
// sharded. docs/dynamodb.md has the figures:
//
//	go test -run TestPartitionLoad -v ./internal/store/dynamo/
func TestPartitionLoad(t *testing.T) {
	if testing.Short() {
		t.Skip("2,000 submissions")
	}
	const n = 2000
	p := ddbfault.Start(t, ddblocal.Endpoint(t), ddbfault.Faults{})
	name := ddblocal.TableName(t)
	direct := ddblocal.Client(t)
	if err := dynamo.CreateTable(ctx, direct, name); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		direct.DeleteTable(context.Background(), &dynamodb.DeleteTableInput{TableName: aws.String(name)})
	})
	meter := &dynamo.Meter{}
	s, err := dynamo.New(ctx, dynamo.Config{Client: dynamodb.NewFromConfig(ddblocal.Config(p.URL()), dynamo.RetryOptions), Table: name, Meter: meter})
	if err != nil {
		t.Fatal(err)
	}
	// An environment that admits nothing: the subject is the submission path.
	env, fifo := sim.Env("env", 1), sim.Queue("fifo", 1, "", "env")
	env.State = model.StateDisabled
	if _, err := s.CreateEnvironment(ctx, &env); err != nil {
		t.Fatal(err)
	}
	if _, err := s.CreateQueue(ctx, &fifo); err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(api.New(api.Config{Store: s, Account: model.LocalAccount}))
	defer srv.Close()
	client := batch.New(batch.Options{BaseEndpoint: aws.String(srv.URL), Region: "us-east-1", Credentials: credentials.NewStaticCredentialsProvider("a", "b", "")})
	eng, err := engine.New(engine.Config{
		Store: s, Holder: "load", WriteConcurrency: 1,
		SageMaker: sagemaker.New(sagemaker.Options{BaseEndpoint: aws.String("http://127.0.0.1:9"), Region: "us-east-1", Credentials: credentials.NewStaticCredentialsProvider("a", "b", "")}),
	})
	if err != nil {
		t.Fatal(err)
	}

	load := p.MeterKeys()
	before := meter.Read()
	start := time.Now()
	var next atomic.Int64
	var wg sync.WaitGroup
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := next.Add(1); i <= n; i = next.Add(1) {
				_, err := client.SubmitServiceJob(ctx, &batch.SubmitServiceJobInput{
					JobName: aws.String(fmt.Sprintf("load-%05d", i)), JobQueue: aws.String("fifo"), ServiceJobType: batchtypes.ServiceJobTypeSagemakerTraining,
					ServiceRequestPayload: aws.String(trainingPayload("true")), ClientToken: aws.String(fmt.Sprintf("token-%05d", i)),
				})
				if err != nil {
					t.Error(err)
					return
				}
			}
		}()
	}
	wg.Wait()
	submitted := time.Since(start)
	passes, promoted := 0, 0
	for ; passes < 100 && promoted < n; passes++ {
		res, err := eng.Schedule(ctx)
		if err != nil {
			t.Fatal(err)
		}
		promoted += res.Promoted
	}
	if promoted != n {
		t.Fatalf("%d of %d jobs promoted in %d passes", promoted, n, passes)
	}
	metered := meter.Read().Sub(before)

	// Scale to the rate: the units of n jobs, times rate/n, a second.
	heat := load.Hottest(12, float64(rate)/n)
	var b strings.Builder
	fmt.Fprintf(&b, "\n%d submissions in %v and %d passes to promote them; at %d submissions/s, the hottest partition keys:\n", n, submitted.Round(time.Millisecond), passes, rate)
	fmt.Fprintf(&b, "%-10s %-72s %9s %9s %7s\n", "part", "partition key", "RCU/s", "WCU/s", "limit")
	for _, h := range heat {
		part := h.Part.Index
		if part == "" {
			part = "table"
		}
		fmt.Fprintf(&b, "%-10s %-72s %9.1f %9.1f %6.0f%%\n", part, shorten(h.Part.Key), h.RCU, h.WCU, 100*h.Share)
	}
	model := map[string]ddbfault.Units{}
	for k, u := range load.Parts() {
		part := k.Index
		if part == "" {
			part = "table"
		}
		m := model[part]
		m.RCU += u.RCU
		m.WCU += u.WCU
		model[part] = m
	}
	var parts []string
	for k := range model {
		parts = append(parts, k)
	}
	sort.Strings(parts)
	fmt.Fprintf(&b, "per job, by DynamoDB's billing rules (metered by DynamoDB Local):\n")
	for _, part := range parts {
		m, got := model[part], metered.Parts[part]
		fmt.Fprintf(&b, "  %-14s %6.2f RCU (%6.2f) %6.2f WCU (%6.2f)\n", part, m.RCU/n, got.RCU/n, m.WCU/n, got.WCU/n)
	}
	t.Log(b.String())
	for _, h := range heat {
		if h.Share > 0.8 {
			t.Errorf("partition key %s would take %.0f%% of a partition's limit at %d submissions/s (%.0f RCU/s, %.0f WCU/s)", h.Part, 100*h.Share, rate, h.RCU, h.WCU)
		}
	}
	// The model counts writes by the service's rules; it must not count
	// less than DynamoDB Local metered, which bills a transaction's table
	// items once (the service twice) and its index entries twice (the
	// service once): half of what it metered for an index.
	for _, part := range parts {
		m, got := model[part], metered.Parts[part]
		if part != "table" {
			got.WCU /= 2
		}
		if m.WCU < 0.95*got.WCU || m.RCU < 0.95*got.RCU {
			t.Errorf("%s: the key meter counted %.0f RCU %.0f WCU, DynamoDB Local metered %.0f RCU %.0f WCU (index writes halved)", part, m.RCU, m.WCU, got.RCU, got.WCU)
		}
	}
}

func shorten(s string) string {
	s = strings.ReplaceAll(s, "arn:aws:batch:local:000000000000:", "")
	if len(s) > 72 {
		return s[:69] + "..."
	}
	return s
}

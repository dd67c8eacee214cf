package api_test

import (
	"fmt"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/batch"
	"github.com/aws/aws-sdk-go-v2/service/batch/types"

	"github.com/sagequeue/sagequeue/internal/model"
)

const qmPayload = `{"AlgorithmSpecification":{"TrainingImage":"img","TrainingInputMode":"File"},"ResourceConfig":{"InstanceType":"ml.p5.48xlarge","InstanceCount":1}}`

// setupQuota creates a quota management policy "qp", an environment "qe" of
// 4 ml.p5.48xlarge and 2 ml.g6.xlarge, and a queue "qm" on them.
func (h *harness) setupQuota() {
	h.t.Helper()
	c := h.client
	must[*batch.CreateSchedulingPolicyOutput](h.t)(c.CreateSchedulingPolicy(ctx, &batch.CreateSchedulingPolicyInput{
		Name: aws.String("qp"), QuotaSharePolicy: &types.QuotaSharePolicy{IdleResourceAssignmentStrategy: types.QuotaShareIdleResourceAssignmentStrategyFifo},
	}))
	must[*batch.CreateServiceEnvironmentOutput](h.t)(c.CreateServiceEnvironment(ctx, &batch.CreateServiceEnvironmentInput{
		ServiceEnvironmentName: aws.String("qe"), ServiceEnvironmentType: types.ServiceEnvironmentTypeSagemakerTraining,
		CapacityLimits: []types.CapacityLimit{
			{CapacityUnit: aws.String("ml.p5.48xlarge"), MaxCapacity: aws.Int32(4)},
			{CapacityUnit: aws.String("ml.g6.xlarge"), MaxCapacity: aws.Int32(2)},
		},
	}))
	must[*batch.CreateJobQueueOutput](h.t)(c.CreateJobQueue(ctx, &batch.CreateJobQueueInput{
		JobQueueName: aws.String("qm"), Priority: aws.Int32(1), JobQueueType: types.JobQueueTypeSagemakerTraining,
		SchedulingPolicyArn:     aws.String(arn(model.KindSchedulingPolicy, "qp")),
		ServiceEnvironmentOrder: []types.ServiceEnvironmentOrder{{Order: aws.Int32(1), ServiceEnvironment: aws.String("qe")}},
	}))
}

func createShare(name string, quota int32, strategy types.QuotaShareResourceSharingStrategy, borrow *int32) *batch.CreateQuotaShareInput {
	return &batch.CreateQuotaShareInput{
		QuotaShareName: aws.String(name), JobQueue: aws.String("qm"),
		CapacityLimits:               []types.QuotaShareCapacityLimit{{CapacityUnit: aws.String("ml.p5.48xlarge"), MaxCapacity: aws.Int32(quota)}},
		ResourceSharingConfiguration: &types.QuotaShareResourceSharingConfiguration{Strategy: strategy, BorrowLimit: borrow},
		PreemptionConfiguration:      &types.QuotaSharePreemptionConfiguration{InSharePreemption: types.QuotaShareInSharePreemptionStateEnabled},
		Tags:                         map[string]string{"team": name},
	}
}

func TestQuotaShareOperations(t *testing.T) {
	h := newHarness(t)
	h.setupQuota()
	c := h.client

	pol := must[*batch.DescribeSchedulingPoliciesOutput](t)(c.DescribeSchedulingPolicies(ctx, &batch.DescribeSchedulingPoliciesInput{Arns: []string{arn(model.KindSchedulingPolicy, "qp")}}))
	if qp := pol.SchedulingPolicies[0].QuotaSharePolicy; qp == nil || qp.IdleResourceAssignmentStrategy != types.QuotaShareIdleResourceAssignmentStrategyFifo || pol.SchedulingPolicies[0].FairsharePolicy != nil {
		t.Fatalf("policy %+v", pol.SchedulingPolicies[0])
	}

	out := must[*batch.CreateQuotaShareOutput](t)(c.CreateQuotaShare(ctx, createShare("A", 2, types.QuotaShareResourceSharingStrategyLendAndBorrow, aws.Int32(100))))
	wantArn := arn(model.KindJobQueue, "qm") + "/quota-share/A"
	if *out.QuotaShareArn != wantArn || *out.QuotaShareName != "A" {
		t.Fatalf("create output %s %s", *out.QuotaShareArn, *out.QuotaShareName)
	}
	d := must[*batch.DescribeQuotaShareOutput](t)(c.DescribeQuotaShare(ctx, &batch.DescribeQuotaShareInput{QuotaShareArn: out.QuotaShareArn}))
	if *d.QuotaShareName != "A" || *d.JobQueueArn != arn(model.KindJobQueue, "qm") || *d.CapacityLimits[0].CapacityUnit != "ml.p5.48xlarge" ||
		*d.CapacityLimits[0].MaxCapacity != 2 || d.ResourceSharingConfiguration.Strategy != types.QuotaShareResourceSharingStrategyLendAndBorrow ||
		*d.ResourceSharingConfiguration.BorrowLimit != 100 || d.PreemptionConfiguration.InSharePreemption != types.QuotaShareInSharePreemptionStateEnabled ||
		d.State != types.QuotaShareStateEnabled || d.Status != types.QuotaShareStatusValid || d.Tags["team"] != "A" {
		t.Fatalf("describe %+v", d)
	}
	must[*batch.CreateQuotaShareOutput](t)(c.CreateQuotaShare(ctx, createShare("B", 2, types.QuotaShareResourceSharingStrategyLend, nil)))
	must[*batch.CreateQuotaShareOutput](t)(c.CreateQuotaShare(ctx, createShare("C", 0, types.QuotaShareResourceSharingStrategyReserve, nil)))

	var names []string
	p := batch.NewListQuotaSharesPaginator(c, &batch.ListQuotaSharesInput{JobQueue: aws.String("qm"), MaxResults: aws.Int32(2)})
	for p.HasMorePages() {
		page := must[*batch.ListQuotaSharesOutput](t)(p.NextPage(ctx))
		for _, s := range page.QuotaShares {
			names = append(names, *s.QuotaShareName)
			if s.ResourceSharingConfiguration == nil || s.PreemptionConfiguration == nil || s.Status != types.QuotaShareStatusValid {
				t.Fatalf("listed %+v", s)
			}
		}
	}
	if strings.Join(names, ",") != "A,B,C" {
		t.Fatalf("listed %v", names)
	}
	b := must[*batch.DescribeQuotaShareOutput](t)(c.DescribeQuotaShare(ctx, &batch.DescribeQuotaShareInput{QuotaShareArn: aws.String(arn(model.KindJobQueue, "qm") + "/quota-share/B")}))
	if *b.ResourceSharingConfiguration.BorrowLimit != -1 {
		t.Fatalf("borrowLimit defaults to %d, want -1", *b.ResourceSharingConfiguration.BorrowLimit)
	}

	must[*batch.UpdateQuotaShareOutput](t)(c.UpdateQuotaShare(ctx, &batch.UpdateQuotaShareInput{
		QuotaShareArn:           aws.String(wantArn),
		CapacityLimits:          []types.QuotaShareCapacityLimit{{CapacityUnit: aws.String("ml.g6.xlarge"), MaxCapacity: aws.Int32(1)}},
		PreemptionConfiguration: &types.QuotaSharePreemptionConfiguration{InSharePreemption: types.QuotaShareInSharePreemptionStateDisabled},
		State:                   types.QuotaShareStateDisabled,
	}))
	d = must[*batch.DescribeQuotaShareOutput](t)(c.DescribeQuotaShare(ctx, &batch.DescribeQuotaShareInput{QuotaShareArn: aws.String(wantArn)}))
	if *d.CapacityLimits[0].CapacityUnit != "ml.g6.xlarge" || d.PreemptionConfiguration.InSharePreemption != types.QuotaShareInSharePreemptionStateDisabled ||
		d.State != types.QuotaShareStateDisabled || *d.ResourceSharingConfiguration.BorrowLimit != 100 {
		t.Fatalf("after update %+v", d)
	}
	_, err := c.SubmitServiceJob(ctx, &batch.SubmitServiceJobInput{JobName: aws.String("j"), JobQueue: aws.String("qm"), QuotaShareName: aws.String("A"),
		ServiceJobType: types.ServiceJobTypeSagemakerTraining, ServiceRequestPayload: aws.String(qmPayload)})
	clientError(t, err, "quotaShareName: quota share A is DISABLED")

	must[*batch.DeleteQuotaShareOutput](t)(c.DeleteQuotaShare(ctx, &batch.DeleteQuotaShareInput{QuotaShareArn: aws.String(wantArn)}))
	_, err = c.DescribeQuotaShare(ctx, &batch.DescribeQuotaShareInput{QuotaShareArn: aws.String(wantArn)})
	clientError(t, err, "not found")
}

func TestQuotaShareRules(t *testing.T) {
	h := newHarness(t)
	h.setupQuota()
	h.setup(4) // a FIFO queue "fifo" and a fair-share queue "fair" on NUM_INSTANCES environment "plan"
	c := h.client
	tests := []struct {
		name string
		call func() error
		want string
	}{
		{"share on a FIFO queue", func() error {
			in := createShare("x", 1, types.QuotaShareResourceSharingStrategyLend, nil)
			in.JobQueue = aws.String("fifo")
			_, err := c.CreateQuotaShare(ctx, in)
			return err
		}, "jobQueue: job queue fifo is not a quota management queue"},
		{"name too long", func() error {
			_, err := c.CreateQuotaShare(ctx, createShare(strings.Repeat("n", 129), 1, types.QuotaShareResourceSharingStrategyLend, nil))
			return err
		}, "quotaShareName: must be at most 128 characters"},
		{"borrow limit on LEND", func() error {
			_, err := c.CreateQuotaShare(ctx, createShare("x", 1, types.QuotaShareResourceSharingStrategyLend, aws.Int32(50)))
			return err
		}, "resourceSharingConfiguration.borrowLimit: applies only to the LEND_AND_BORROW strategy"},
		{"six capacity limits", func() error {
			in := createShare("x", 1, types.QuotaShareResourceSharingStrategyLend, nil)
			for i := range 5 {
				in.CapacityLimits = append(in.CapacityLimits, types.QuotaShareCapacityLimit{CapacityUnit: aws.String(fmt.Sprintf("ml.m5.%dxlarge", i+2)), MaxCapacity: aws.Int32(1)})
			}
			_, err := c.CreateQuotaShare(ctx, in)
			return err
		}, "capacityLimits: must have between 1 and 5 limits"},
		{"instance type the environment lacks", func() error {
			in := createShare("x", 1, types.QuotaShareResourceSharingStrategyLend, nil)
			in.CapacityLimits[0].CapacityUnit = aws.String("ml.m5.large")
			_, err := c.CreateQuotaShare(ctx, in)
			return err
		}, "capacityLimits[0].capacityUnit: ml.m5.large is not an instance type of service environment qe"},
		{"NUM_INSTANCES unit", func() error {
			in := createShare("x", 1, types.QuotaShareResourceSharingStrategyLend, nil)
			in.CapacityLimits[0].CapacityUnit = aws.String("NUM_INSTANCES")
			_, err := c.CreateQuotaShare(ctx, in)
			return err
		}, "must be an instance type such as ml.p5.48xlarge in quota management"},
		{"a second queue on the quota environment", func() error {
			_, err := c.CreateJobQueue(ctx, &batch.CreateJobQueueInput{
				JobQueueName: aws.String("qm2"), Priority: aws.Int32(1), SchedulingPolicyArn: aws.String(arn(model.KindSchedulingPolicy, "qp")),
				ServiceEnvironmentOrder: []types.ServiceEnvironmentOrder{{Order: aws.Int32(1), ServiceEnvironment: aws.String("qe")}},
			})
			return err
		}, "service environment qe is already connected to job queue qm"},
		{"a FIFO queue on the quota environment", func() error {
			_, err := c.CreateJobQueue(ctx, &batch.CreateJobQueueInput{
				JobQueueName: aws.String("f2"), Priority: aws.Int32(1),
				ServiceEnvironmentOrder: []types.ServiceEnvironmentOrder{{Order: aws.Int32(1), ServiceEnvironment: aws.String("qe")}},
			})
			return err
		}, "only a queue with a quotaSharePolicy may use it"},
		{"a quota queue on a NUM_INSTANCES environment", func() error {
			_, err := c.CreateJobQueue(ctx, &batch.CreateJobQueueInput{
				JobQueueName: aws.String("qm3"), Priority: aws.Int32(1), SchedulingPolicyArn: aws.String(arn(model.KindSchedulingPolicy, "qp")),
				ServiceEnvironmentOrder: []types.ServiceEnvironmentOrder{{Order: aws.Int32(1), ServiceEnvironment: aws.String("plan")}},
			})
			return err
		}, "a quota management queue needs one whose capacityLimits are per instance type"},
		{"quota policy to fair share", func() error {
			_, err := c.UpdateSchedulingPolicy(ctx, &batch.UpdateSchedulingPolicyInput{Arn: aws.String(arn(model.KindSchedulingPolicy, "qp")), FairsharePolicy: &types.FairsharePolicy{}})
			return err
		}, "it can't be changed to fair share"},
		{"quotaShareName on a fair-share queue", func() error {
			_, err := c.SubmitServiceJob(ctx, &batch.SubmitServiceJobInput{JobName: aws.String("j"), JobQueue: aws.String("fair"), ShareIdentifier: aws.String("research"),
				QuotaShareName: aws.String("A"), ServiceJobType: types.ServiceJobTypeSagemakerTraining, ServiceRequestPayload: aws.String(payload)})
			return err
		}, "quotaShareName: must not be set: job queue fair has no quota management scheduling policy"},
		{"no quotaShareName on a quota queue", func() error {
			_, err := c.SubmitServiceJob(ctx, &batch.SubmitServiceJobInput{JobName: aws.String("j"), JobQueue: aws.String("qm"),
				ServiceJobType: types.ServiceJobTypeSagemakerTraining, ServiceRequestPayload: aws.String(qmPayload)})
			return err
		}, "quotaShareName: is required: job queue qm is a quota management queue"},
		{"unknown quota share", func() error {
			_, err := c.SubmitServiceJob(ctx, &batch.SubmitServiceJobInput{JobName: aws.String("j"), JobQueue: aws.String("qm"), QuotaShareName: aws.String("nope"),
				ServiceJobType: types.ServiceJobTypeSagemakerTraining, ServiceRequestPayload: aws.String(qmPayload)})
			return err
		}, "job queue qm has no quota share nope"},
		{"no instance type", func() error {
			_, err := c.SubmitServiceJob(ctx, &batch.SubmitServiceJobInput{JobName: aws.String("j"), JobQueue: aws.String("qm"), QuotaShareName: aws.String("s00"),
				ServiceJobType: types.ServiceJobTypeSagemakerTraining, ServiceRequestPayload: aws.String(`{"AlgorithmSpecification":{"TrainingImage":"img"}}`)})
			return err
		}, "serviceRequestPayload.ResourceConfig.InstanceType: is required on quota management queue qm"},
		{"negative preemption retries", func() error {
			_, err := c.SubmitServiceJob(ctx, &batch.SubmitServiceJobInput{JobName: aws.String("j"), JobQueue: aws.String("qm"), QuotaShareName: aws.String("s00"),
				ServiceJobType: types.ServiceJobTypeSagemakerTraining, ServiceRequestPayload: aws.String(qmPayload),
				PreemptionConfiguration: &types.ServiceJobPreemptionConfiguration{PreemptionRetriesBeforeTermination: aws.Int32(-1)}})
			return err
		}, "preemptionConfiguration.preemptionRetriesBeforeTermination: must be between 0 and"},
	}
	must[*batch.CreateQuotaShareOutput](t)(c.CreateQuotaShare(ctx, createShare("s00", 1, types.QuotaShareResourceSharingStrategyLend, nil)))
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) { clientError(t, tc.call(), tc.want) })
	}
	// At most 20 shares per queue.
	for i := 1; i < model.MaxQuotaSharesPerQueue; i++ {
		must[*batch.CreateQuotaShareOutput](t)(c.CreateQuotaShare(ctx, createShare(fmt.Sprintf("s%02d", i), 0, types.QuotaShareResourceSharingStrategyLend, nil)))
	}
	_, err := c.CreateQuotaShare(ctx, createShare("s20", 0, types.QuotaShareResourceSharingStrategyLend, nil))
	clientError(t, err, "already has 20 quota shares")
}

func TestQuotaShareJobs(t *testing.T) {
	h := newHarness(t)
	h.setupQuota()
	c := h.client
	must[*batch.CreateQuotaShareOutput](t)(c.CreateQuotaShare(ctx, createShare("A", 2, types.QuotaShareResourceSharingStrategyLendAndBorrow, nil)))
	must[*batch.CreateQuotaShareOutput](t)(c.CreateQuotaShare(ctx, createShare("B", 2, types.QuotaShareResourceSharingStrategyLend, nil)))
	submit := func(name, share string, retries *int32) string {
		out := must[*batch.SubmitServiceJobOutput](t)(c.SubmitServiceJob(ctx, &batch.SubmitServiceJobInput{
			JobName: aws.String(name), JobQueue: aws.String("qm"), QuotaShareName: aws.String(share),
			ServiceJobType: types.ServiceJobTypeSagemakerTraining, ServiceRequestPayload: aws.String(qmPayload),
			PreemptionConfiguration: &types.ServiceJobPreemptionConfiguration{PreemptionRetriesBeforeTermination: retries},
		}))
		return *out.JobId
	}
	a1 := submit("a1", "A", aws.Int32(3))
	a2 := submit("a2", "A", nil)
	b1 := submit("b1", "B", aws.Int32(0))

	d := must[*batch.DescribeServiceJobOutput](t)(c.DescribeServiceJob(ctx, &batch.DescribeServiceJobInput{JobId: aws.String(a1)}))
	if aws.ToString(d.QuotaShareName) != "A" || d.ShareIdentifier != nil || d.PreemptionConfiguration == nil ||
		aws.ToInt32(d.PreemptionConfiguration.PreemptionRetriesBeforeTermination) != 3 || d.PreemptionSummary != nil {
		t.Fatalf("describe %+v", d)
	}
	// A preempted job shows its preemptions.
	h.set(a1, model.StatusRunnable, func(j *model.ServiceJob) {
		j.RecordPreemption(model.Attempt{TrainingJobName: "t-1", TrainingJobArn: "arn:aws:sagemaker:local:000000000000:training-job/t-1",
			StartedAt: 1000, StoppedAt: 2000, StatusReason: "PREEMPTED - for b1"})
		j.StatusReason = "PREEMPTED - for b1"
	})
	d = must[*batch.DescribeServiceJobOutput](t)(c.DescribeServiceJob(ctx, &batch.DescribeServiceJobInput{JobId: aws.String(a1)}))
	ps := d.PreemptionSummary
	if ps == nil || aws.ToInt32(ps.PreemptedAttemptCount) != 1 || len(ps.RecentPreemptedAttempts) != 1 ||
		aws.ToString(ps.RecentPreemptedAttempts[0].StatusReason) != "PREEMPTED - for b1" || aws.ToInt64(ps.RecentPreemptedAttempts[0].StoppedAt) != 2000 ||
		aws.ToString(ps.RecentPreemptedAttempts[0].ServiceResourceId.Value) != "arn:aws:sagemaker:local:000000000000:training-job/t-1" {
		t.Fatalf("preemption summary %+v", ps)
	}

	list := func(filter string, value string) []string {
		out := must[*batch.ListServiceJobsOutput](t)(c.ListServiceJobs(ctx, &batch.ListServiceJobsInput{JobQueue: aws.String("qm"),
			Filters: []types.KeyValuesPair{{Name: aws.String(filter), Values: []string{value}}}}))
		var ids []string
		for _, s := range out.JobSummaryList {
			ids = append(ids, *s.JobId)
			if filter == "QUOTA_SHARE_NAME" && aws.ToString(s.QuotaShareName) != value {
				t.Fatalf("summary %+v", s)
			}
		}
		return ids
	}
	if got := list("QUOTA_SHARE_NAME", "A"); strings.Join(got, ",") != a2+","+a1 {
		t.Fatalf("QUOTA_SHARE_NAME A: %v", got)
	}
	if got := list("QUOTA_SHARE_NAME", "B"); strings.Join(got, ",") != b1 {
		t.Fatalf("QUOTA_SHARE_NAME B: %v", got)
	}
	if got := list("SHARE_IDENTIFIER", "A"); len(got) != 0 {
		t.Fatalf("SHARE_IDENTIFIER matched quota share jobs: %v", got)
	}

	// The queue snapshot: the front of each quota share, and their use.
	h.set(b1, model.StatusRunning, func(j *model.ServiceJob) { j.ServiceEnvironment = arn(model.KindServiceEnvironment, "qe") })
	h.set(a2, model.StatusRunnable, nil)
	snap := must[*batch.GetJobQueueSnapshotOutput](t)(c.GetJobQueueSnapshot(ctx, &batch.GetJobQueueSnapshotInput{JobQueue: aws.String("qm")}))
	if snap.FrontOfQuotaShares == nil || len(snap.FrontOfQuotaShares.QuotaShares["A"]) != 2 || *snap.FrontOfQuotaShares.QuotaShares["A"][0].JobArn != arn(model.KindServiceJob, a1) {
		t.Fatalf("frontOfQuotaShares %+v", snap.FrontOfQuotaShares)
	}
	qu := snap.QueueUtilization.QuotaShareUtilization
	if qu == nil || len(qu.TopCapacityUtilization) != 1 || *qu.TopCapacityUtilization[0].QuotaShareName != "B" ||
		*qu.TopCapacityUtilization[0].CapacityUsage[0].CapacityUnit != "ml.p5.48xlarge" || *qu.TopCapacityUtilization[0].CapacityUsage[0].Quantity != 1 {
		t.Fatalf("quotaShareUtilization %+v", qu)
	}
	if snap.QueueUtilization.FairshareUtilization != nil {
		t.Fatalf("a quota management queue has fairshareUtilization")
	}
	// The dashboard: A borrows one instance beyond its quota, out of B's
	// idle quota (the environment's 4 ml.p5.48xlarge all belong to shares).
	h.set(a2, model.StatusRunning, func(j *model.ServiceJob) {
		j.ServiceEnvironment, j.Instances = arn(model.KindServiceEnvironment, "qe"), 3
	})
	_, _, dash := h.raw("getdashboard", []byte(`{}`))
	got := map[string]string{}
	for _, q := range dash["jobQueues"].([]any) {
		qm := q.(map[string]any)
		if qm["jobQueueName"] != "qm" {
			continue
		}
		for _, s := range qm["quotaShares"].(map[string]any)["shares"].([]any) {
			sm := s.(map[string]any)
			c := sm["capacity"].([]any)[0].(map[string]any)
			got[sm["quotaShareName"].(string)] = fmt.Sprintf("%v quota %v use %v borrowed %v lent %v waiting %v",
				c["capacityUnit"], c["quota"], c["instancesInUse"], c["borrowed"], c["lent"], sm["runnable"])
		}
	}
	if got["A"] != "ml.p5.48xlarge quota 2 use 3 borrowed 1 lent 0 waiting 1" || got["B"] != "ml.p5.48xlarge quota 2 use 1 borrowed 0 lent 1 waiting 0" {
		t.Fatalf("dashboard quota shares %v", got)
	}
	// A share with unfinished jobs can't be deleted.
	_, err := c.DeleteQuotaShare(ctx, &batch.DeleteQuotaShareInput{QuotaShareArn: aws.String(arn(model.KindJobQueue, "qm") + "/quota-share/B")})
	clientError(t, err, "quota share B still has unfinished jobs")
}

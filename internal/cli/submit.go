package cli

import (
	"fmt"
	"io"
	"math"
	"os"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/batch"
	"github.com/aws/aws-sdk-go-v2/service/batch/types"
	"github.com/spf13/cobra"
)

func init() { register(groupJobs, []string{"submit"}, newSubmitCmd) }

type submitOptions struct {
	queue, name string
	payload     string // file name, "-" for stdin

	image           string
	instanceType    string
	instanceCount   int64
	maxRuntime      durationFlag
	roleArn         string
	hyperParameters kvFlag
	environment     kvFlag
	outputPath      string
	trainingPlanArn string
	checkpointURI   string

	share       string
	quotaShare  string
	preemptions int32
	priority    int32
	attempts    int32
	rules       []types.ServiceJobEvaluateOnExit
	timeout     durationFlag
	tags        kvFlag
	clientToken string

	// Bulk submission (bulk.go) and sweeps (sweep.go).
	fromFile          string
	count             int
	sweepMode         string
	parallel          int
	clientTokenPrefix string

	wait waitOptions
}

func newSubmitCmd(a *App) *cobra.Command {
	o := &submitOptions{}
	cmd := &cobra.Command{
		Use:   "submit -q QUEUE -n NAME [flags] [-- ENTRYPOINT [ARGS...]]",
		Short: "Submit a SageMaker training job to a queue",
		Long: `Submit a SageMaker training job to a queue (SubmitServiceJob).

The job's payload is a SageMaker CreateTrainingJob request in JSON: either a
file (--payload FILE, - for stdin), or one built from the flags. Flags given
together with --payload override the file's members. The entry point goes
after --: its first word becomes AlgorithmSpecification.ContainerEntrypoint,
the rest ContainerArguments.

--retry-on and --exit-on add evaluateOnExit rules to the retry strategy in
the order given, across both flags: after a failed attempt, the first rule
whose pattern matches the attempt's statusReason decides (a trailing * matches
a prefix); with no match the job is retried while attempts remain.

Prints the job id (or, with --output json, jobArn, jobId and jobName).

--wait waits until the job ends, with a live status line on stderr, and
exits with how it ended: 0 SUCCEEDED, 5 FAILED, 6 when --wait-timeout
passed first. With --output json it prints the job's final
DescribeServiceJob output.

Several jobs at once: --from-file FILE (JSON Lines, one job a line, each
line's members override the flags), --count N, or sweeps: a brace list or
range in a --hyperparameter, --env or --tag value makes one job per value
(per combination with several), and {i}, {n} and {KEY} in --name, the
entry point and those values are each job's number, the number of jobs and
its value of KEY. Jobs are submitted --parallel at a time with a progress
bar; failures are summed up at the end. --client-token-prefix P gives job i
the client token P-i, so running the same command again submits only what
is missing. See docs/cli.md for the file's members.`,
		Example: `  sagequeue submit -q research -n hello -- python train.py --epochs 3
  sagequeue submit -q research -n bert --image 123456789012.dkr.ecr.us-east-1.amazonaws.com/bert:latest \
      --instance-type ml.p4d.24xlarge --instance-count 2 --max-runtime 12h \
      --role-arn arn:aws:iam::123456789012:role/SageMakerTraining --output-path s3://my-bucket/out \
      --hyperparameter epochs=3 --attempts 3 --retry-on 'CapacityError*' --exit-on '*'
  sagequeue submit -q research -n from-file --payload job.json --share team-a --priority 10
  sagequeue submit -q research -n smoke --wait -- python train.py --epochs 1
  sagequeue submit -q research -n 'lr{lr}-bs{bs}' --hyperparameter 'lr={0.1,0.01,0.001}' \
      --hyperparameter 'bs={32,64}' --client-token-prefix sweep-0601 -- python train.py
  sagequeue submit -q research -n seed --count 5 -- python train.py --seed {i}
  sagequeue submit -q research -n exp --from-file jobs.jsonl --image my-image:latest`,
		RunE: func(cmd *cobra.Command, args []string) error {
			return a.runSubmit(cmd, o, args)
		},
	}
	f := cmd.Flags()
	f.SortFlags = false
	f.StringVarP(&o.queue, "queue", "q", "", "job queue name or ARN (required, unless every line of --from-file names one)")
	f.StringVarP(&o.name, "name", "n", "", "job name (required)")
	f.StringVar(&o.payload, "payload", "", "SageMaker CreateTrainingJob request in JSON: a file, or - for stdin")
	f.StringVar(&o.image, "image", "", "training image (AlgorithmSpecification.TrainingImage)")
	f.StringVar(&o.instanceType, "instance-type", defaultInstanceType, "instance type (ResourceConfig.InstanceType)")
	f.Int64Var(&o.instanceCount, "instance-count", 1, "number of instances (ResourceConfig.InstanceCount)")
	f.Var(&o.maxRuntime, "max-runtime", "longest run of the training job, e.g. 12h (StoppingCondition.MaxRuntimeInSeconds; default 1d)")
	f.StringVar(&o.roleArn, "role-arn", "", "IAM role SageMaker runs the training job with (RoleArn)")
	f.Var(&o.hyperParameters, "hyperparameter", "hyperparameter KEY=VALUE (repeatable)")
	f.Var(&o.environment, "env", "environment variable KEY=VALUE of the container (repeatable)")
	f.StringVar(&o.outputPath, "output-path", "", "S3 URL for the model artifacts (OutputDataConfig.S3OutputPath)")
	f.StringVar(&o.trainingPlanArn, "training-plan-arn", "", "SageMaker training plan to run in (ResourceConfig.TrainingPlanArn)")
	f.StringVar(&o.checkpointURI, "checkpoint-uri", "", "where the job's checkpoints are kept between attempts, an s3:// URL (CheckpointConfig.S3Uri)")
	f.StringVar(&o.share, "share", "", "share identifier (fair-share queues)")
	f.StringVar(&o.quotaShare, "quota-share", "", "quota share of the job (quota management queues, quotaShareName)")
	f.Int32Var(&o.preemptions, "preemption-retries", 0, "times the job may be preempted and requeued before it fails (quota management; default: no limit)")
	f.Int32Var(&o.priority, "priority", 0, "scheduling priority within the share, 0-9999, higher first (fair-share queues)")
	f.Int32Var(&o.attempts, "attempts", 0, "attempts of the retry strategy, 1-10")
	retryOn, exitOn := newExitRuleFlags(&o.rules)
	f.Var(retryOn, "retry-on", "retry when the status reason matches GLOB (repeatable; rules apply in the order given)")
	f.Var(exitOn, "exit-on", "give up when the status reason matches GLOB (repeatable; rules apply in the order given)")
	f.Var(&o.timeout, "timeout", "stop an attempt that runs longer than this, e.g. 2h (timeoutConfig.attemptDurationSeconds)")
	f.Var(&o.tags, "tag", "tag KEY=VALUE of the job (repeatable)")
	f.StringVar(&o.clientToken, "client-token", "", "idempotency token: a repeated submit with the same token returns the same job")
	o.wait.addFlags(cmd)
	f.StringVar(&o.fromFile, "from-file", "", "submit one job per line of a JSON Lines file (- for stdin); each line's members override the flags")
	f.IntVar(&o.count, "count", 0, "submit N jobs (cycling through the sweep's values, if any)")
	f.StringVar(&o.sweepMode, "sweep", "grid", "how several brace lists combine: grid (every combination) or zip (together, one value of each per job)")
	f.IntVar(&o.parallel, "parallel", 8, "submissions (and, with --wait, status requests) in flight at once")
	f.StringVar(&o.clientTokenPrefix, "client-token-prefix", "", "give job i of a bulk submission the client token PREFIX-i: running it again resubmits only what is missing")
	return cmd
}

// entryPoint returns the arguments after --.
func entryPoint(cmd *cobra.Command, args []string) ([]string, error) {
	if len(args) > 0 && cmd.ArgsLenAtDash() != 0 {
		return nil, usagef("unexpected argument %q: the entry point goes after -- (sagequeue submit -q QUEUE -n NAME -- python train.py)", args[0])
	}
	return args, nil
}

// submitInput turns the options into a SubmitServiceJob request. changed
// says which flags were given (a bulk job's file line counts as giving
// them); payloadFile is the content of --payload, read once.
func (a *App) submitInput(o *submitOptions, changed func(string) bool, entry []string, payloadFile []byte) (*batch.SubmitServiceJobInput, error) {
	if o.queue == "" {
		return nil, usagef("--queue is required (sagequeue submit -q QUEUE -n NAME ...)")
	}
	if o.name == "" {
		return nil, usagef("--name is required (sagequeue submit -q QUEUE -n NAME ...)")
	}
	spec := payloadSpec{
		Image:           o.image,
		RoleArn:         o.roleArn,
		HyperParameters: &o.hyperParameters,
		Environment:     &o.environment,
		OutputPath:      o.outputPath,
		TrainingPlanArn: o.trainingPlanArn,
		CheckpointURI:   o.checkpointURI,
		Entrypoint:      entry,
	}
	if o.payload == "" || changed("instance-type") {
		spec.InstanceType = o.instanceType
		if spec.InstanceType == "" {
			return nil, usagef("--instance-type must not be empty")
		}
	}
	if changed("instance-count") {
		if o.instanceCount < 1 {
			return nil, usagef("--instance-count must be at least 1, got %d", o.instanceCount)
		}
		spec.InstanceCount = o.instanceCount
	}
	if o.maxRuntime.set {
		spec.MaxRuntimeSecs = o.maxRuntime.Seconds()
	}
	spec.File = payloadFile
	payload, err := buildPayload(spec)
	if err != nil {
		return nil, err
	}

	in := &batch.SubmitServiceJobInput{
		JobName:               aws.String(o.name),
		JobQueue:              aws.String(o.queue),
		ServiceJobType:        types.ServiceJobTypeSagemakerTraining,
		ServiceRequestPayload: aws.String(payload),
	}
	if o.share != "" {
		in.ShareIdentifier = aws.String(o.share)
	}
	if o.quotaShare != "" {
		in.QuotaShareName = aws.String(o.quotaShare)
	}
	if changed("preemption-retries") {
		in.PreemptionConfiguration = &types.ServiceJobPreemptionConfiguration{PreemptionRetriesBeforeTermination: aws.Int32(o.preemptions)}
	}
	if changed("priority") {
		in.SchedulingPriority = aws.Int32(o.priority)
	}
	if changed("attempts") || len(o.rules) > 0 {
		if !changed("attempts") {
			return nil, usagef("--retry-on and --exit-on need --attempts N (the most placements of the job, 1-10)")
		}
		in.RetryStrategy = &types.ServiceJobRetryStrategy{Attempts: aws.Int32(o.attempts), EvaluateOnExit: o.rules}
	}
	if o.timeout.set {
		secs := o.timeout.Seconds()
		if secs > math.MaxInt32 {
			return nil, usagef("--timeout %s is too long", o.timeout.D)
		}
		in.TimeoutConfig = &types.ServiceJobTimeout{AttemptDurationSeconds: aws.Int32(int32(secs))}
	}
	if len(o.tags.Map) > 0 {
		in.Tags = o.tags.Map
	}
	if o.clientToken != "" {
		in.ClientToken = aws.String(o.clientToken)
	}
	return in, nil
}

func (a *App) runSubmit(cmd *cobra.Command, o *submitOptions, args []string) error {
	if err := o.wait.check(cmd); err != nil {
		return err
	}
	entry, err := entryPoint(cmd, args)
	if err != nil {
		return err
	}
	var payloadFile []byte
	if o.payload != "" {
		if o.payload == "-" && o.fromFile == "-" {
			return usagef("--payload - and --from-file - cannot both read standard input")
		}
		if payloadFile, err = a.readInput(o.payload); err != nil {
			return err
		}
	}
	if o.bulk(cmd) {
		return a.runBulkSubmit(cmd, o, entry, payloadFile)
	}
	in, err := a.submitInput(o, cmd.Flags().Changed, entry, payloadFile)
	if err != nil {
		return err
	}
	ctx := cmd.Context()
	client, err := a.Batch(ctx)
	if err != nil {
		return err
	}
	out, err := client.SubmitServiceJob(ctx, in)
	if err != nil {
		return err
	}
	if !o.wait.wait {
		if a.json() {
			return a.printJSON(out)
		}
		_, err = fmt.Fprintln(a.Stdout, aws.ToString(out.JobId))
		return err
	}
	// The id first, so that a script or a person has it while waiting.
	if !a.json() {
		fmt.Fprintln(a.Stdout, aws.ToString(out.JobId))
	}
	w := a.newWaiter(client, &o.wait, []string{aws.ToString(out.JobId)}, 1)
	if err := w.run(ctx); err != nil {
		return err
	}
	if a.json() {
		if err := a.printJSON(w.jobs[aws.ToString(out.JobId)]); err != nil {
			return err
		}
	}
	if code := a.reportWait(w); code != ExitOK {
		return &silentExit{code: code}
	}
	return nil
}

// readInput reads a file named on the command line by flag, - being stdin.
func (a *App) readInput(name string, flag ...string) ([]byte, error) {
	which := "--payload"
	if len(flag) > 0 {
		which = flag[0]
	}
	if name == "-" {
		if a.Stdin == nil {
			return nil, usagef("%s -: no standard input", which)
		}
		data, err := io.ReadAll(a.Stdin)
		if err != nil {
			return nil, usagef("reading standard input: %v", err)
		}
		return data, nil
	}
	data, err := os.ReadFile(name)
	if err != nil {
		return nil, usagef("%s: %v", which, err)
	}
	return data, nil
}

package dynamo

import (
	"bytes"
	"compress/flate"
	"fmt"
	"io"
	"sync"
)

// A job's document and payload are stored compressed: DynamoDB bills writes
// by the kilobyte of the whole item (and the heads index, the ACTIVE copy and
// every transaction pay again for it), and a job's JSON of about 1.2 KB
// deflates to about 300 bytes against a dictionary of the words every job
// repeats (field names, ARN prefixes, states). That keeps META, its ACTIVE
// copy and its heads entry under 1 KB: one write unit each instead of two.
//
// An encoded value is one format byte and the DEFLATE stream. A dictionary,
// once used, must never change: a new one gets a new format byte, and
// decode keeps reading the old ones.
const formatDeflateV1 = 1

// dictV1 is the preset dictionary of format 1: the field names of
// model.ServiceJob in encoding order and of CreateTrainingJob requests, and
// the values they most often hold. DEFLATE finds a match only in the last
// 32 KiB, and nearer matches cost fewer bits, so the job's own words come
// last.
var dictV1 = []byte(`{"AlgorithmSpecification":{"TrainingImage":".dkr.ecr.us-east-1.amazonaws.com/",` +
	`"TrainingInputMode":"File","ContainerEntrypoint":["python","train.py"],"ContainerArguments":["--"],` +
	`"MetricDefinitions":[{"Name":"","Regex":""}],"EnableSageMakerMetricsTimeSeries":true},` +
	`"InputDataConfig":[{"ChannelName":"train","DataSource":{"S3DataSource":{"S3DataType":"S3Prefix","S3Uri":"s3://",` +
	`"S3DataDistributionType":"FullyReplicated"}},"ContentType":"","CompressionType":"None","InputMode":"File"}],` +
	`"HyperParameters":{"epochs":"","batch-size":"","learning-rate":""},"Environment":{},` +
	`"OutputDataConfig":{"S3OutputPath":"s3://","KmsKeyId":""},"RoleArn":"arn:aws:iam::",":role/",` +
	`"ResourceConfig":{"InstanceType":"ml.","InstanceCount":1,"VolumeSizeInGB":,"InstanceGroups":[{"InstanceGroupName":""}],` +
	`"TrainingPlanArn":"arn:aws:sagemaker:","KeepAlivePeriodInSeconds":},` +
	`"StoppingCondition":{"MaxRuntimeInSeconds":86400,"MaxWaitTimeInSeconds":},` +
	`"CheckpointConfig":{"S3Uri":"s3://","LocalPath":"/opt/ml/checkpoints"},"VpcConfig":{"SecurityGroupIds":["sg-"],"Subnets":["subnet-"]},` +
	`"EnableManagedSpotTraining":false,"Tags":[{"Key":"","Value":""}]}` +
	`FAILED","statusReason":"Received status from SageMaker: CapacityError: ` +
	`CAPACITY:INSUFFICIENT_INSTANCE_CAPACITY - MISCONFIGURATION:SERVICE_ENVIRONMENT_MAX_RESOURCE - ` +
	`Terminated by JobStateTimeLimit action due to reason: ` +
	`{"jobId":"","jobArn":"arn:aws:batch:us-east-1::service-job/","jobName":"","jobQueue":"arn:aws:batch:us-east-1::job-queue/",` +
	`"serviceJobType":"SAGEMAKER_TRAINING","serviceRequestPayload":"","status":"SUBMITTED","RUNNABLE","STARTING",` +
	`"SUCCEEDED","status":"SCHEDULED","status":"RUNNING","statusReason":"","schedulingPriority":0,"shareIdentifier":"",` +
	`"retryStrategy":{"attempts":,"evaluateOnExit":[{"action":"RETRY","EXIT","onStatusReason":""}]},` +
	`"timeoutConfig":{"attemptDurationSeconds":},"tags":{},` +
	`"attempts":[{"trainingJobName":"sagequeue-","trainingJobArn":"arn:aws:sagemaker:us-east-1::training-job/sagequeue-",` +
	`"serviceEnvironment":"arn:aws:batch:us-east-1::service-environment/","startedAt":17,"stoppedAt":17,"statusReason":""}],` +
	`"isTerminated":false,"createdAt":17,"scheduledAt":17,"startedAt":17,"stoppedAt":17,"clientToken":"","requestDigest":"",` +
	`"terminateReason":"","submittedBy":"arn:aws:sts::","instances":1,"instanceType":"ml.",` +
	`"serviceEnvironment":"arn:aws:batch:us-east-1::service-environment/","placements":1,"launches":1,` +
	`"capacityFailures":,"notBefore":17,"runnableAt":17,"blockedCode":"","blockedSince":17,"stopReason":"",` +
	`"stopRequestedAt":17,"checkedAt":17,"updatedAt":17,"version":`)

var writers = sync.Pool{New: func() any {
	w, err := flate.NewWriterDict(io.Discard, flate.DefaultCompression, dictV1)
	if err != nil {
		panic(err) // only for an invalid level
	}
	return w
}}

// encode compresses data in the current format.
func encode(data []byte) []byte {
	var b bytes.Buffer
	b.Grow(len(data)/3 + 16)
	b.WriteByte(formatDeflateV1)
	w := writers.Get().(*flate.Writer)
	w.Reset(&b)
	_, _ = w.Write(data) // a bytes.Buffer does not fail
	_ = w.Close()
	writers.Put(w)
	return b.Bytes()
}

// decode reverses encode, for every format ever written.
func decode(data []byte) ([]byte, error) {
	if len(data) == 0 {
		return nil, fmt.Errorf("empty value")
	}
	switch data[0] {
	case formatDeflateV1:
		r := flate.NewReaderDict(bytes.NewReader(data[1:]), dictV1)
		defer r.Close()
		return io.ReadAll(r)
	}
	return nil, fmt.Errorf("unknown format %d", data[0])
}

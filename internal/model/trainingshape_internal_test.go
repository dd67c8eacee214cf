package model

import (
	"encoding/json"
	"strings"
	"testing"
)

// BenchmarkTrainingShapeCheck: the part of ParsePayload that the shape
// check adds (a generic decode and the walk), on the payload of
// BenchmarkParsePayload (docs/benchmarks.md).
func BenchmarkTrainingShapeCheck(b *testing.B) {
	payload := benchPayload
	b.SetBytes(int64(len(payload)))
	b.ReportAllocs()
	for b.Loop() {
		var raw any
		dec := json.NewDecoder(strings.NewReader(payload))
		dec.UseNumber()
		if err := dec.Decode(&raw); err != nil {
			b.Fatal(err)
		}
		if err := checkTrainingShape(payloadField, raw); err != nil {
			b.Fatal(err)
		}
	}
}

// benchPayload is a realistic CreateTrainingJob request of about 1 KiB.
const benchPayload = `{"TrainingJobName":"bert-large","RoleArn":"arn:aws:iam::123456789012:role/SageMakerTraining",` +
	`"AlgorithmSpecification":{"TrainingImage":"123456789012.dkr.ecr.us-east-1.amazonaws.com/bert:latest","TrainingInputMode":"File",` +
	`"ContainerEntrypoint":["python","train.py"],"ContainerArguments":["--epochs","3"],"MetricDefinitions":[{"Name":"loss","Regex":"loss=([0-9.]+)"}]},` +
	`"HyperParameters":{"epochs":"3","lr":"0.0001","batch-size":"256","warmup":"0.1"},"Environment":{"WANDB_MODE":"offline"},` +
	`"InputDataConfig":[{"ChannelName":"train","DataSource":{"S3DataSource":{"S3DataType":"S3Prefix","S3Uri":"s3://bucket/train","S3DataDistributionType":"FullyReplicated"}}},` +
	`{"ChannelName":"validation","DataSource":{"S3DataSource":{"S3DataType":"S3Prefix","S3Uri":"s3://bucket/val"}}}],` +
	`"OutputDataConfig":{"S3OutputPath":"s3://bucket/out"},"CheckpointConfig":{"S3Uri":"s3://bucket/ckpt/bert-large"},` +
	`"ResourceConfig":{"InstanceType":"ml.p4d.24xlarge","InstanceCount":2,"VolumeSizeInGB":500},"StoppingCondition":{"MaxRuntimeInSeconds":86400},` +
	`"Tags":[{"Key":"team","Value":"nlp"}]}`

// BenchPayload lets the external benchmark use the same payload.
var BenchPayload = benchPayload

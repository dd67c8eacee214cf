package engine

import (
	"context"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/sagemaker"

	"github.com/sagequeue/sagequeue/internal/model"
)

// Observer is told what the engine did, for metrics (internal/metrics). It
// only watches: the engine behaves the same with or without one.
//
// Methods are called synchronously from the engine's goroutines, several at
// a time: they must be quick, safe for concurrent use, and must not modify
// what they are given.
type Observer interface {
	// PassFinished follows every scheduling pass; res.Busy means another
	// scheduler held the lease and the pass did nothing.
	PassFinished(res PassResult, err error)
	// JobTransition follows every stored change of a job's status, by the
	// engine or (through Runner.JobChanged) by the API; from is "" for a new
	// job. j is the job as stored, with its timestamps.
	JobTransition(from model.JobStatus, j *model.ServiceJob)
	// SageMakerCall follows every call the engine made to SageMaker: op is
	// the operation (CreateTrainingJob, DescribeTrainingJob,
	// StopTrainingJob), err its error or nil. Expected errors count too (a
	// relaunch finding its training job exists, a reconcile finding none):
	// they are what SageMaker answered.
	SageMakerCall(op string, took time.Duration, err error)
}

// observePass tells the observer, if any, about a pass.
func (e *Engine) observePass(res PassResult, err error) {
	if e.cfg.Observer != nil {
		e.cfg.Observer.PassFinished(res, err)
	}
}

// observeTransition tells the observer, if any, that j left status from.
func (e *Engine) observeTransition(from model.JobStatus, j *model.ServiceJob) {
	if e.cfg.Observer != nil && j != nil && j.Status != from {
		e.cfg.Observer.JobTransition(from, j)
	}
}

// observeSageMaker wraps a SageMaker client so that every call is reported:
// one place, rather than a line at every call site.
func observeSageMaker(sm SageMaker, o Observer) SageMaker {
	if o == nil {
		return sm
	}
	return observedSageMaker{sm: sm, o: o}
}

type observedSageMaker struct {
	sm SageMaker
	o  Observer
}

func (s observedSageMaker) CreateTrainingJob(ctx context.Context, in *sagemaker.CreateTrainingJobInput, opts ...func(*sagemaker.Options)) (*sagemaker.CreateTrainingJobOutput, error) {
	start := time.Now()
	out, err := s.sm.CreateTrainingJob(ctx, in, opts...)
	s.o.SageMakerCall("CreateTrainingJob", time.Since(start), err)
	return out, err
}

func (s observedSageMaker) DescribeTrainingJob(ctx context.Context, in *sagemaker.DescribeTrainingJobInput, opts ...func(*sagemaker.Options)) (*sagemaker.DescribeTrainingJobOutput, error) {
	start := time.Now()
	out, err := s.sm.DescribeTrainingJob(ctx, in, opts...)
	s.o.SageMakerCall("DescribeTrainingJob", time.Since(start), err)
	return out, err
}

func (s observedSageMaker) DescribeTrainingPlan(ctx context.Context, in *sagemaker.DescribeTrainingPlanInput, opts ...func(*sagemaker.Options)) (*sagemaker.DescribeTrainingPlanOutput, error) {
	start := time.Now()
	out, err := s.sm.DescribeTrainingPlan(ctx, in, opts...)
	s.o.SageMakerCall("DescribeTrainingPlan", time.Since(start), err)
	return out, err
}

func (s observedSageMaker) StopTrainingJob(ctx context.Context, in *sagemaker.StopTrainingJobInput, opts ...func(*sagemaker.Options)) (*sagemaker.StopTrainingJobOutput, error) {
	start := time.Now()
	out, err := s.sm.StopTrainingJob(ctx, in, opts...)
	s.o.SageMakerCall("StopTrainingJob", time.Since(start), err)
	return out, err
}

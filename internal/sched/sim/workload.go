package sim

import (
	"fmt"
	"math/rand/v2"
	"time"

	"github.com/sagequeue/sagequeue/internal/model"
)

// Env returns an enabled environment of max instances in the local account.
func Env(name string, max int64) model.ServiceEnvironment {
	return model.ServiceEnvironment{
		Name: name, Arn: model.LocalAccount.ARN(model.KindServiceEnvironment, name),
		Type: model.ServiceJobTypeSageMakerTraining, State: model.StateEnabled, Status: model.StatusValid,
		CapacityLimits: []model.CapacityLimit{{CapacityUnit: model.CapacityUnitInstances, MaxCapacity: max}},
	}
}

// Queue returns an enabled queue on envs (tried in the order given); policy
// is the name of its scheduling policy, "" for FIFO.
func Queue(name string, priority int32, policy string, envs ...string) model.JobQueue {
	q := model.JobQueue{
		Name: name, Arn: model.LocalAccount.ARN(model.KindJobQueue, name),
		Type: model.ServiceJobTypeSageMakerTraining, State: model.StateEnabled, Status: model.StatusValid,
		Priority: priority,
	}
	if policy != "" {
		q.SchedulingPolicyArn = model.LocalAccount.ARN(model.KindSchedulingPolicy, policy)
	}
	for i, e := range envs {
		q.ServiceEnvironmentOrder = append(q.ServiceEnvironmentOrder, model.ServiceEnvironmentOrder{
			Order: int32(i + 1), ServiceEnvironment: model.LocalAccount.ARN(model.KindServiceEnvironment, e),
		})
	}
	return q
}

// Policy returns a fair-share policy with the given weights.
func Policy(name string, decaySeconds, reservation int32, weights ...model.ShareAttributes) model.SchedulingPolicy {
	return model.SchedulingPolicy{
		Name: name, Arn: model.LocalAccount.ARN(model.KindSchedulingPolicy, name),
		FairsharePolicy: &model.FairsharePolicy{
			ShareDecaySeconds: decaySeconds, ComputeReservation: reservation, ShareDistribution: weights,
		},
	}
}

// Backlog returns n jobs of one share that all arrive at the same time, with
// increasing IDs (prefix-000000, prefix-000001, ...) so FIFO order is the
// order of the slice.
func Backlog(prefix, queue, share string, n int, instances int64, duration time.Duration, at int64) []Job {
	jobs := make([]Job, n)
	for i := range jobs {
		jobs[i] = Job{
			ID: fmt.Sprintf("%s-%06d", prefix, i), Queue: queue, Share: share,
			Instances: instances, Arrival: at, Duration: duration,
		}
	}
	return jobs
}

// Poisson returns n jobs arriving as a Poisson process with the given mean
// gap, with durations spread uniformly over [minDur, maxDur]. The same seed
// gives the same jobs.
func Poisson(seed uint64, prefix, queue, share string, n int, start int64, meanGap, minDur, maxDur time.Duration, instances int64) []Job {
	rng := rand.New(rand.NewPCG(seed, 0x5a9e))
	jobs := make([]Job, n)
	t := float64(start)
	for i := range jobs {
		t += rng.ExpFloat64() * float64(meanGap.Milliseconds())
		d := minDur + time.Duration(rng.Int64N(int64(maxDur-minDur)+1))
		jobs[i] = Job{
			ID: fmt.Sprintf("%s-%06d", prefix, i), Queue: queue, Share: share,
			Instances: instances, Arrival: int64(t), Duration: d,
		}
	}
	return jobs
}

package api_test

import (
	"bytes"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"testing"

	"github.com/sagequeue/sagequeue/internal/api"
	"github.com/sagequeue/sagequeue/internal/model"
	"github.com/sagequeue/sagequeue/internal/store/bolt"
)

var fuzzOps = []string{
	"submitservicejob", "describeservicejob", "listservicejobs", "terminateservicejob", "updateservicejob",
	"getjobqueuesnapshot", "createserviceenvironment", "updateserviceenvironment", "describeserviceenvironments",
	"deleteserviceenvironment", "createjobqueue", "updatejobqueue", "describejobqueues", "deletejobqueue",
	"createschedulingpolicy", "updateschedulingpolicy", "describeschedulingpolicies", "listschedulingpolicies",
	"deleteschedulingpolicy", "getservicejoblogs", "getdashboard", "getutilization", "searchservicejobs",
	"createquotashare", "updatequotashare", "describequotashare", "listquotashares", "deletequotashare",
}

// FuzzRequests throws arbitrary bodies at every operation of a handler whose
// store holds an environment, a policy and two queues, so that valid-looking
// requests reach deep paths. No request may panic the handler or get a 5xx,
// and every answer must be JSON in the protocol's shape.
func FuzzRequests(f *testing.F) {
	seeds := map[string]string{
		"submitservicejob":            `{"jobName":"j","jobQueue":"fair","serviceJobType":"SAGEMAKER_TRAINING","serviceRequestPayload":"{\"ResourceConfig\":{\"InstanceCount\":2}}","shareIdentifier":"research","retryStrategy":{"attempts":2,"evaluateOnExit":[{"action":"EXIT","onStatusReason":"x*"}]},"clientToken":"t","tags":{"a":"b"},"timeoutConfig":{"attemptDurationSeconds":5}}`,
		"describeservicejob":          `{"jobId":"x"}`,
		"listservicejobs":             `{"jobQueue":"fifo","jobStatus":"RUNNABLE","maxResults":5,"filters":[{"name":"JOB_NAME","values":["j*"]}]}`,
		"terminateservicejob":         `{"jobId":"x","reason":"r"}`,
		"updateservicejob":            `{"jobId":"x","schedulingPriority":5}`,
		"getjobqueuesnapshot":         `{"jobQueue":"fair"}`,
		"createserviceenvironment":    `{"serviceEnvironmentName":"e2","serviceEnvironmentType":"SAGEMAKER_TRAINING","capacityLimits":[{"capacityUnit":"NUM_INSTANCES","maxCapacity":3}]}`,
		"updateserviceenvironment":    `{"serviceEnvironment":"plan","state":"DISABLED","capacityLimits":[{"maxCapacity":5}]}`,
		"describeserviceenvironments": `{"serviceEnvironments":["plan"],"maxResults":1}`,
		"deleteserviceenvironment":    `{"serviceEnvironment":"plan"}`,
		"createjobqueue":              `{"jobQueueName":"q2","priority":5,"serviceEnvironmentOrder":[{"order":1,"serviceEnvironment":"plan"}],"jobStateTimeLimitActions":[{"action":"CANCEL","maxTimeSeconds":60,"reason":"R","state":"RUNNABLE"}]}`,
		"updatejobqueue":              `{"jobQueue":"fifo","priority":7,"state":"DISABLED"}`,
		"describejobqueues":           `{"jobQueues":["fifo"],"nextToken":"x"}`,
		"deletejobqueue":              `{"jobQueue":"fifo"}`,
		"createschedulingpolicy":      `{"name":"p2","fairsharePolicy":{"shareDecaySeconds":5,"computeReservation":5,"shareDistribution":[{"shareIdentifier":"a*","weightFactor":0.5}]}}`,
		"updateschedulingpolicy":      `{"arn":"fp","fairsharePolicy":{"computeReservation":9}}`,
		"describeschedulingpolicies":  `{"arns":["fp"]}`,
		"listschedulingpolicies":      `{"maxResults":1}`,
		"deleteschedulingpolicy":      `{"arn":"fp"}`,
		"getservicejoblogs":           `{"jobId":"x","attempt":1,"startFromHead":true,"limit":5,"nextToken":"abc"}`,
		"getdashboard":                `{"recentSeconds":3600,"countLimit":10}`,
		"getutilization":              `{"startTime":1700000000000,"endTime":1700003600000,"periodSeconds":30}`,
		"searchservicejobs":           `{"jobQueue":"fair","jobStatus":"RUNNABLE","shareIdentifier":"research","jobNamePrefix":"j","maxResults":5,"nextToken":"abc"}`,
		"createquotashare":            `{"quotaShareName":"b","jobQueue":"qm","capacityLimits":[{"capacityUnit":"ml.p5.48xlarge","maxCapacity":2}],"resourceSharingConfiguration":{"strategy":"LEND_AND_BORROW","borrowLimit":50},"preemptionConfiguration":{"inSharePreemption":"ENABLED"}}`,
		"updatequotashare":            `{"quotaShareArn":"arn:aws:batch:local:000000000000:job-queue/qm/quota-share/a","capacityLimits":[{"capacityUnit":"ml.p5.48xlarge","maxCapacity":0}],"state":"DISABLED"}`,
		"describequotashare":          `{"quotaShareArn":"arn:aws:batch:local:000000000000:job-queue/qm/quota-share/a"}`,
		"listquotashares":             `{"jobQueue":"qm","maxResults":1}`,
		"deletequotashare":            `{"quotaShareArn":"arn:aws:batch:local:000000000000:job-queue/qm/quota-share/a"}`,
	}
	f.Add(uint8(0), []byte(`{"jobName":"j","jobQueue":"qm","quotaShareName":"a","serviceJobType":"SAGEMAKER_TRAINING","serviceRequestPayload":"{\"ResourceConfig\":{\"InstanceType\":\"ml.p5.48xlarge\"}}","preemptionConfiguration":{"preemptionRetriesBeforeTermination":1}}`))
	for i, op := range fuzzOps {
		f.Add(uint8(i), []byte(seeds[op]))
	}
	f.Add(uint8(0), []byte(`{"jobName":null,"tags":{"":""},"schedulingPriority":1e400}`))

	st, err := bolt.Open(filepath.Join(f.TempDir(), "fuzz.db"))
	if err != nil {
		f.Fatal(err)
	}
	defer st.Close()
	h := api.New(api.Config{Store: st, Account: model.LocalAccount})
	for _, setup := range []struct{ op, body string }{
		{"createserviceenvironment", `{"serviceEnvironmentName":"plan","serviceEnvironmentType":"SAGEMAKER_TRAINING","capacityLimits":[{"maxCapacity":8}]}`},
		{"createschedulingpolicy", `{"name":"fp","fairsharePolicy":{"shareDistribution":[{"shareIdentifier":"research","weightFactor":1}]}}`},
		{"createjobqueue", `{"jobQueueName":"fifo","priority":1,"serviceEnvironmentOrder":[{"order":1,"serviceEnvironment":"plan"}]}`},
		{"createjobqueue", `{"jobQueueName":"fair","priority":1,"schedulingPolicyArn":"fp","serviceEnvironmentOrder":[{"order":1,"serviceEnvironment":"plan"}]}`},
		{"createserviceenvironment", `{"serviceEnvironmentName":"qe","serviceEnvironmentType":"SAGEMAKER_TRAINING","capacityLimits":[{"capacityUnit":"ml.p5.48xlarge","maxCapacity":4}]}`},
		{"createschedulingpolicy", `{"name":"qp","quotaSharePolicy":{"idleResourceAssignmentStrategy":"FIFO"}}`},
		{"createjobqueue", `{"jobQueueName":"qm","priority":1,"schedulingPolicyArn":"qp","serviceEnvironmentOrder":[{"order":1,"serviceEnvironment":"qe"}]}`},
		{"createquotashare", `{"quotaShareName":"a","jobQueue":"qm","capacityLimits":[{"capacityUnit":"ml.p5.48xlarge","maxCapacity":2}],"resourceSharingConfiguration":{"strategy":"LEND"},"preemptionConfiguration":{"inSharePreemption":"DISABLED"}}`},
	} {
		if code, body := call(h, setup.op, []byte(setup.body)); code != 200 {
			f.Fatalf("setup %s: %d %s", setup.op, code, body)
		}
	}

	f.Fuzz(func(t *testing.T, op uint8, body []byte) {
		name := fuzzOps[int(op)%len(fuzzOps)]
		code, out := call(h, name, body)
		if code >= 500 {
			t.Fatalf("%s %q: %d %s", name, body, code, out)
		}
		var m map[string]any
		if err := json.Unmarshal(out, &m); err != nil {
			t.Fatalf("%s %q: answer is not a JSON object: %s", name, body, out)
		}
		if code != 200 {
			if msg, _ := m["message"].(string); msg == "" {
				t.Fatalf("%s %q: %d without a message: %s", name, body, code, out)
			}
		}
	})
}

func call(h http.Handler, op string, body []byte) (int, []byte) {
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodPost, "/v1/"+op, bytes.NewReader(body)))
	return rec.Code, rec.Body.Bytes()
}

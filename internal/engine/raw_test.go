package engine_test

import (
	"encoding/json"
	"testing"

	"github.com/aws/aws-sdk-go-v2/service/sagemaker"
)

// rawCreate creates a training job from a JSON payload, as a scheduler that
// crashed right after its CreateTrainingJob call would have.
func rawCreate(t *testing.T, r *rig, payload string) error {
	t.Helper()
	var in sagemaker.CreateTrainingJobInput
	if err := json.Unmarshal([]byte(payload), &in); err != nil {
		t.Fatal(err)
	}
	_, err := r.sm.CreateTrainingJob(ctx, &in)
	return err
}

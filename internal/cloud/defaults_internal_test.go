package cloud

import (
	"strings"
	"testing"
)

func TestTrainingDefaultsConfig(t *testing.T) {
	env := map[string]string{
		EnvTable: "sagequeue", EnvRegion: "us-east-1",
		EnvExecutionRoles:  "arn:aws:iam::123456789012:role/train-a, arn:aws:iam::123456789012:role/train-b",
		EnvTrainingSubnets: "subnet-1,subnet-2", EnvTrainingGroups: "sg-1", EnvTrainingKMSKey: "alias/training",
	}
	c, err := LoadConfig(FunctionSchedule, func(k string) string { return env[k] })
	if err != nil {
		t.Fatal(err)
	}
	d := trainingDefaults(c)
	if d.RoleArn != "arn:aws:iam::123456789012:role/train-a" || len(d.Subnets) != 2 || d.SecurityGroupIDs[0] != "sg-1" || d.KMSKeyID != "alias/training" {
		t.Fatalf("defaults %+v", d)
	}
	for k, v := range map[string]string{
		EnvExecutionRoles: "arn:aws:iam::123456789012:user/bob", EnvTrainingSubnets: "vpc-1",
		EnvTrainingGroups: "",
	} {
		bad := map[string]string{}
		for kk, vv := range env {
			bad[kk] = vv
		}
		bad[k] = v
		if _, err := LoadConfig(FunctionSchedule, func(k string) string { return bad[k] }); err == nil || !strings.Contains(err.Error(), k) {
			t.Errorf("%s=%q: %v", k, v, err)
		}
	}
}

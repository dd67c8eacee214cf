package model

import (
	"fmt"
	"strings"
)

// Resource kinds as they appear in Batch ARNs.
const (
	KindJobQueue           = "job-queue"
	KindServiceEnvironment = "service-environment"
	KindSchedulingPolicy   = "scheduling-policy"
	KindServiceJob         = "service-job"
)

// Account names the partition, region and account that ARNs are minted in.
type Account struct {
	Partition string // "aws" when empty
	Region    string
	ID        string
}

// LocalAccount is the identity of a local `sagequeue serve`.
var LocalAccount = Account{Partition: "aws", Region: "local", ID: "000000000000"}

// ARN returns the ARN of a resource of the given kind.
func (a Account) ARN(kind, name string) string {
	p := a.Partition
	if p == "" {
		p = "aws"
	}
	return fmt.Sprintf("arn:%s:batch:%s:%s:%s/%s", p, a.Region, a.ID, kind, name)
}

// ParseARN splits a Batch ARN into its kind and name. ok is false when s is not
// a Batch ARN.
func ParseARN(s string) (kind, name string, ok bool) {
	// arn:partition:batch:region:account:kind/name
	parts := strings.SplitN(s, ":", 6)
	if len(parts) != 6 || parts[0] != "arn" || parts[2] != "batch" {
		return "", "", false
	}
	kind, name, found := strings.Cut(parts[5], "/")
	if !found || kind == "" || name == "" {
		return "", "", false
	}
	return kind, name, true
}

// NameOf resolves a name-or-ARN reference to a resource of the given kind to
// its name. field names the request member for the error message.
func NameOf(field, kind, ref string) (string, error) {
	if ref == "" {
		return "", Invalid(field, "is required")
	}
	if !strings.HasPrefix(ref, "arn:") {
		if err := ValidateName(field, ref); err != nil {
			return "", err
		}
		return ref, nil
	}
	k, name, ok := ParseARN(ref)
	if !ok {
		return "", Invalid(field, "is not a valid AWS Batch ARN")
	}
	if k != kind {
		return "", Invalidf(field, "must name a %s, not a %s", kind, k)
	}
	if err := ValidateName(field, name); err != nil {
		return "", err
	}
	return name, nil
}

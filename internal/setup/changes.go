package setup

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"slices"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/batch"
	"github.com/aws/aws-sdk-go-v2/service/batch/types"
	"github.com/aws/smithy-go/middleware"
	smithyhttp "github.com/aws/smithy-go/transport/http"
)

// Kinds of what a configuration holds, as a Change names them.
const (
	kindEnvironment = "environment"
	kindPolicy      = "policy"
	kindQueue       = "queue"
)

// Change is one thing Apply changed: an environment, policy or queue it
// created, or one it updated and the fields that differed.
type Change struct {
	Kind    string // environment, policy or queue
	Name    string
	Created bool
	// Fields are the differences an update made, as "maxCapacity 8 -> 4".
	Fields []string
}

func (c Change) String() string {
	if c.Created {
		return fmt.Sprintf("created %s %s", c.Kind, c.Name)
	}
	return fmt.Sprintf("updated %s %s: %s", c.Kind, c.Name, strings.Join(c.Fields, ", "))
}

func created(kind, name string) *Change { return &Change{Kind: kind, Name: name, Created: true} }

// diff collects the fields whose stored value differs from the file's.
type diff struct{ fields []string }

func (d *diff) field(name string, stored, want any) {
	s, w := fmt.Sprint(stored), fmt.Sprint(want)
	if s == w {
		return
	}
	d.fields = append(d.fields, fmt.Sprintf("%s %s -> %s", name, shown(s), shown(w)))
}

// shown makes an empty value visible in a change.
func shown(s string) string {
	if s == "" {
		return `""`
	}
	return s
}

func (d *diff) empty() bool { return len(d.fields) == 0 }

func (d *diff) updated(kind, name string) *Change {
	return &Change{Kind: kind, Name: name, Fields: d.fields}
}

// nameOf is the name at the end of an ARN (or the name itself).
func nameOf(arnOrName string) string {
	return arnOrName[strings.LastIndex(arnOrName, "/")+1:]
}

func environmentsText(order []types.ServiceEnvironmentOrder) string {
	sorted := slices.Clone(order)
	slices.SortStableFunc(sorted, func(a, b types.ServiceEnvironmentOrder) int {
		return int(aws.ToInt32(a.Order)) - int(aws.ToInt32(b.Order))
	})
	var names []string
	for _, o := range sorted {
		names = append(names, nameOf(aws.ToString(o.ServiceEnvironment)))
	}
	return "[" + strings.Join(names, " ") + "]"
}

func sharesText(shares []types.ShareAttributes) string {
	var out []string
	for _, s := range shares {
		out = append(out, fmt.Sprintf("%s=%g", aws.ToString(s.ShareIdentifier), aws.ToFloat32(s.WeightFactor)))
	}
	slices.Sort(out)
	return "[" + strings.Join(out, " ") + "]"
}

func timeLimitsText(limits []types.JobStateTimeLimitAction) string {
	var out []string
	for _, l := range limits {
		out = append(out, fmt.Sprintf("%s after %ds: %s", aws.ToString(l.Reason), aws.ToInt32(l.MaxTimeSeconds), l.Action))
	}
	return "[" + strings.Join(out, "; ") + "]"
}

// rawResponse keeps the body of an operation's response, for the members
// that the SDK does not model (sagequeue's extensions) and so drops.
type rawResponse struct{ body []byte }

// capture is an option of an operation that fills r.
func (r *rawResponse) capture(o *batch.Options) {
	o.APIOptions = append(o.APIOptions, func(stack *middleware.Stack) error {
		// After the operation's deserializer, so nearer the transport: it
		// sees the response before the deserializer reads it.
		return stack.Deserialize.Add(middleware.DeserializeMiddlewareFunc("sagequeueRawResponse",
			func(ctx context.Context, in middleware.DeserializeInput, next middleware.DeserializeHandler) (middleware.DeserializeOutput, middleware.Metadata, error) {
				out, md, err := next.HandleDeserialize(ctx, in)
				if err != nil {
					return out, md, err
				}
				if resp, ok := out.RawResponse.(*smithyhttp.Response); ok && resp.Body != nil {
					body, rerr := io.ReadAll(resp.Body)
					resp.Body.Close()
					if rerr != nil {
						return out, md, rerr
					}
					r.body = body
					resp.Body = io.NopCloser(bytes.NewReader(body))
				}
				return out, md, nil
			}), middleware.After)
	})
}

// environmentPlan is the trainingPlanArn of the one environment a
// DescribeServiceEnvironments response holds.
func (r *rawResponse) environmentPlan() string {
	var doc struct {
		ServiceEnvironments []struct {
			TrainingPlanArn string `json:"trainingPlanArn"`
		} `json:"serviceEnvironments"`
	}
	if json.Unmarshal(r.body, &doc) != nil || len(doc.ServiceEnvironments) != 1 {
		return ""
	}
	return doc.ServiceEnvironments[0].TrainingPlanArn
}

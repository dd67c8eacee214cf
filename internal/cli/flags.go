package cli

import (
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/batch/types"
	"github.com/spf13/pflag"
)

// kvFlag is a repeatable k=v flag. Later values of a key win; Keys keeps
// the order keys were first given in.
type kvFlag struct {
	Map  map[string]string
	Keys []string
}

var _ pflag.Value = (*kvFlag)(nil)

func (f *kvFlag) Set(s string) error {
	k, v, ok := strings.Cut(s, "=")
	if !ok {
		return fmt.Errorf("%q is not KEY=VALUE", s)
	}
	if k == "" {
		return fmt.Errorf("%q has an empty key", s)
	}
	if f.Map == nil {
		f.Map = map[string]string{}
	}
	if _, seen := f.Map[k]; !seen {
		f.Keys = append(f.Keys, k)
	}
	f.Map[k] = v
	return nil
}

func (f *kvFlag) String() string {
	parts := make([]string, 0, len(f.Keys))
	for _, k := range f.Keys {
		parts = append(parts, k+"="+f.Map[k])
	}
	return strings.Join(parts, ",")
}

func (f *kvFlag) Type() string { return "KEY=VALUE" }

// exitRuleFlag is --retry-on or --exit-on. Both flags of a command share one
// rule list, and pflag calls Set in command-line order, so the rules keep
// the order in which they were given across both flags: the first rule that
// matches a failure decides, as in Batch's evaluateOnExit.
type exitRuleFlag struct {
	rules  *[]types.ServiceJobEvaluateOnExit
	action types.ServiceJobRetryAction
}

var _ pflag.Value = (*exitRuleFlag)(nil)

// newExitRuleFlags returns the --retry-on and --exit-on values over rules.
func newExitRuleFlags(rules *[]types.ServiceJobEvaluateOnExit) (retryOn, exitOn *exitRuleFlag) {
	return &exitRuleFlag{rules: rules, action: types.ServiceJobRetryActionRetry},
		&exitRuleFlag{rules: rules, action: types.ServiceJobRetryActionExit}
}

func (f *exitRuleFlag) Set(s string) error {
	if s == "" {
		return fmt.Errorf("empty pattern: use '*' to match every status reason")
	}
	*f.rules = append(*f.rules, types.ServiceJobEvaluateOnExit{Action: f.action, OnStatusReason: aws.String(s)})
	return nil
}

func (f *exitRuleFlag) String() string {
	if f.rules == nil {
		return ""
	}
	var parts []string
	for _, r := range *f.rules {
		if r.Action == f.action {
			parts = append(parts, aws.ToString(r.OnStatusReason))
		}
	}
	return strings.Join(parts, ",")
}

func (f *exitRuleFlag) Type() string { return "GLOB" }

// durationFlag is a length of time: a Go duration (90s, 1h30m), a number of
// days (2d) or a bare number of seconds (3600).
type durationFlag struct {
	D   time.Duration
	set bool
}

var _ pflag.Value = (*durationFlag)(nil)

func (f *durationFlag) Set(s string) error {
	d, err := parseDuration(s)
	if err != nil {
		return err
	}
	if d <= 0 {
		return fmt.Errorf("%q must be positive", s)
	}
	f.D, f.set = d, true
	return nil
}

func (f *durationFlag) String() string {
	if !f.set {
		return ""
	}
	return f.D.String()
}

func (f *durationFlag) Type() string { return "DURATION" }

// Seconds returns the duration in whole seconds, rounded up.
func (f *durationFlag) Seconds() int64 {
	return int64(math.Ceil(f.D.Seconds()))
}

// ParseDuration parses a duration of the command line: seconds ("90"), or
// a Go duration ("1h30m"), or days ("2d"); for the server binary's commands.
func ParseDuration(s string) (time.Duration, error) { return parseDuration(s) }

func parseDuration(s string) (time.Duration, error) {
	s = strings.TrimSpace(s)
	if n, err := strconv.ParseInt(s, 10, 64); err == nil {
		if n > math.MaxInt64/int64(time.Second) || n < 0 {
			return 0, fmt.Errorf("%q is out of range", s)
		}
		return time.Duration(n) * time.Second, nil
	}
	if days, ok := strings.CutSuffix(s, "d"); ok {
		if n, err := strconv.ParseFloat(days, 64); err == nil && n >= 0 && n < 100000 {
			return time.Duration(n * 24 * float64(time.Hour)), nil
		}
	}
	d, err := time.ParseDuration(s)
	if err != nil {
		return 0, fmt.Errorf("%q is not a duration (like 90s, 45m, 2h, 1d or a number of seconds)", s)
	}
	return d, nil
}

// timeFlag is a point in time: RFC 3339 (2025-06-01T12:00:00Z), a date
// (2025-06-01, local midnight), or a duration meaning that long ago (2h).
type timeFlag struct {
	T   time.Time
	set bool
	now func() time.Time
	loc func() *time.Location
}

var _ pflag.Value = (*timeFlag)(nil)

func (f *timeFlag) Set(s string) error {
	s = strings.TrimSpace(s)
	if t, err := time.Parse(time.RFC3339Nano, s); err == nil {
		f.T, f.set = t, true
		return nil
	}
	loc := time.Local
	if f.loc != nil {
		loc = f.loc()
	}
	for _, layout := range []string{"2006-01-02T15:04:05", "2006-01-02 15:04:05", "2006-01-02T15:04", "2006-01-02 15:04", "2006-01-02"} {
		if t, err := time.ParseInLocation(layout, s, loc); err == nil {
			f.T, f.set = t, true
			return nil
		}
	}
	d, err := parseDuration(s)
	if err != nil {
		return fmt.Errorf("%q is neither a time (RFC 3339, like 2025-06-01T12:00:00Z, or a date) nor a duration ago (like 2h)", s)
	}
	now := time.Now
	if f.now != nil {
		now = f.now
	}
	f.T, f.set = now().Add(-d), true
	return nil
}

func (f *timeFlag) String() string {
	if !f.set {
		return ""
	}
	return f.T.Format(time.RFC3339)
}

func (f *timeFlag) Type() string { return "TIME" }

// newTimeFlag returns a timeFlag that reads the App's clock and time zone.
func (a *App) newTimeFlag() *timeFlag {
	return &timeFlag{
		now: func() time.Time { return a.Now() },
		loc: func() *time.Location { return a.Location },
	}
}

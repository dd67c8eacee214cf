package model

import (
	"errors"
	"strconv"
	"strings"
	"time"
)

// DefaultJobRetention is how long a finished job is kept, in the cloud (the
// DynamoDB TTL) and in `sagequeue serve` alike.
const DefaultJobRetention = 90 * 24 * time.Hour

// ParseDays is time.ParseDuration that also takes whole days ("90d"), the
// unit a job retention is thought of in (SAGEQUEUE_JOB_RETENTION, serve
// --job-retention).
func ParseDays(v string) (time.Duration, error) {
	if days, ok := strings.CutSuffix(v, "d"); ok {
		n, err := strconv.Atoi(days)
		if err != nil || n < 0 {
			return 0, errors.New("bad number of days")
		}
		return time.Duration(n) * 24 * time.Hour, nil
	}
	return time.ParseDuration(v)
}

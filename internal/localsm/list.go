package localsm

import (
	"encoding/base64"
	"encoding/json"
	"math"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/sagequeue/sagequeue/internal/events"
)

// epochSeconds is a time as the awsJson protocols write it: seconds since
// the epoch as a JSON number, with milliseconds as a fraction.
type epochSeconds time.Time

func (t epochSeconds) MarshalJSON() ([]byte, error) {
	ms := time.Time(t).UnixMilli()
	return []byte(strconv.FormatFloat(float64(ms)/1000, 'f', -1, 64)), nil
}

func (t *epochSeconds) UnmarshalJSON(b []byte) error {
	var n json.Number
	if err := json.Unmarshal(b, &n); err != nil {
		return err
	}
	f, err := n.Float64()
	if err != nil {
		return err
	}
	*t = epochSeconds(time.UnixMilli(int64(math.Round(f * 1000))).UTC())
	return nil
}

type listInput struct {
	CreationTimeAfter      *epochSeconds
	CreationTimeBefore     *epochSeconds
	LastModifiedTimeAfter  *epochSeconds
	LastModifiedTimeBefore *epochSeconds
	MaxResults             *int
	NameContains           *string
	NextToken              *string
	SortBy                 string
	SortOrder              string
	StatusEquals           string
}

// listToken is where a page ended: the sort key of its last job. Resuming
// after a key (not at an offset) keeps pages from repeating or skipping
// jobs when jobs are created between calls.
type listToken struct {
	SortBy    string `json:"b"`
	SortOrder string `json:"o"`
	Name      string `json:"n"`
	Created   int64  `json:"c"`
	Status    string `json:"s"`
}

type summary struct {
	name    string
	created time.Time
	status  string
	out     map[string]any
}

func (s *Server) listTrainingJobs(body []byte) (any, error) {
	var in listInput
	if err := decode(body, &in); err != nil {
		return nil, err
	}
	sortBy := in.SortBy
	if sortBy == "" {
		sortBy = "CreationTime"
	}
	if sortBy != "Name" && sortBy != "CreationTime" && sortBy != "Status" {
		return nil, validationError("1 validation error detected: Value '%s' at 'sortBy' failed to satisfy constraint: Member must satisfy enum value set: [Name, CreationTime, Status]", in.SortBy)
	}
	order := in.SortOrder
	if order == "" {
		order = "Ascending"
	}
	if order != "Ascending" && order != "Descending" {
		return nil, validationError("1 validation error detected: Value '%s' at 'sortOrder' failed to satisfy constraint: Member must satisfy enum value set: [Ascending, Descending]", in.SortOrder)
	}
	if st := in.StatusEquals; st != "" && st != events.TrainingInProgress && !terminal(st) && st != events.TrainingStopping {
		return nil, validationError("1 validation error detected: Value '%s' at 'statusEquals' failed to satisfy constraint: Member must satisfy enum value set: [InProgress, Completed, Failed, Stopping, Stopped]", st)
	}
	limit := 10
	if in.MaxResults != nil {
		limit = *in.MaxResults
		if limit < 1 || limit > 100 {
			return nil, validationError("1 validation error detected: Value '%d' at 'maxResults' failed to satisfy constraint: Member must have value between 1 and 100", limit)
		}
	}
	var after *listToken
	if in.NextToken != nil && *in.NextToken != "" {
		var t listToken
		b, err := base64.RawURLEncoding.DecodeString(*in.NextToken)
		if err == nil {
			err = json.Unmarshal(b, &t)
		}
		if err != nil || t.SortBy != sortBy || t.SortOrder != order {
			return nil, validationError("Invalid pagination token: it does not come from a ListTrainingJobs call with the same SortBy and SortOrder")
		}
		after = &t
	}

	var jobs []summary
	s.mu.Lock()
	for _, j := range s.jobs {
		if !j.ready {
			continue
		}
		r := &j.rec
		if in.NameContains != nil && !strings.Contains(strings.ToLower(r.Name), strings.ToLower(*in.NameContains)) {
			continue
		}
		if in.StatusEquals != "" && r.Status != in.StatusEquals {
			continue
		}
		if !inRange(r.CreationTime, in.CreationTimeAfter, in.CreationTimeBefore) || !inRange(r.LastModifiedTime, in.LastModifiedTimeAfter, in.LastModifiedTimeBefore) {
			continue
		}
		out := map[string]any{
			"TrainingJobName":   r.Name,
			"TrainingJobArn":    r.Arn,
			"TrainingJobStatus": r.Status,
			"SecondaryStatus":   r.SecondaryStatus,
			"CreationTime":      epochSeconds(r.CreationTime),
			"LastModifiedTime":  epochSeconds(r.LastModifiedTime),
		}
		if !r.TrainingEndTime.IsZero() {
			out["TrainingEndTime"] = epochSeconds(r.TrainingEndTime)
		}
		jobs = append(jobs, summary{name: r.Name, created: r.CreationTime, status: r.Status, out: out})
	}
	s.mu.Unlock()

	// cmp orders jobs ascending by the sort key, then by creation time and
	// name so that the order is total and a token names one position.
	cmp := func(a, b listToken) int {
		var c int
		switch sortBy {
		case "Name":
			c = strings.Compare(a.Name, b.Name)
		case "Status":
			c = strings.Compare(a.Status, b.Status)
		}
		if c == 0 {
			c = compareInt(a.Created, b.Created)
		}
		if c == 0 {
			c = strings.Compare(a.Name, b.Name)
		}
		if order == "Descending" {
			c = -c
		}
		return c
	}
	key := func(j summary) listToken {
		return listToken{SortBy: sortBy, SortOrder: order, Name: j.name, Created: j.created.UnixNano(), Status: j.status}
	}
	sort.Slice(jobs, func(a, b int) bool { return cmp(key(jobs[a]), key(jobs[b])) < 0 })
	start := 0
	if after != nil {
		start = sort.Search(len(jobs), func(i int) bool { return cmp(key(jobs[i]), *after) > 0 })
	}
	page := jobs[start:]
	out := map[string]any{}
	if len(page) > limit {
		page = page[:limit]
		b, _ := json.Marshal(key(page[len(page)-1]))
		out["NextToken"] = base64.RawURLEncoding.EncodeToString(b)
	}
	summaries := make([]map[string]any, 0, len(page))
	for _, j := range page {
		summaries = append(summaries, j.out)
	}
	out["TrainingJobSummaries"] = summaries
	return out, nil
}

func inRange(t time.Time, after, before *epochSeconds) bool {
	if after != nil && !t.After(time.Time(*after)) {
		return false
	}
	if before != nil && !t.Before(time.Time(*before)) {
		return false
	}
	return true
}

func compareInt(a, b int64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

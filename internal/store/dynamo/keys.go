package dynamo

import (
	"encoding/json"
	"fmt"
	"hash/fnv"
	"strconv"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/sagequeue/sagequeue/internal/model"
	"github.com/sagequeue/sagequeue/internal/store"
)

// Key values (see the package comment).
const (
	pkJob     = "JOB#"
	skMeta    = "META"
	skPayload = "PAYLOAD"
	pkToken   = "TOKEN#"
	skToken   = "TOKEN"
	pkActive  = "ACTIVE"
	pkWaiting = "SUBMITTED"
	pkCount   = "COUNT"
	skWaiting = "SUBMITTED#"
	pkLines   = "LINES#"
	pkUsage   = "USAGE#"
	skShare   = "S#"
	pkLease   = "LEASE#"
	skLease   = "LEASE"
	pkEnv     = "CONF#ENV"
	pkPolicy  = "CONF#POLICY"
	pkQueue   = "CONF#QUEUE"
	// pkQuotaShare holds every quota share, sorted by queue and name.
	pkQuotaShare = "CONF#QUOTASHARE"
	headsTag     = "L#"
	maxMillis    = 9_999_999_999_999 // the largest createdAt of 13 digits (year 2286)
)

type item = map[string]types.AttributeValue

func str(v string) types.AttributeValue { return &types.AttributeValueMemberS{Value: v} }

func bin(v []byte) types.AttributeValue { return &types.AttributeValueMemberB{Value: v} }

func num(v int64) types.AttributeValue {
	return &types.AttributeValueMemberN{Value: strconv.FormatInt(v, 10)}
}

func key(pk, sk string) item { return item{AttrPK: str(pk), AttrSK: str(sk)} }

func jobKey(id string) item     { return key(pkJob+id, skMeta) }
func payloadKey(id string) item { return key(pkJob+id, skPayload) }
func tokenKey(tok string) item  { return key(pkToken+tok, skToken) }

func lineKey(queue, share string) item { return key(pkLines+queue, skShare+share) }

// Shards is how many partitions share each of the keys every job writes
// at submission and promotion: the SUBMITTED collection, the SUBMITTED
// counters and the partition keys of the four indexes. A job's shard is a
// hash of its ID, so the writes of a burst into one queue spread evenly,
// and a read of one of these keys is a merge of Shards partitions.
// docs/dynamodb.md has the arithmetic (Shards 8 keeps every partition under
// half its write limit at 1,000 submissions a second). Changing it changes
// where every job is kept: it takes a migration.
const Shards = 8

// shardOf is the shard of a job: FNV-1a of its ID.
func shardOf(jobID string) int {
	h := fnv.New32a()
	h.Write([]byte(jobID))
	return int(h.Sum32() % Shards)
}

// sharded is a key value of one shard.
func sharded(base string, k int) string { return base + "#" + strconv.Itoa(k) }

// orderKey is a job's place in every list: createdAt as 13 digits, then the
// job ID, so that byte order is the contract's order.
func orderKey(createdAt int64, jobID string) string {
	return fmt.Sprintf("%013d#%s", createdAt, jobID)
}

// jobIDOf returns the job ID of an order key.
func jobIDOf(ck string) string {
	_, id, _ := strings.Cut(ck, "#")
	return id
}

// collection returns the partition of the item collection that keeps a
// copy of every job in status st, or "" when the status indexes find jobs
// in st. Jobs holding capacity (ACTIVE) and jobs waiting to be promoted
// (SUBMITTED) are listed with consistent reads: the scheduler counts
// capacity with the first, and a pass triggered by a submission must see
// it in the second.
func collection(st model.JobStatus) string {
	switch {
	case st.HoldsCapacity():
		return pkActive
	case st == model.StatusSubmitted:
		return pkWaiting
	}
	return ""
}

// collectionPK is the partition of job's copy in collection c: ACTIVE is
// one partition (a pass reads all of it anyway, and it holds the jobs in
// flight, which capacity bounds); SUBMITTED is sharded, since every
// submission writes it.
func collectionPK(c, jobID string) string {
	if c == pkWaiting {
		return sharded(pkWaiting, shardOf(jobID))
	}
	return c
}

// countKey is the item counting the SUBMITTED jobs of a queue in one shard.
func countKey(queue string, k int) item { return key(sharded(pkCount, k), skWaiting+queue) }

// collectionStatuses are the statuses whose jobs each collection holds.
var collectionStatuses = map[string][]model.JobStatus{
	pkActive:  {model.StatusScheduled, model.StatusStarting, model.StatusRunning},
	pkWaiting: {model.StatusSubmitted},
}

// The partition keys of the indexes, each in Shards shards.

func headsPartition(queue, share string, k int) string {
	return sharded(headsTag+queue+"#"+share, k)
}

func queueStatus(queue string, st model.JobStatus, k int) string {
	return sharded(queue+"#"+string(st), k)
}

func statusKey(st model.JobStatus, k int) string { return sharded(string(st), k) }

func queueKey(queue string, k int) string { return sharded(queue, k) }

// getS and getN read a string and an integer attribute; missing or of
// another type reads as zero.
func getS(it item, name string) string {
	if v, ok := it[name].(*types.AttributeValueMemberS); ok {
		return v.Value
	}
	return ""
}

func getB(it item, name string) []byte {
	if v, ok := it[name].(*types.AttributeValueMemberB); ok {
		return v.Value
	}
	return nil
}

func getN(it item, name string) int64 {
	if v, ok := it[name].(*types.AttributeValueMemberN); ok {
		n, _ := strconv.ParseInt(v.Value, 10, 64)
		return n
	}
	return 0
}

// checkJob refuses a job the keys could not hold.
func checkJob(j *model.ServiceJob) error {
	switch {
	case j.JobID == "":
		return fmt.Errorf("dynamo: job has no jobId")
	case !j.Status.Valid():
		return fmt.Errorf("dynamo: job %s: unknown status %q", j.JobID, j.Status)
	case j.JobQueue == "" || strings.Contains(j.JobQueue, "#"):
		return fmt.Errorf("dynamo: job %s: jobQueue %q must be a queue ARN (without '#')", j.JobID, j.JobQueue)
	case j.CreatedAt < 0 || j.CreatedAt > maxMillis:
		return fmt.Errorf("dynamo: job %s: createdAt %d is not an epoch millisecond time of 13 digits", j.JobID, j.CreatedAt)
	}
	return nil
}

// jobDoc is a job's JSON without its payload, compressed, as META, its
// ACTIVE copy and its heads entry keep it.
func jobDoc(j *model.ServiceJob) ([]byte, error) {
	c := *j
	c.ServiceRequestPayload = ""
	data, err := json.Marshal(&c)
	if err != nil {
		return nil, fmt.Errorf("dynamo: encode job %s: %w", j.JobID, err)
	}
	return encode(data), nil
}

// decodeJob reads a job from an item with doc and version (META, ACTIVE, a
// heads index entry) into fresh memory; it lacks its payload.
func decodeJob(it item) (*model.ServiceJob, error) {
	data, err := decode(getB(it, attrDoc))
	if err != nil {
		return nil, fmt.Errorf("dynamo: decode job %s/%s: %w", getS(it, AttrPK), getS(it, AttrSK), err)
	}
	var j model.ServiceJob
	if err := json.Unmarshal(data, &j); err != nil {
		return nil, fmt.Errorf("dynamo: decode job %s/%s: %w", getS(it, AttrPK), getS(it, AttrSK), err)
	}
	j.Version = getN(it, attrVersion)
	return &j, nil
}

// decodePayload reads the payload of a PAYLOAD item ("" without one).
func decodePayload(it item) (string, error) {
	if it == nil {
		return "", nil
	}
	data, err := decode(getB(it, attrPayload))
	if err != nil {
		return "", fmt.Errorf("dynamo: decode payload %s: %w", getS(it, AttrPK), err)
	}
	return string(data), nil
}

// jobState is everything written for one version of a job.
type jobState struct {
	job       *model.ServiceJob
	doc       []byte // jobDoc
	ck        string
	expiresAt int64 // TTL of a finished job, epoch seconds; 0 while it is not
}

func newJobState(j *model.ServiceJob, expiresAt int64) (*jobState, error) {
	doc, err := jobDoc(j)
	if err != nil {
		return nil, err
	}
	return &jobState{job: j, doc: doc, ck: orderKey(j.CreatedAt, j.JobID), expiresAt: expiresAt}, nil
}

// meta is the job's META item with the attributes of every index it
// belongs to: byQueue always; byQueueStatus and byStatus unless a
// collection keeps it (lists of those states read the collection, so a
// job's moves between SCHEDULED, STARTING and RUNNING write no index);
// heads while RUNNABLE.
func (s *jobState) meta() item {
	j := s.job
	k := shardOf(j.JobID)
	it := jobKey(j.JobID)
	it[attrDoc] = bin(s.doc)
	it[attrVersion] = num(j.Version)
	it[AttrCK] = str(s.ck)
	it[AttrQueue] = str(queueKey(j.JobQueue, k))
	if collection(j.Status) == "" {
		it[AttrQS] = str(queueStatus(j.JobQueue, j.Status, k))
		it[AttrStatus] = str(statusKey(j.Status, k))
	}
	it[AttrName] = str(strings.ToLower(j.JobName))
	if j.ShareIdentifier != "" {
		it[AttrShare] = str(j.ShareIdentifier)
	}
	if j.Status == model.StatusRunnable {
		it[AttrHeadsPK] = str(headsPartition(j.JobQueue, j.ShareIdentifier, k))
		it[AttrHeadsSK] = str(store.DispatchKey(j))
	}
	if s.expiresAt != 0 {
		it[AttrExpiresAt] = num(s.expiresAt)
	}
	return it
}

// copyItem is the job's copy in the collection of its status (see
// collection), nil when there is none. Its attributes are named apart from
// the index keys, so that it is in no index.
func (s *jobState) copyItem() item {
	j := s.job
	c := collection(j.Status)
	if c == "" {
		return nil
	}
	it := key(collectionPK(c, j.JobID), s.ck)
	it[attrDoc] = bin(s.doc)
	it[attrVersion] = num(j.Version)
	it[attrJQ] = str(j.JobQueue)
	it[attrJS] = str(string(j.Status))
	it[AttrName] = str(strings.ToLower(j.JobName))
	if j.ShareIdentifier != "" {
		it[AttrShare] = str(j.ShareIdentifier)
	}
	return it
}

// payload is the job's PAYLOAD item.
func (s *jobState) payload() item {
	it := payloadKey(s.job.JobID)
	it[attrPayload] = bin(encode([]byte(s.job.ServiceRequestPayload)))
	if s.expiresAt != 0 {
		it[AttrExpiresAt] = num(s.expiresAt)
	}
	return it
}

// token is the job's client token item; nil without a token.
func (s *jobState) token() item {
	if s.job.ClientToken == "" {
		return nil
	}
	it := tokenKey(s.job.ClientToken)
	it[attrJobID] = str(s.job.JobID)
	if s.expiresAt != 0 {
		it[AttrExpiresAt] = num(s.expiresAt)
	}
	return it
}

// expiry returns the TTL of a job that finishes at now.
func (st *Store) expiry(now time.Time) int64 {
	return now.Add(st.retention).Unix()
}

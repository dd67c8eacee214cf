// Package ddbfault is a test double of DynamoDB's bad days: an HTTP proxy in
// front of a real DynamoDB endpoint (Amazon DynamoDB Local, see
// internal/ddblocal) that misbehaves the way the service does under load,
// and that DynamoDB Local never does:
//
//   - it refuses requests for throughput at a configurable rate:
//     ProvisionedThroughputExceededException or ThrottlingException for a
//     whole request; a TransactionCanceledException whose cancellation
//     reasons say ThrottlingError for one item (None for the others); and
//     for BatchGetItem and BatchWriteItem, part of the batch handed back
//     as UnprocessedKeys or UnprocessedItems;
//   - it cancels transactions with a TransactionConflict reason at a
//     configurable rate, as concurrent transactions on one item do;
//   - it adds latency to every request;
//   - it delays the visibility of writes in global secondary indexes: a
//     Query of an index answers as the index stood IndexLag ago, so a new
//     entry shows up late, a removed one lingers, and a changed one shows
//     its old attributes.
//
// A refused request is not forwarded: like the service, the proxy refuses
// before anything is written. Everything else is forwarded unchanged and
// answered with DynamoDB Local's answer, so the SDK's own retries, error
// types and checksums work as they do against AWS. Clients reach it as
// any endpoint (its URL), so it serves tests that build clients
// themselves and tests of code that builds its own clients from an
// endpoint setting (the Lambda functions through cloud.Connect).
//
// It also meters the load on each partition key (KeyLoad): the capacity
// units every request consumed, attributed to the table and index
// partition keys it read or wrote, for tests that check a design against
// DynamoDB's per-partition limits.
//
// Use:
//
//	p := ddbfault.Start(t, ddblocal.Endpoint(t), ddbfault.Realistic)
//	client := dynamodb.NewFromConfig(ddblocal.Config(p.URL()), dynamo.RetryOptions)
//
// The lag of the indexes is emulated from what the proxy sees: it records
// every item a write may move in or out of an index (reading it back after
// an UpdateItem) and rewrites the answers of index Queries. Writes that do
// not pass through the proxy are invisible to it: they show in indexes at
// once, and an item first written through the proxy counts as new (its
// old index entries do not linger). A Query with a FilterExpression is
// only spared the entries that are too new; entries that left the index
// within the lag are not put back into it (the proxy does not evaluate
// filters).
package ddbfault

import (
	"bytes"
	"encoding/json"
	"fmt"
	"hash/crc32"
	"io"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// Faults says how the proxy misbehaves. The zero value forwards every
// request unchanged.
type Faults struct {
	// ThrottleRate is the fraction (0 to 1) of data-plane requests refused
	// for throughput.
	ThrottleRate float64
	// ConflictRate is the fraction of TransactWriteItems cancelled for a
	// conflict with another transaction.
	ConflictRate float64
	// Latency is added to every request: uniformly between Latency/2 and
	// 3*Latency/2.
	Latency time.Duration
	// IndexLag is how long a write takes to show in the global secondary
	// indexes.
	IndexLag time.Duration
}

// Realistic are faults in the range DynamoDB shows a busy table: a few
// requests in a hundred throttled, the odd transaction conflict, a
// millisecond or two of extra latency, and indexes that lag by a fraction
// of a second (AWS documents "usually under a second" for GSI
// propagation).
var Realistic = Faults{ThrottleRate: 0.05, ConflictRate: 0.01, Latency: 2 * time.Millisecond, IndexLag: 300 * time.Millisecond}

// Stats counts what the proxy did.
type Stats struct {
	Requests  int64 // requests received
	Throttled int64 // refused whole for throughput
	Partial   int64 // batches answered in part (Unprocessed...)
	Canceled  int64 // transactions cancelled (throttling or conflict)
	Hidden    int64 // index entries left out of a Query as too new
	Restored  int64 // index entries put back into a Query as not yet gone
}

// Proxy is a running fault-injecting DynamoDB endpoint.
type Proxy struct {
	backend string
	srv     *httptest.Server
	client  *http.Client

	mu     sync.Mutex
	faults Faults
	rnd    *rand.Rand

	stats struct {
		requests, throttled, partial, canceled, hidden, restored atomic.Int64
	}
	lag   *lagState
	load  *KeyLoad
	locks [256]sync.Mutex
}

// Start runs a proxy in front of backend (a DynamoDB endpoint URL) until
// the test ends.
func Start(tb testing.TB, backend string, f Faults) *Proxy {
	tb.Helper()
	p := New(backend, f, uint64(time.Now().UnixNano()))
	tb.Cleanup(p.Close)
	return p
}

// New runs a proxy in front of backend with a random seed; Close stops it.
func New(backend string, f Faults, seed uint64) *Proxy {
	p := &Proxy{
		backend: strings.TrimRight(backend, "/"), faults: f, rnd: rand.New(rand.NewPCG(seed, seed^0x5eed)),
		client: &http.Client{Timeout: 2 * time.Minute, Transport: &http.Transport{MaxIdleConnsPerHost: 64}},
	}
	p.lag = newLagState(p)
	p.srv = httptest.NewServer(p)
	return p
}

// URL is the proxy's endpoint.
func (p *Proxy) URL() string { return p.srv.URL }

// Close stops the proxy.
func (p *Proxy) Close() { p.srv.Close() }

// Set changes the faults from now on.
func (p *Proxy) Set(f Faults) {
	p.mu.Lock()
	p.faults = f
	p.mu.Unlock()
}

// Faults returns the faults in force.
func (p *Proxy) Faults() Faults {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.faults
}

// Stats returns what the proxy has done so far.
func (p *Proxy) Stats() Stats {
	return Stats{
		Requests: p.stats.requests.Load(), Throttled: p.stats.throttled.Load(), Partial: p.stats.partial.Load(),
		Canceled: p.stats.canceled.Load(), Hidden: p.stats.hidden.Load(), Restored: p.stats.restored.Load(),
	}
}

// MeterKeys starts attributing consumed capacity to partition keys and
// returns the meter. Requests then ask DynamoDB for their consumption
// (ReturnConsumedCapacity INDEXES) whether or not the client did.
func (p *Proxy) MeterKeys() *KeyLoad {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.load == nil {
		p.load = newKeyLoad()
	}
	return p.load
}

func (p *Proxy) keyLoad() *KeyLoad {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.load
}

// chance draws whether an event of probability rate happens.
func (p *Proxy) chance(rate float64) bool {
	if rate <= 0 {
		return false
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.rnd.Float64() < rate
}

func (p *Proxy) intN(n int) int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.rnd.IntN(n)
}

// dataPlane are the operations the faults apply to; the others (tables,
// time to live, ...) pass through untouched.
var dataPlane = map[string]bool{
	"GetItem": true, "PutItem": true, "UpdateItem": true, "DeleteItem": true, "Query": true, "Scan": true,
	"BatchGetItem": true, "BatchWriteItem": true, "TransactGetItems": true, "TransactWriteItems": true,
}

const targetPrefix = "DynamoDB_20120810."

func (p *Proxy) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	p.stats.requests.Add(1)
	body, err := io.ReadAll(r.Body)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	op := strings.TrimPrefix(r.Header.Get("X-Amz-Target"), targetPrefix)
	f := p.Faults()
	if f.Latency > 0 {
		time.Sleep(f.Latency/2 + time.Duration(p.intN(int(f.Latency)+1)))
	}
	if !dataPlane[op] {
		p.forward(w, r, body)
		return
	}
	req := map[string]any{}
	if err := decode(body, &req); err != nil {
		p.forward(w, r, body)
		return
	}
	if p.inject(w, op, req, f) {
		return
	}
	load := p.keyLoad()
	if load != nil {
		if v := asString(req["ReturnConsumedCapacity"]); v == "" || v == "NONE" {
			req["ReturnConsumedCapacity"] = "INDEXES"
			body, _ = json.Marshal(req)
		}
	}
	// A batch of writes answered in part: the first half is written, the
	// rest handed back.
	var unprocessed map[string]any
	if op == "BatchWriteItem" && len(batchWrites(req)) > 1 && p.chance(f.ThrottleRate) {
		p.stats.partial.Add(1)
		req, unprocessed = splitWrites(req)
		body, _ = json.Marshal(req)
	}
	var (
		status int
		hdr    http.Header
		out    []byte
	)
	switch {
	case op == "PutItem" || op == "UpdateItem" || op == "DeleteItem" || op == "BatchWriteItem" || op == "TransactWriteItems":
		if f.IndexLag > 0 || load != nil {
			status, hdr, out = p.lag.write(r, op, req, body, f.IndexLag, load)
		} else {
			status, hdr, out = p.roundTrip(r, body)
		}
	case op == "BatchGetItem" && len(batchKeys(req)) > 1 && p.chance(f.ThrottleRate):
		p.partialGet(w, r, req)
		return
	case op == "Query" && f.IndexLag > 0 && req["IndexName"] != nil:
		status, hdr, out = p.lag.query(r, req, body, f.IndexLag)
	default:
		status, hdr, out = p.roundTrip(r, body)
	}
	if load != nil && status == http.StatusOK {
		load.read(p.lag, op, req, out)
	}
	if unprocessed != nil && status == http.StatusOK {
		out = mergeUnprocessed(out, unprocessed)
	}
	reply(w, status, hdr, out)
}

// splitWrites keeps the first half of a BatchWriteItem's requests and
// returns the rest.
func splitWrites(req map[string]any) (map[string]any, map[string]any) {
	keep, rest := map[string]any{}, map[string]any{}
	total := len(batchWrites(req))
	kept := 0
	for table, v := range asMap(req["RequestItems"]) {
		for _, w := range asSlice(v) {
			if kept < total/2 {
				keep[table] = append(asSlice(keep[table]), w)
				kept++
			} else {
				rest[table] = append(asSlice(rest[table]), w)
			}
		}
	}
	out := cloneMap(req)
	out["RequestItems"] = keep
	return out, rest
}

// mergeUnprocessed adds rest to a BatchWriteItem answer's UnprocessedItems.
func mergeUnprocessed(resp []byte, rest map[string]any) []byte {
	got := map[string]any{}
	if err := decode(resp, &got); err != nil {
		return resp
	}
	un := asMap(got["UnprocessedItems"])
	if un == nil {
		un = map[string]any{}
	}
	for table, v := range rest {
		un[table] = append(asSlice(un[table]), asSlice(v)...)
	}
	got["UnprocessedItems"] = un
	b, _ := json.Marshal(got)
	return b
}

// inject answers the request with a fault, if one is drawn.
func (p *Proxy) inject(w http.ResponseWriter, op string, req map[string]any, f Faults) bool {
	if op == "TransactWriteItems" {
		n := len(asSlice(req["TransactItems"]))
		switch {
		case p.chance(f.ThrottleRate):
			if p.intN(2) == 0 {
				p.cancel(w, n, "ThrottlingError", "Throughput exceeds the current capacity of your table or index. DynamoDB is automatically scaling your table or index so please try again shortly.")
			} else {
				p.refuse(w, "ProvisionedThroughputExceededException", "The level of configured provisioned throughput for the table was exceeded.")
			}
			return true
		case p.chance(f.ConflictRate):
			p.cancel(w, n, "TransactionConflict", "Transaction is ongoing for the item")
			return true
		}
		return false
	}
	if (op == "BatchWriteItem" || op == "BatchGetItem") && p.intN(2) == 0 {
		return false // throttled in part, if at all (ServeHTTP)
	}
	if !p.chance(f.ThrottleRate) {
		return false
	}
	if p.intN(2) == 0 {
		p.refuse(w, "ProvisionedThroughputExceededException", "The level of configured provisioned throughput for the table was exceeded. Consider increasing your provisioning level with the UpdateTable API.")
	} else {
		p.refuse(w, "ThrottlingException", "Throughput exceeds the current capacity of your table or index. DynamoDB is automatically scaling your table or index so please try again shortly.")
	}
	return true
}

// refuse answers with a DynamoDB error of the JSON protocol.
func (p *Proxy) refuse(w http.ResponseWriter, code, msg string) {
	p.stats.throttled.Add(1)
	b, _ := json.Marshal(map[string]string{"__type": "com.amazonaws.dynamodb.v20120810#" + code, "message": msg})
	reply(w, http.StatusBadRequest, nil, b)
}

// cancel answers a transaction of n items with a TransactionCanceledException
// whose reason for one item is code.
func (p *Proxy) cancel(w http.ResponseWriter, n int, code, msg string) {
	p.stats.canceled.Add(1)
	reasons := make([]map[string]string, max(n, 1))
	which := p.intN(len(reasons))
	codes := make([]string, len(reasons))
	for i := range reasons {
		reasons[i] = map[string]string{"Code": "None"}
		codes[i] = "None"
	}
	reasons[which] = map[string]string{"Code": code, "Message": msg}
	codes[which] = code
	b, _ := json.Marshal(map[string]any{
		"__type":              "com.amazonaws.dynamodb.v20120810#TransactionCanceledException",
		"Message":             "Transaction cancelled, please refer cancellation reasons for specific reasons [" + strings.Join(codes, ", ") + "]",
		"CancellationReasons": reasons,
	})
	reply(w, http.StatusBadRequest, nil, b)
}

// partialGet forwards part of a BatchGetItem and hands the rest back as
// UnprocessedKeys, as DynamoDB does when a batch meets a busy partition.
func (p *Proxy) partialGet(w http.ResponseWriter, r *http.Request, req map[string]any) {
	p.stats.partial.Add(1)
	fwd, rest := map[string]any{}, map[string]any{}
	for table, v := range asMap(req["RequestItems"]) {
		ka := asMap(v)
		keys := asSlice(ka["Keys"])
		cut := len(keys) / 2
		a, b := cloneMap(ka), cloneMap(ka)
		a["Keys"], b["Keys"] = keys[:cut], keys[cut:]
		if cut > 0 {
			fwd[table] = a
		}
		rest[table] = b
	}
	out := map[string]any{"Responses": map[string]any{}, "UnprocessedKeys": rest}
	if len(fwd) > 0 {
		req2 := cloneMap(req)
		req2["RequestItems"] = fwd
		body, _ := json.Marshal(req2)
		status, hdr, resp := p.roundTrip(r, body)
		if status != http.StatusOK {
			reply(w, status, hdr, resp)
			return
		}
		got := map[string]any{}
		if err := decode(resp, &got); err != nil {
			reply(w, status, hdr, resp)
			return
		}
		out["Responses"] = got["Responses"]
		if cc, ok := got["ConsumedCapacity"]; ok {
			out["ConsumedCapacity"] = cc
		}
		for table, v := range asMap(got["UnprocessedKeys"]) {
			merged := asMap(rest[table])
			merged["Keys"] = append(asSlice(merged["Keys"]), asSlice(asMap(v)["Keys"])...)
		}
		if load := p.keyLoad(); load != nil {
			load.read(p.lag, "BatchGetItem", req2, resp)
		}
	}
	b, _ := json.Marshal(out)
	reply(w, http.StatusOK, nil, b)
}

// roundTrip sends body to the backend as r's request and returns the
// answer.
func (p *Proxy) roundTrip(r *http.Request, body []byte) (int, http.Header, []byte) {
	req, err := http.NewRequestWithContext(r.Context(), http.MethodPost, p.backend+"/", bytes.NewReader(body))
	if err != nil {
		return http.StatusInternalServerError, nil, errorBody("InternalServerError", err.Error())
	}
	for k, vs := range r.Header {
		switch strings.ToLower(k) {
		case "content-length", "accept-encoding", "host":
			continue
		}
		req.Header[k] = vs
	}
	resp, err := p.client.Do(req)
	if err != nil {
		return http.StatusInternalServerError, nil, errorBody("InternalServerError", "ddbfault: backend: "+err.Error())
	}
	defer resp.Body.Close()
	out, err := io.ReadAll(resp.Body)
	if err != nil {
		return http.StatusInternalServerError, nil, errorBody("InternalServerError", "ddbfault: backend: "+err.Error())
	}
	return resp.StatusCode, resp.Header, out
}

// call makes a request of the proxy's own (reads of items it tracks,
// table descriptions) to the backend.
func (p *Proxy) call(op string, in any, out any) error {
	body, err := json.Marshal(in)
	if err != nil {
		return err
	}
	req, err := http.NewRequest(http.MethodPost, p.backend+"/", bytes.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/x-amz-json-1.0")
	req.Header.Set("X-Amz-Target", targetPrefix+op)
	// DynamoDB Local takes any signature; it only reads the access key.
	req.Header.Set("Authorization", "AWS4-HMAC-SHA256 Credential=ddbfault/20240101/us-east-1/dynamodb/aws4_request, SignedHeaders=host, Signature=0")
	resp, err := p.client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return err
	}
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("ddbfault: %s: %s: %s", op, resp.Status, b)
	}
	return decode(b, out)
}

func (p *Proxy) forward(w http.ResponseWriter, r *http.Request, body []byte) {
	status, hdr, out := p.roundTrip(r, body)
	reply(w, status, hdr, out)
}

// reply writes an answer with the backend's headers and a CRC32 of the body
// as DynamoDB sends it (the SDK checks it).
func reply(w http.ResponseWriter, status int, hdr http.Header, body []byte) {
	for k, vs := range hdr {
		switch strings.ToLower(k) {
		case "content-length", "x-amz-crc32", "content-encoding", "transfer-encoding", "connection", "date":
			continue
		}
		w.Header()[k] = vs
	}
	if w.Header().Get("Content-Type") == "" {
		w.Header().Set("Content-Type", "application/x-amz-json-1.0")
	}
	w.Header().Set("X-Amz-Crc32", strconv.FormatUint(uint64(crc32.ChecksumIEEE(body)), 10))
	w.Header().Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(status)
	w.Write(body)
}

func errorBody(code, msg string) []byte {
	b, _ := json.Marshal(map[string]string{"__type": "com.amazonaws.dynamodb.v20120810#" + code, "message": msg})
	return b
}

// decode reads JSON keeping numbers as json.Number, so that re-encoded
// requests say exactly what they said.
func decode(b []byte, v any) error {
	d := json.NewDecoder(bytes.NewReader(b))
	d.UseNumber()
	return d.Decode(v)
}

func asMap(v any) map[string]any {
	m, _ := v.(map[string]any)
	return m
}

func asSlice(v any) []any {
	s, _ := v.([]any)
	return s
}

func asString(v any) string {
	s, _ := v.(string)
	return s
}

func cloneMap(m map[string]any) map[string]any {
	out := make(map[string]any, len(m))
	for k, v := range m {
		out[k] = v
	}
	return out
}

// batchKeys lists the keys of a BatchGetItem.
func batchKeys(req map[string]any) []any {
	var out []any
	for _, v := range asMap(req["RequestItems"]) {
		out = append(out, asSlice(asMap(v)["Keys"])...)
	}
	return out
}

// batchWrites lists the write requests of a BatchWriteItem.
func batchWrites(req map[string]any) []any {
	var out []any
	for _, v := range asMap(req["RequestItems"]) {
		out = append(out, asSlice(v)...)
	}
	return out
}

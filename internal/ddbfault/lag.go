package ddbfault

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"hash/fnv"
	"math/big"
	"net/http"
	"regexp"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"
)

// lagState is what the proxy knows of the items written through it: their
// recent versions (to answer index Queries as of IndexLag ago, and to know
// what a write replaced) and, per index partition, the items that left it
// recently (to put them back into Queries of it until the lag has passed).
type lagState struct {
	p *Proxy

	mu      sync.Mutex
	schemas map[string]*schema
	items   map[string]*history
	// lingering: table/index -> partition key value -> item key -> until
	lingering map[string]map[string]map[string]time.Time
	writes    int
}

func newLagState(p *Proxy) *lagState {
	return &lagState{p: p, schemas: map[string]*schema{}, items: map[string]*history{}, lingering: map[string]map[string]map[string]time.Time{}}
}

// schema is what the proxy needs of a table's definition.
type schema struct {
	pk, sk string
	gsis   map[string]*gsi
}

type gsi struct {
	name, pk, sk string
	all          bool     // projection ALL
	include      []string // projection INCLUDE (KEYS_ONLY: none)
}

// version is an item as it stood from at on; a nil item is no item.
type version struct {
	at   time.Time
	item map[string]any
}

// history holds an item's versions, oldest first; the first is the state
// before the first write the proxy saw (at the zero time).
type history struct {
	table    string
	versions []version
}

// at returns the item as it stood at t.
func (h *history) at(t time.Time) map[string]any {
	var out map[string]any
	for _, v := range h.versions {
		if v.at.After(t) {
			break
		}
		out = v.item
	}
	return out
}

func (h *history) current() map[string]any { return h.versions[len(h.versions)-1].item }

func (h *history) changedSince(t time.Time) bool { return h.versions[len(h.versions)-1].at.After(t) }

func (l *lagState) schema(table string) (*schema, error) {
	l.mu.Lock()
	s := l.schemas[table]
	l.mu.Unlock()
	if s != nil {
		return s, nil
	}
	var out struct {
		Table struct {
			KeySchema              []struct{ AttributeName, KeyType string }
			GlobalSecondaryIndexes []struct {
				IndexName  string
				KeySchema  []struct{ AttributeName, KeyType string }
				Projection struct {
					ProjectionType   string
					NonKeyAttributes []string
				}
			}
		}
	}
	if err := l.p.call("DescribeTable", map[string]string{"TableName": table}, &out); err != nil {
		return nil, err
	}
	s = &schema{gsis: map[string]*gsi{}}
	for _, k := range out.Table.KeySchema {
		if k.KeyType == "HASH" {
			s.pk = k.AttributeName
		} else {
			s.sk = k.AttributeName
		}
	}
	for _, g := range out.Table.GlobalSecondaryIndexes {
		x := &gsi{name: g.IndexName, all: g.Projection.ProjectionType == "ALL", include: g.Projection.NonKeyAttributes}
		for _, k := range g.KeySchema {
			if k.KeyType == "HASH" {
				x.pk = k.AttributeName
			} else {
				x.sk = k.AttributeName
			}
		}
		s.gsis[x.name] = x
	}
	l.mu.Lock()
	l.schemas[table] = s
	l.mu.Unlock()
	return s, nil
}

// keyOf is the identity of an item: its table and key values.
func (s *schema) keyOf(table string, it map[string]any) string {
	k := table + "\x00" + attrString(it[s.pk])
	if s.sk != "" {
		k += "\x00" + attrString(it[s.sk])
	}
	return k
}

func (s *schema) keyAttrs(it map[string]any) map[string]any {
	out := map[string]any{s.pk: it[s.pk]}
	if s.sk != "" {
		out[s.sk] = it[s.sk]
	}
	return out
}

// entry is an item as index g holds it, nil when g does not hold it (the
// item lacks one of g's key attributes).
func (s *schema) entry(g *gsi, it map[string]any) map[string]any {
	if it == nil || it[g.pk] == nil || (g.sk != "" && it[g.sk] == nil) {
		return nil
	}
	if g.all {
		return it
	}
	out := s.keyAttrs(it)
	out[g.pk] = it[g.pk]
	if g.sk != "" {
		out[g.sk] = it[g.sk]
	}
	for _, a := range g.include {
		if v, ok := it[a]; ok {
			out[a] = v
		}
	}
	return out
}

// attrString renders an attribute value as a comparable identity.
func attrString(v any) string {
	m := asMap(v)
	for _, t := range []string{"S", "N", "B"} {
		if x, ok := m[t]; ok {
			return t + ":" + asString(x)
		}
	}
	b, _ := json.Marshal(v)
	return string(b)
}

// write is a write request as a list of the items it writes.
type written struct {
	table string
	key   map[string]any // the item's key attributes
	kind  string         // Put, Update, Delete, ConditionCheck
	item  map[string]any // the new item of a Put
	txn   bool
}

func writesOf(op string, req map[string]any) []written {
	var out []written
	switch op {
	case "PutItem":
		out = append(out, written{table: asString(req["TableName"]), kind: "Put", item: asMap(req["Item"])})
	case "UpdateItem":
		out = append(out, written{table: asString(req["TableName"]), kind: "Update", key: asMap(req["Key"])})
	case "DeleteItem":
		out = append(out, written{table: asString(req["TableName"]), kind: "Delete", key: asMap(req["Key"])})
	case "BatchWriteItem":
		for table, v := range asMap(req["RequestItems"]) {
			for _, w := range asSlice(v) {
				w := asMap(w)
				if put := asMap(w["PutRequest"]); put != nil {
					out = append(out, written{table: table, kind: "Put", item: asMap(put["Item"])})
				} else if del := asMap(w["DeleteRequest"]); del != nil {
					out = append(out, written{table: table, kind: "Delete", key: asMap(del["Key"])})
				}
			}
		}
	case "TransactWriteItems":
		for _, ti := range asSlice(req["TransactItems"]) {
			ti := asMap(ti)
			for _, kind := range []string{"Put", "Update", "Delete", "ConditionCheck"} {
				if a := asMap(ti[kind]); a != nil {
					w := written{table: asString(a["TableName"]), kind: kind, key: asMap(a["Key"]), item: asMap(a["Item"]), txn: true}
					out = append(out, w)
				}
			}
		}
	}
	return out
}

// change is what one write did to one item.
type change struct {
	table    string
	kind     string
	old, new map[string]any
	txn      bool
}

// write forwards a write, recording what it changed: the items' states
// before (read from the backend the first time the proxy meets an item)
// and after (from the request, or read back after an UpdateItem). Items a
// write cannot move in or out of an index (a Put without index
// attributes of an item never seen with any, an UpdateItem that names
// none) are not tracked, unless the load is metered.
func (l *lagState) write(r *http.Request, op string, req map[string]any, body []byte, lag time.Duration, load *KeyLoad) (int, http.Header, []byte) {
	ws := writesOf(op, req)
	type target struct {
		w     written
		s     *schema
		key   string
		track bool
	}
	var targets []target
	var stripes []int
	for _, w := range ws {
		s, err := l.schema(w.table)
		if err != nil {
			return l.p.roundTrip(r, body)
		}
		if w.kind == "Put" {
			w.key = s.keyAttrs(w.item)
		}
		k := s.keyOf(w.table, w.key)
		l.mu.Lock()
		known := l.items[k] != nil
		l.mu.Unlock()
		track := load != nil || known || s.touchesIndexes(w, req)
		targets = append(targets, target{w, s, k, track})
		if !track {
			continue
		}
		h := fnv.New32a()
		h.Write([]byte(k))
		stripes = append(stripes, int(h.Sum32()%uint32(len(l.p.locks))))
	}
	slices.Sort(stripes)
	stripes = slices.Compact(stripes)
	for _, i := range stripes {
		l.p.locks[i].Lock()
	}
	defer func() {
		for _, i := range stripes {
			l.p.locks[i].Unlock()
		}
	}()
	// The states before, for the items met for the first time: absent,
	// as they are when everything is written through the proxy (its tests
	// make their tables fresh); read in one batch when the load is
	// metered, which needs the sizes of what is replaced.
	var unknown []readKey
	for _, t := range targets {
		l.mu.Lock()
		known := l.items[t.key] != nil
		l.mu.Unlock()
		if t.track && !known {
			unknown = append(unknown, readKey{t.w.table, t.w.key, t.key})
		}
	}
	before := map[string]map[string]any{}
	if load != nil {
		var err error
		if before, err = l.readMany(unknown); err != nil {
			return l.p.roundTrip(r, body)
		}
	}
	olds := make([]map[string]any, len(targets))
	l.mu.Lock()
	for i, t := range targets {
		if !t.track {
			continue
		}
		h := l.items[t.key]
		if h == nil {
			h = &history{table: t.w.table, versions: []version{{item: before[t.key]}}}
			l.items[t.key] = h
		}
		olds[i] = h.current()
	}
	l.mu.Unlock()
	status, hdr, out := l.p.roundTrip(r, body)
	if status != http.StatusOK {
		return status, hdr, out
	}
	unprocessed := map[string]bool{}
	if op == "BatchWriteItem" {
		resp := map[string]any{}
		if decode(out, &resp) == nil {
			for table, v := range asMap(resp["UnprocessedItems"]) {
				s, err := l.schema(table)
				if err != nil {
					continue
				}
				for _, w := range writesOf("BatchWriteItem", map[string]any{"RequestItems": map[string]any{table: v}}) {
					if w.kind == "Put" {
						w.key = s.keyAttrs(w.item)
					}
					unprocessed[s.keyOf(table, w.key)] = true
				}
			}
		}
	}
	// The states after an UpdateItem, read back in one batch.
	var updated []readKey
	for _, t := range targets {
		if t.track && t.w.kind == "Update" && !unprocessed[t.key] {
			updated = append(updated, readKey{t.w.table, t.w.key, t.key})
		}
	}
	after, err := l.readMany(updated)
	if err != nil {
		return status, hdr, out
	}
	now := time.Now()
	var changes []change
	for i, t := range targets {
		if !t.track || unprocessed[t.key] {
			continue
		}
		var next map[string]any
		switch t.w.kind {
		case "Put":
			next = t.w.item
		case "Update":
			next = after[t.key]
		case "ConditionCheck":
			changes = append(changes, change{table: t.w.table, kind: t.w.kind, old: olds[i], new: olds[i], txn: t.w.txn})
			continue
		}
		changes = append(changes, change{table: t.w.table, kind: t.w.kind, old: olds[i], new: next, txn: t.w.txn})
		l.record(t.s, t.key, t.w.table, olds[i], next, now, lag)
	}
	if load != nil {
		load.write(l, op, out, changes)
	}
	return status, hdr, out
}

// touchesIndexes reports whether a write to an item the proxy has not met
// may put it into an index or change its entry: a Put of an item with an
// index key attribute, an UpdateItem whose expressions name an attribute an
// index keys or carries (any, for an index that carries them all), and
// any DeleteItem (the old item is unknown).
func (s *schema) touchesIndexes(w written, req map[string]any) bool {
	switch w.kind {
	case "Put":
		for _, g := range s.gsis {
			if w.item[g.pk] != nil || (g.sk != "" && w.item[g.sk] != nil) {
				return true
			}
		}
		return false
	case "Delete":
		return true
	case "ConditionCheck":
		return false
	}
	// An UpdateItem, alone or in a transaction: the names its expressions
	// use, through ExpressionAttributeNames or as they are.
	upd := req
	if w.txn {
		for _, ti := range asSlice(req["TransactItems"]) {
			if u := asMap(asMap(ti)["Update"]); u != nil && s.keyOf(w.table, asMap(u["Key"])) == s.keyOf(w.table, w.key) {
				upd = u
			}
		}
	}
	expr := asString(upd["UpdateExpression"])
	for _, n := range asMap(upd["ExpressionAttributeNames"]) {
		expr += " " + asString(n)
	}
	for _, g := range s.gsis {
		if g.all {
			return true
		}
		for _, a := range append([]string{g.pk, g.sk}, g.include...) {
			if a != "" && strings.Contains(expr, a) {
				return true
			}
		}
	}
	return false
}

// readKey names an item to read: its table, key attributes and identity.
type readKey struct {
	table string
	key   map[string]any
	id    string
}

// readMany reads items from the backend, consistently, with BatchGetItem:
// by identity, nil for an item that does not exist.
func (l *lagState) readMany(keys []readKey) (map[string]map[string]any, error) {
	out := map[string]map[string]any{}
	for len(keys) > 0 {
		n := min(len(keys), 100)
		batch := keys[:n]
		keys = keys[n:]
		pending := map[string]any{}
		seen := map[string]bool{}
		for _, k := range batch {
			if seen[k.id] {
				continue
			}
			seen[k.id] = true
			ka := asMap(pending[k.table])
			if ka == nil {
				ka = map[string]any{"ConsistentRead": true}
				pending[k.table] = ka
			}
			ka["Keys"] = append(asSlice(ka["Keys"]), k.key)
		}
		for len(pending) > 0 {
			var resp struct {
				Responses       map[string][]map[string]any
				UnprocessedKeys map[string]any
			}
			if err := l.p.call("BatchGetItem", map[string]any{"RequestItems": pending}, &resp); err != nil {
				return nil, err
			}
			for table, items := range resp.Responses {
				s, err := l.schema(table)
				if err != nil {
					return nil, err
				}
				for _, it := range items {
					out[s.keyOf(table, it)] = it
				}
			}
			pending = resp.UnprocessedKeys
		}
	}
	return out, nil
}

// record adds an item's new version and marks the index partitions it left.
func (l *lagState) record(s *schema, key, table string, old, next map[string]any, now time.Time, lag time.Duration) {
	l.mu.Lock()
	defer l.mu.Unlock()
	h := l.items[key]
	if h == nil {
		// Pruned while the write was under way: old is where it starts.
		h = &history{table: table, versions: []version{{item: old}}}
		l.items[key] = h
	}
	h.versions = append(h.versions, version{at: now, item: next})
	for _, g := range s.gsis {
		before, after := s.entry(g, old), s.entry(g, next)
		if before == nil || (after != nil && attrString(after[g.pk]) == attrString(before[g.pk])) {
			continue
		}
		ix := table + "/" + g.name
		if l.lingering[ix] == nil {
			l.lingering[ix] = map[string]map[string]time.Time{}
		}
		pk := attrString(before[g.pk])
		if l.lingering[ix][pk] == nil {
			l.lingering[ix][pk] = map[string]time.Time{}
		}
		l.lingering[ix][pk][key] = now.Add(lag)
	}
	if l.writes++; l.writes%4096 == 0 {
		l.prune(now, lag)
	}
}

// prune forgets what no Query can see any more: versions older than the
// lag, keeping the one in force then (an item's current state is kept
// however old: it is what its next write replaces).
func (l *lagState) prune(now time.Time, lag time.Duration) {
	cutoff := now.Add(-lag - time.Second)
	for _, h := range l.items {
		keep := 0
		for i, v := range h.versions {
			if !v.at.After(cutoff) {
				keep = i
			}
		}
		h.versions = h.versions[keep:]
	}
	for ix, parts := range l.lingering {
		for pk, keys := range parts {
			for k, until := range keys {
				if now.After(until) {
					delete(keys, k)
				}
			}
			if len(keys) == 0 {
				delete(parts, pk)
			}
		}
		if len(parts) == 0 {
			delete(l.lingering, ix)
		}
	}
}

// keyCondition is a Query's key condition: the partition key's value and a
// test of the sort key (nil when there is none).
type keyCondition struct {
	pk     string
	sk     string
	test   func(v any) bool
	parsed bool
}

var (
	reEq      = regexp.MustCompile(`^\s*(\S+)\s*=\s*(\S+)\s*$`)
	reCmp     = regexp.MustCompile(`^\s*(\S+)\s*=\s*(\S+)\s+(?i:AND)\s+(\S+)\s*(<=|>=|=|<|>)\s*(\S+)\s*$`)
	reBetween = regexp.MustCompile(`^\s*(\S+)\s*=\s*(\S+)\s+(?i:AND)\s+(\S+)\s+(?i:BETWEEN)\s+(\S+)\s+(?i:AND)\s+(\S+)\s*$`)
	reBegins  = regexp.MustCompile(`^\s*(\S+)\s*=\s*(\S+)\s+(?i:AND)\s+begins_with\s*\(\s*([^,\s]+)\s*,\s*([^)\s]+)\s*\)\s*$`)
)

// parseKeyCondition reads the forms of KeyConditionExpression DynamoDB
// allows, with the partition key first.
func parseKeyCondition(req map[string]any) keyCondition {
	expr := asString(req["KeyConditionExpression"])
	names, values := asMap(req["ExpressionAttributeNames"]), asMap(req["ExpressionAttributeValues"])
	name := func(n string) string {
		if v, ok := names[n]; ok {
			return asString(v)
		}
		return n
	}
	value := func(v string) any { return values[v] }
	var kc keyCondition
	if m := reBetween.FindStringSubmatch(expr); m != nil {
		lo, hi := value(m[4]), value(m[5])
		kc = keyCondition{pk: attrString(value(m[2])), sk: name(m[3]), parsed: true,
			test: func(v any) bool { return compare(v, lo) >= 0 && compare(v, hi) <= 0 }}
	} else if m := reBegins.FindStringSubmatch(expr); m != nil {
		pre := value(m[4])
		kc = keyCondition{pk: attrString(value(m[2])), sk: name(m[3]), parsed: true,
			test: func(v any) bool { return strings.HasPrefix(asString(asMap(v)["S"]), asString(asMap(pre)["S"])) }}
	} else if m := reCmp.FindStringSubmatch(expr); m != nil {
		op, x := m[4], value(m[5])
		kc = keyCondition{pk: attrString(value(m[2])), sk: name(m[3]), parsed: true, test: func(v any) bool {
			c := compare(v, x)
			switch op {
			case "=":
				return c == 0
			case "<":
				return c < 0
			case "<=":
				return c <= 0
			case ">":
				return c > 0
			}
			return c >= 0
		}}
	} else if m := reEq.FindStringSubmatch(expr); m != nil {
		kc = keyCondition{pk: attrString(value(m[2])), parsed: true}
	}
	return kc
}

// compare orders two attribute values of one type (S, N or B).
func compare(a, b any) int {
	ma, mb := asMap(a), asMap(b)
	if x, ok := ma["N"]; ok {
		fa, _ := new(big.Float).SetString(asString(x))
		fb, _ := new(big.Float).SetString(asString(mb["N"]))
		if fa == nil || fb == nil {
			return strings.Compare(asString(x), asString(mb["N"]))
		}
		return fa.Cmp(fb)
	}
	if x, ok := ma["B"]; ok {
		ba, _ := base64.StdEncoding.DecodeString(asString(x))
		bb, _ := base64.StdEncoding.DecodeString(asString(mb["B"]))
		return bytes.Compare(ba, bb)
	}
	return strings.Compare(asString(ma["S"]), asString(mb["S"]))
}

// query answers a Query of an index as the index stood lag ago: entries
// written since are shown as they were then (or left out if they were not
// in the partition), and entries that left the partition since are put
// back. The page keeps the request's Limit and its bounds.
func (l *lagState) query(r *http.Request, req map[string]any, body []byte, lag time.Duration) (int, http.Header, []byte) {
	status, hdr, out := l.p.roundTrip(r, body)
	if status != http.StatusOK {
		return status, hdr, out
	}
	table, index := asString(req["TableName"]), asString(req["IndexName"])
	s, err := l.schema(table)
	if err != nil || s.gsis[index] == nil {
		return status, hdr, out
	}
	g := s.gsis[index]
	resp := map[string]any{}
	if err := decode(out, &resp); err != nil {
		return status, hdr, out
	}
	kc := parseKeyCondition(req)
	if !kc.parsed {
		return status, hdr, out
	}
	fits := func(e map[string]any) bool {
		return e != nil && attrString(e[g.pk]) == kc.pk && (kc.test == nil || kc.test(e[kc.sk]))
	}
	now := time.Now()
	cutoff := now.Add(-lag)
	forward := true
	if v, ok := req["ScanIndexForward"].(bool); ok {
		forward = v
	}
	// The position of an entry in the index, in the Query's direction.
	pos := func(e map[string]any) []any {
		var sk any
		if g.sk != "" {
			sk = e[g.sk]
		}
		return []any{sk, s.keyOf("", e)}
	}
	cmpPos := func(a, b []any) int {
		c := 0
		if a[0] != nil && b[0] != nil {
			c = compare(a[0], b[0])
		}
		if c == 0 {
			c = strings.Compare(a[1].(string), b[1].(string))
		}
		if !forward {
			c = -c
		}
		return c
	}
	var items []map[string]any
	seen := map[string]bool{}
	hidden, restored := 0, 0
	l.mu.Lock()
	for _, x := range asSlice(resp["Items"]) {
		it := asMap(x)
		k := s.keyOf(table, it)
		seen[k] = true
		if h := l.items[k]; h != nil && h.changedSince(cutoff) {
			e := s.entry(g, h.at(cutoff))
			if !fits(e) {
				hidden++
				continue
			}
			it = e
		}
		items = append(items, it)
	}
	var lo, hi []any
	if esk := asMap(req["ExclusiveStartKey"]); esk != nil {
		lo = pos(esk)
	}
	if lek := asMap(resp["LastEvaluatedKey"]); lek != nil {
		hi = pos(lek)
	}
	if req["FilterExpression"] == nil {
		for k, until := range l.lingering[table+"/"+index][kc.pk] {
			h := l.items[k]
			if seen[k] || now.After(until) || h == nil {
				continue
			}
			e := s.entry(g, h.at(cutoff))
			if !fits(e) {
				continue
			}
			p := pos(e)
			if (lo != nil && cmpPos(p, lo) <= 0) || (hi != nil && cmpPos(p, hi) > 0) {
				continue
			}
			items = append(items, e)
			restored++
		}
	}
	l.mu.Unlock()
	if hidden == 0 && restored == 0 {
		return status, hdr, out
	}
	l.p.stats.hidden.Add(int64(hidden))
	l.p.stats.restored.Add(int64(restored))
	sort.SliceStable(items, func(a, b int) bool { return cmpPos(pos(items[a]), pos(items[b])) < 0 })
	if limit, err := asNumber(req["Limit"]); err == nil && limit > 0 && len(items) > limit {
		items = items[:limit]
		last := items[limit-1]
		lek := s.keyAttrs(last)
		lek[g.pk] = last[g.pk]
		if g.sk != "" {
			lek[g.sk] = last[g.sk]
		}
		resp["LastEvaluatedKey"] = lek
	}
	list := make([]any, len(items))
	for i, it := range items {
		list[i] = it
	}
	resp["Items"] = list
	resp["Count"] = len(items)
	if n, err := asNumber(resp["ScannedCount"]); err != nil || n < len(items) {
		resp["ScannedCount"] = len(items)
	}
	b, err := json.Marshal(resp)
	if err != nil {
		return status, hdr, out
	}
	return status, hdr, b
}

func asNumber(v any) (int, error) {
	switch n := v.(type) {
	case json.Number:
		i, err := n.Int64()
		return int(i), err
	case float64:
		return int(n), nil
	case int:
		return n, nil
	}
	return 0, errNoNumber
}

var errNoNumber = &json.UnsupportedValueError{Str: "not a number"}

package ddbfault

import (
	"encoding/base64"
	"encoding/json"
	"maps"
	"math"
	"sort"
	"strings"
	"sync"
	"unicode/utf8"
)

// DynamoDB's per-partition limits: what one partition (and so one partition
// key, however hot) serves in a second.
const (
	PartitionRCU = 3000
	PartitionWCU = 1000
)

// Part names a partition key: of the table (Index "") or of an index.
type Part struct {
	Index string
	Key   string
}

func (p Part) String() string {
	if p.Index == "" {
		return "table " + p.Key
	}
	return p.Index + " " + p.Key
}

// Units are capacity units.
type Units struct{ RCU, WCU float64 }

// KeyLoad is the load each partition key took: the capacity units of
// every request the proxy forwarded while metering, attributed to the
// partition keys it read and wrote. Writes are counted by DynamoDB's
// billing rules from the items before and after (1 WCU a KB of the larger;
// twice that inside a transaction, condition checks included; each index
// entry put or deleted 1 WCU a KB of its projection, a change of an
// entry's key being a delete and a put), because DynamoDB Local's
// reported consumption of transactions differs from the service's. Reads
// are counted from the consumption DynamoDB reported (Query: the whole
// request reads one partition key) or by the rules (4 KB a unit, half for
// an eventually consistent read, at least one unit an item). Metered holds
// what DynamoDB Local reported, per table and index, for comparison.
type KeyLoad struct {
	mu      sync.Mutex
	parts   map[Part]Units
	metered map[string]Units
}

func newKeyLoad() *KeyLoad {
	return &KeyLoad{parts: map[Part]Units{}, metered: map[string]Units{}}
}

// Parts returns the units each partition key has taken so far.
func (l *KeyLoad) Parts() map[Part]Units {
	l.mu.Lock()
	defer l.mu.Unlock()
	return maps.Clone(l.parts)
}

// Metered returns the units DynamoDB reported so far, by part ("table" or
// the index's name) as the store's meter names them.
func (l *KeyLoad) Metered() map[string]Units {
	l.mu.Lock()
	defer l.mu.Unlock()
	return maps.Clone(l.metered)
}

// Reset forgets everything counted.
func (l *KeyLoad) Reset() {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.parts, l.metered = map[Part]Units{}, map[string]Units{}
}

// Hottest returns the n partition keys with the highest share of a
// partition's limits, hottest first, with that share (the larger of the
// read and the write share) at scale times the units counted: scale
// turns the units of a measured workload into units per second.
func (l *KeyLoad) Hottest(n int, scale float64) []Heat {
	var out []Heat
	for p, u := range l.Parts() {
		h := Heat{Part: p, RCU: u.RCU * scale, WCU: u.WCU * scale}
		h.Share = math.Max(h.RCU/PartitionRCU, h.WCU/PartitionWCU)
		out = append(out, h)
	}
	sort.Slice(out, func(a, b int) bool {
		if out[a].Share != out[b].Share {
			return out[a].Share > out[b].Share
		}
		return out[a].Part.String() < out[b].Part.String()
	})
	if len(out) > n {
		out = out[:n]
	}
	return out
}

// Heat is a partition key's load per second and its share of the limits.
type Heat struct {
	Part     Part
	RCU, WCU float64 // per second
	Share    float64 // of PartitionRCU or PartitionWCU, whichever is more
}

func (l *KeyLoad) add(p Part, u Units) {
	cur := l.parts[p]
	cur.RCU += u.RCU
	cur.WCU += u.WCU
	l.parts[p] = cur
}

// meter adds a response's ConsumedCapacity to the metered totals.
func (l *KeyLoad) meter(write bool, resp map[string]any) {
	var ccs []any
	switch v := resp["ConsumedCapacity"].(type) {
	case []any:
		ccs = v
	case map[string]any:
		ccs = []any{v}
	}
	part := func(name string, v any) {
		cu, _ := asFloat(asMap(v)["CapacityUnits"])
		u := l.metered[name]
		if write {
			u.WCU += cu
		} else {
			u.RCU += cu
		}
		l.metered[name] = u
	}
	for _, cc := range ccs {
		cc := asMap(cc)
		if t := cc["Table"]; t != nil {
			part("table", t)
		}
		for name, ix := range asMap(cc["GlobalSecondaryIndexes"]) {
			part(name, ix)
		}
	}
}

// read counts a read request.
func (l *KeyLoad) read(ls *lagState, op string, req map[string]any, out []byte) {
	resp := map[string]any{}
	if decode(out, &resp) != nil {
		return
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	switch op {
	case "Query", "GetItem":
		l.meter(false, resp)
		cu, _ := asFloat(asMap(resp["ConsumedCapacity"])["CapacityUnits"])
		consistent := req["ConsistentRead"] == true
		minimum := 0.5
		if consistent {
			minimum = 1
		}
		key := ""
		if op == "GetItem" {
			key = ls.partitionOf(asString(req["TableName"]), asMap(req["Key"]))
		} else {
			key = parseKeyCondition(req).pk
		}
		l.add(Part{Index: asString(req["IndexName"]), Key: trimType(key)}, Units{RCU: math.Max(cu, minimum)})
	case "BatchGetItem", "TransactGetItems":
		l.meter(false, resp)
		type got struct {
			table  string
			item   map[string]any
			factor float64
		}
		var items []got
		if op == "TransactGetItems" {
			for i, r := range asSlice(resp["Responses"]) {
				table := ""
				if gets := asSlice(req["TransactItems"]); i < len(gets) {
					table = asString(asMap(asMap(gets[i])["Get"])["TableName"])
				}
				items = append(items, got{table, asMap(asMap(r)["Item"]), 2})
			}
		} else {
			for table, rs := range asMap(resp["Responses"]) {
				factor := 0.5
				if asMap(asMap(req["RequestItems"])[table])["ConsistentRead"] == true {
					factor = 1
				}
				for _, it := range asSlice(rs) {
					items = append(items, got{table, asMap(it), factor})
				}
			}
		}
		for _, g := range items {
			if g.item == nil {
				continue
			}
			l.add(Part{Key: trimType(ls.partitionOf(g.table, g.item))}, Units{RCU: math.Max(1, math.Ceil(float64(itemSize(g.item))/4096)) * g.factor})
		}
	}
}

// write counts a write request from the items it changed.
func (l *KeyLoad) write(ls *lagState, op string, out []byte, changes []change) {
	resp := map[string]any{}
	_ = decode(out, &resp)
	l.mu.Lock()
	defer l.mu.Unlock()
	l.meter(true, resp)
	for _, c := range changes {
		s, err := ls.schema(c.table)
		if err != nil {
			continue
		}
		factor := 1.0
		if c.txn {
			factor = 2
		}
		size := max(itemSize(c.old), itemSize(c.new))
		it := c.new
		if it == nil {
			it = c.old
		}
		if it == nil {
			continue // a delete of nothing, or a check of nothing: 1 unit on a key we cannot name
		}
		l.add(Part{Key: trimType(attrString(it[s.pk]))}, Units{WCU: writeUnits(size) * factor})
		if c.kind == "ConditionCheck" {
			continue
		}
		for _, g := range s.gsis {
			before, after := s.entry(g, c.old), s.entry(g, c.new)
			moved := before == nil || after == nil || attrString(before[g.pk]) != attrString(after[g.pk]) ||
				(g.sk != "" && attrString(before[g.sk]) != attrString(after[g.sk]))
			switch {
			case before == nil && after == nil:
			case moved:
				if before != nil {
					l.add(Part{Index: g.name, Key: trimType(attrString(before[g.pk]))}, Units{WCU: writeUnits(itemSize(before))})
				}
				if after != nil {
					l.add(Part{Index: g.name, Key: trimType(attrString(after[g.pk]))}, Units{WCU: writeUnits(itemSize(after))})
				}
			case !sameItem(before, after):
				l.add(Part{Index: g.name, Key: trimType(attrString(after[g.pk]))}, Units{WCU: writeUnits(max(itemSize(before), itemSize(after)))})
			}
		}
	}
}

func writeUnits(size int) float64 { return math.Max(1, math.Ceil(float64(size)/1024)) }

func sameItem(a, b map[string]any) bool {
	x, _ := json.Marshal(a)
	y, _ := json.Marshal(b)
	return string(x) == string(y)
}

// partitionOf names the partition key value of an item (or key) of table.
func (l *lagState) partitionOf(table string, it map[string]any) string {
	s, err := l.schema(table)
	if err != nil {
		return ""
	}
	return attrString(it[s.pk])
}

// trimType drops attrString's type tag.
func trimType(s string) string {
	if len(s) > 2 && s[1] == ':' {
		return s[2:]
	}
	return s
}

// itemSize is an item's size as DynamoDB bills it: the UTF-8 bytes of each
// attribute's name and value (numbers: about one byte per two digits and
// one more; binary: its bytes; sets, lists and maps: their elements and
// three bytes).
func itemSize(it map[string]any) int {
	n := 0
	for k, v := range it {
		n += utf8.RuneCountInString(k) + valueSize(v)
	}
	return n
}

func valueSize(v any) int {
	m := asMap(v)
	for t, x := range m {
		switch t {
		case "S":
			return len(asString(x))
		case "N":
			return (len(strings.TrimLeft(asString(x), "-0"))+1)/2 + 1
		case "B":
			b, _ := base64.StdEncoding.DecodeString(asString(x))
			return len(b)
		case "BOOL", "NULL":
			return 1
		case "SS", "NS", "BS", "L":
			n := 3
			for _, e := range asSlice(x) {
				switch t {
				case "L":
					n += valueSize(e) + 1
				case "SS":
					n += len(asString(e))
				default:
					n += len(asString(e))/2 + 1
				}
			}
			return n
		case "M":
			n := 3
			for k, e := range asMap(x) {
				n += len(k) + valueSize(e) + 1
			}
			return n
		}
	}
	return 0
}

func asFloat(v any) (float64, bool) {
	switch n := v.(type) {
	case json.Number:
		f, err := n.Float64()
		return f, err == nil
	case float64:
		return n, true
	}
	return 0, false
}

package cli

import (
	"encoding/json"
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"sync"
)

// Sweeps: brace lists and ranges in the values of --hyperparameter, --env
// and --tag make one job per combination (or, with --sweep zip, advance
// together), and placeholders in --name, the entry point and those values
// name each job's own values:
//
//	--hyperparameter 'lr={0.1,0.01,0.001}'   a list: 3 values
//	--hyperparameter 'seed={1..5}'           a range of integers: 1 2 3 4 5 ({1..9..2}: a step; {01..10}: zero-padded)
//	--name 'lr{lr}-s{seed}'                  {KEY}: this job's hyperparameter (or env, or tag) KEY
//	-- python train.py --seed {seed} --run {i}   {i}: the job's number, 1-based; {n}: how many jobs
//
// A value that is a JSON object or array is never expanded, and \{ is a
// literal brace; ${...} (a shell variable) is left alone.

// maxBulkJobs bounds one bulk submission, so a typo in a range cannot
// submit a million jobs.
const maxBulkJobs = 10000

// segment is a piece of a template: literal text, a list of values (a sweep
// axis), or a reference to a value of the job.
type segment struct {
	lit    string
	values []string // a list or range
	ref    string   // a placeholder name
}

// Compiled on first use: every command pays for what the package
// initialises, and only sweeps use these.
var (
	rangePattern = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`^(-?\d+)\.\.(-?\d+)(?:\.\.(\d+))?$`) })
	refPattern   = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_.-]*$`) })
)

// parseTemplate splits s into segments. Lists (and ranges) are recognized
// only when lists is set: in the values of the sweep flags, not in names
// or entry points, where a comma in braces is more likely meant as it is.
func parseTemplate(s string, lists bool) ([]segment, error) {
	if t := strings.TrimSpace(s); (strings.HasPrefix(t, "{") || strings.HasPrefix(t, "[")) && json.Valid([]byte(t)) {
		return []segment{{lit: s}}, nil
	}
	var segs []segment
	var lit strings.Builder
	flush := func() {
		if lit.Len() > 0 {
			segs = append(segs, segment{lit: lit.String()})
			lit.Reset()
		}
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '\\' && i+1 < len(s) && (s[i+1] == '{' || s[i+1] == '}'):
			lit.WriteByte(s[i+1])
			i++
		case c == '$' && i+1 < len(s) && s[i+1] == '{':
			end := strings.IndexByte(s[i:], '}')
			if end < 0 {
				lit.WriteString(s[i:])
				i = len(s)
				continue
			}
			lit.WriteString(s[i : i+end+1])
			i += end
		case c == '{':
			end := strings.IndexByte(s[i+1:], '}')
			if end < 0 {
				lit.WriteString(s[i:])
				i = len(s)
				continue
			}
			body := s[i+1 : i+1+end]
			seg, ok, err := braceSegment(body, lists)
			if err != nil {
				return nil, err
			}
			if ok {
				flush()
				segs = append(segs, seg)
			} else {
				lit.WriteString("{" + body + "}")
			}
			i += end + 1
		default:
			lit.WriteByte(c)
		}
	}
	flush()
	return segs, nil
}

// braceSegment reads what is between braces; ok is false for text that is
// not a sweep or placeholder (it stays as it is).
func braceSegment(body string, lists bool) (segment, bool, error) {
	switch {
	case lists && strings.Contains(body, ","):
		return segment{values: strings.Split(body, ",")}, true, nil
	case lists && rangePattern().MatchString(body):
		m := rangePattern().FindStringSubmatch(body)
		from, err1 := strconv.Atoi(m[1])
		to, err2 := strconv.Atoi(m[2])
		step := 1
		if m[3] != "" {
			step, _ = strconv.Atoi(m[3])
		}
		if err1 != nil || err2 != nil || step < 1 {
			return segment{}, false, usagef("{%s}: not a range (like {1..10} or {0..100..10})", body)
		}
		if n := (max(from, to)-min(from, to))/step + 1; n > maxBulkJobs {
			return segment{}, false, usagef("{%s}: %d values, more than the %d jobs one submission may have", body, n, maxBulkJobs)
		}
		width := 0
		if pad := strings.TrimPrefix(m[1], "-"); len(pad) > 1 && pad[0] == '0' {
			width = len(m[1])
		}
		var vals []string
		if from <= to {
			for v := from; v <= to; v += step {
				vals = append(vals, fmt.Sprintf("%0*d", width, v))
			}
		} else {
			for v := from; v >= to; v -= step {
				vals = append(vals, fmt.Sprintf("%0*d", width, v))
			}
		}
		return segment{values: vals}, true, nil
	case refPattern().MatchString(body):
		return segment{ref: body}, true, nil
	}
	return segment{}, false, nil
}

// sweepValue is a value of a sweep flag: which flag, which key, and its
// parsed template.
type sweepValue struct {
	flag string // hyperparameter, env or tag
	key  string
	segs []segment
}

// axisRef points at one list segment of a sweep value.
type axisRef struct{ value, seg int }

// sweep is the expansion of the sweep flags into jobs.
type sweep struct {
	values []sweepValue
	axes   []axisRef
	zip    bool
	n      int
}

// newSweep parses the sweep flags' values. Axes are ordered as given
// within a flag, hyperparameters first, then env, then tags; in a grid the
// first axis varies slowest, like nested loops written in that order.
func newSweep(o *submitOptions) (*sweep, error) {
	s := &sweep{zip: o.sweepMode == "zip"}
	for _, f := range []struct {
		name string
		kv   *kvFlag
	}{{"hyperparameter", &o.hyperParameters}, {"env", &o.environment}, {"tag", &o.tags}} {
		for _, k := range f.kv.Keys {
			segs, err := parseTemplate(f.kv.Map[k], true)
			if err != nil {
				return nil, usagef("--%s %s: %v", f.name, k, err)
			}
			s.values = append(s.values, sweepValue{flag: f.name, key: k, segs: segs})
			for i, seg := range segs {
				if seg.values != nil {
					s.axes = append(s.axes, axisRef{value: len(s.values) - 1, seg: i})
				}
			}
		}
	}
	return s, nil
}

// size is the number of jobs the axes make: their product (grid) or the
// longest (zip); 1 without axes.
func (s *sweep) size() int {
	n := 1
	for _, a := range s.axes {
		l := len(s.values[a.value].segs[a.seg].values)
		if s.zip {
			n = max(n, l)
		} else {
			n *= l
			if n > maxBulkJobs {
				return n
			}
		}
	}
	return n
}

// pick returns the value index of every axis for job k (0-based). Jobs past
// the grid's size start it over, so --count cycles through it.
func (s *sweep) pick(k int) []int {
	idx := make([]int, len(s.axes))
	if s.zip {
		for i, a := range s.axes {
			idx[i] = k % len(s.values[a.value].segs[a.seg].values)
		}
		return idx
	}
	k %= max(s.size(), 1)
	for i := len(s.axes) - 1; i >= 0; i-- {
		l := len(s.values[s.axes[i].value].segs[s.axes[i].seg].values)
		idx[i] = k % l
		k /= l
	}
	return idx
}

// jobValues returns the values of the sweep flags for job k, lists
// substituted and placeholders resolved: by flag, key -> value.
func (s *sweep) jobValues(k, n int) map[string]map[string]string {
	idx := s.pick(k)
	chosen := map[axisRef]string{}
	for i, a := range s.axes {
		chosen[a] = s.values[a.value].segs[a.seg].values[idx[i]]
	}
	out := map[string]map[string]string{"hyperparameter": {}, "env": {}, "tag": {}}
	// First the lists, then the references, which may name any value.
	for vi, v := range s.values {
		var b strings.Builder
		for si, seg := range v.segs {
			switch {
			case seg.values != nil:
				b.WriteString(chosen[axisRef{vi, si}])
			case seg.ref != "":
				b.WriteString("{" + seg.ref + "}")
			default:
				b.WriteString(seg.lit)
			}
		}
		out[v.flag][v.key] = b.String()
	}
	lookup := refLookup(k, n, out)
	for _, v := range s.values {
		segs, _ := parseTemplate(out[v.flag][v.key], false)
		out[v.flag][v.key] = render(segs, lookup, nil)
	}
	return out
}

// refLookup resolves a placeholder of job k of n: i, n, or a key of the
// job's hyperparameters, env or tags (in that order).
func refLookup(k, n int, values map[string]map[string]string) func(string) (string, bool) {
	return func(ref string) (string, bool) {
		switch ref {
		case "i":
			return strconv.Itoa(k + 1), true
		case "n":
			return strconv.Itoa(n), true
		}
		for _, flag := range []string{"hyperparameter", "env", "tag"} {
			if v, ok := values[flag][ref]; ok {
				return v, true
			}
		}
		return "", false
	}
}

// render writes segments with placeholders resolved; an unknown one stays
// as written (in an entry point, {x} may well be meant literally), or is
// reported to unknown when given.
func render(segs []segment, lookup func(string) (string, bool), unknown func(string)) string {
	var b strings.Builder
	for _, seg := range segs {
		switch {
		case seg.ref != "":
			if v, ok := lookup(seg.ref); ok {
				b.WriteString(v)
			} else {
				if unknown != nil {
					unknown(seg.ref)
				}
				b.WriteString("{" + seg.ref + "}")
			}
		case seg.values != nil:
			b.WriteString("{" + strings.Join(seg.values, ",") + "}")
		default:
			b.WriteString(seg.lit)
		}
	}
	return b.String()
}

// jobName renders the --name template for a job: placeholders resolved,
// the characters a job name cannot hold in their values (the . of 0.01)
// turned into _, so that lr{lr} makes lr0_01.
func jobName(template string, lookup func(string) (string, bool)) (string, error) {
	segs, err := parseTemplate(template, false)
	if err != nil {
		return "", err
	}
	var bad []string
	name := render(segs, func(ref string) (string, bool) {
		v, ok := lookup(ref)
		return sanitizeName(v), ok
	}, func(ref string) { bad = append(bad, "{"+ref+"}") })
	if len(bad) > 0 {
		return "", usagef("--name %q: unknown placeholder %s (use {i}, {n} or the key of a --hyperparameter, --env or --tag)", template, strings.Join(bad, ", "))
	}
	return name, nil
}

func sanitizeName(s string) string {
	b := []byte(s)
	for i, c := range b {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_') {
			b[i] = '_'
		}
	}
	return string(b)
}

// hasPlaceholder reports whether a name template has a placeholder; a bulk
// submission's names get -{i} otherwise, so that they differ.
func hasPlaceholder(template string) bool {
	segs, err := parseTemplate(template, false)
	if err != nil {
		return false
	}
	for _, s := range segs {
		if s.ref != "" {
			return true
		}
	}
	return false
}

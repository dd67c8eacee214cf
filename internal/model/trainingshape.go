package model

import (
	"encoding/json"
	"fmt"
	"math"
	"sort"
	"strings"
)

//go:generate go run ./internal/shapegen -o trainingshape_gen.go

// shape is the JSON shape of a value in a SageMaker request, as
// trainingshape_gen.go tabulates it from the SDK's types.
type shape struct {
	kind shapeKind
	// name is a structure's SageMaker name, for messages.
	name    string
	members map[string]*shape // kindStruct
	elem    *shape            // kindList, kindMap (string keys)
}

type shapeKind uint8

const (
	kindStruct shapeKind = iota
	kindList
	kindMap
	kindString
	kindBool
	kindInt32
	kindInt64
	kindNumber
)

// checkTrainingShape checks a decoded payload (decoded with UseNumber)
// against the CreateTrainingJob request: no member SageMaker does not know,
// every value of the JSON type SageMaker takes. Member names are exact, as
// SageMaker's are. The error names the member's path under root.
func checkTrainingShape(root string, doc any) error {
	return checkShape(root, doc, createTrainingJobShape)
}

func checkShape(field string, v any, s *shape) error {
	if v == nil {
		return nil // null: the member is absent, as the SDK reads it
	}
	switch s.kind {
	case kindStruct:
		obj, ok := v.(map[string]any)
		if !ok {
			return Invalidf(field, "must be a JSON object (%s), got %s", s.name, jsonKind(v))
		}
		keys := make([]string, 0, len(obj))
		for k := range obj {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			m := s.members[k]
			if m == nil {
				return unknownMember(field+"."+k, k, s)
			}
			if err := checkShape(field+"."+k, obj[k], m); err != nil {
				return err
			}
		}
	case kindList:
		arr, ok := v.([]any)
		if !ok {
			return Invalidf(field, "must be a JSON array, got %s", jsonKind(v))
		}
		for i, e := range arr {
			if err := checkShape(fmt.Sprintf("%s[%d]", field, i), e, s.elem); err != nil {
				return err
			}
		}
	case kindMap:
		obj, ok := v.(map[string]any)
		if !ok {
			return Invalidf(field, "must be a JSON object of strings, got %s", jsonKind(v))
		}
		keys := make([]string, 0, len(obj))
		for k := range obj {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			if err := checkShape(field+"."+k, obj[k], s.elem); err != nil {
				return err
			}
		}
	case kindString:
		if _, ok := v.(string); !ok {
			return Invalidf(field, "must be a string, got %s", jsonKind(v))
		}
	case kindBool:
		if _, ok := v.(bool); !ok {
			return Invalidf(field, "must be true or false, got %s", jsonKind(v))
		}
	case kindInt32, kindInt64:
		lo, hi := int64(math.MinInt32), int64(math.MaxInt32)
		if s.kind == kindInt64 {
			lo, hi = math.MinInt64, math.MaxInt64
		}
		n, ok := v.(json.Number)
		if !ok {
			return Invalidf(field, "must be an integer, got %s", jsonKind(v))
		}
		i, err := n.Int64()
		if err != nil || i < lo || i > hi {
			return Invalidf(field, "must be an integer from %d to %d, got %s", lo, hi, n)
		}
	case kindNumber:
		n, ok := v.(json.Number)
		if !ok {
			return Invalidf(field, "must be a number, got %s", jsonKind(v))
		}
		if _, err := n.Float64(); err != nil {
			return Invalidf(field, "must be a number, got %s", n)
		}
	}
	return nil
}

// unknownMember refuses a member that s does not have, naming the closest
// one it has when one is close.
func unknownMember(field, name string, s *shape) error {
	msg := fmt.Sprintf("is not a member of SageMaker's %s", s.name)
	if m := closest(name, s.members); m != "" {
		msg += "; did you mean " + m + "?"
	}
	return Invalid(field, msg)
}

// closest is the member whose name is nearest to name: equal but for case,
// a prefix of it or it of a prefix, or a few edits away; "" when none is.
func closest(name string, members map[string]*shape) string {
	lower := strings.ToLower(name)
	best, bestScore := "", math.MaxInt
	for m := range members {
		ml := strings.ToLower(m)
		score := editDistance(lower, ml)
		switch {
		case ml == lower:
			score = 0
		case len(lower) >= 4 && (strings.HasPrefix(ml, lower) || strings.HasPrefix(lower, ml)):
			score = 1
		case score > max(2, len(ml)/4):
			continue
		}
		if score < bestScore || score == bestScore && m < best {
			best, bestScore = m, score
		}
	}
	return best
}

// editDistance is the Levenshtein distance of two short strings.
func editDistance(a, b string) int {
	ar, br := []rune(a), []rune(b)
	prev := make([]int, len(br)+1)
	cur := make([]int, len(br)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(ar); i++ {
		cur[0] = i
		for j := 1; j <= len(br); j++ {
			cost := 1
			if ar[i-1] == br[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(br)]
}

func jsonKind(v any) string {
	switch v := v.(type) {
	case string:
		return fmt.Sprintf("the string %q", truncateText(v, 40))
	case bool:
		return fmt.Sprint(v)
	case json.Number:
		return "the number " + v.String()
	case []any:
		return "an array"
	case map[string]any:
		return "an object"
	}
	return "null"
}

func truncateText(s string, n int) string {
	r := []rune(s)
	if len(r) <= n {
		return s
	}
	return string(r[:n-3]) + "..."
}

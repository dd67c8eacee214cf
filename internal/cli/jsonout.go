package cli

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"io"
	"reflect"
	"strconv"
	"unicode"
	"unicode/utf8"
)

// toJSON converts an SDK value (an operation output, a types struct, a slice
// or map of them) to plain JSON values named like the Batch API: struct
// fields become lowerCamelCase members (JobId -> jobId), pointers their
// values, enums their strings. ResultMetadata and unexported fields are
// dropped, and so are unset members (nil pointers, slices and maps, empty
// enums), as the service omits them. Maps come out as map[string]any, so
// members print in sorted order.
func toJSON(v any) any {
	out, _ := convertValue(reflect.ValueOf(v))
	return out
}

var stringType = reflect.TypeFor[string]()

// convertValue returns the JSON value of v and whether v is set at all.
func convertValue(v reflect.Value) (any, bool) {
	switch v.Kind() {
	case reflect.Invalid:
		return nil, false
	case reflect.Pointer, reflect.Interface:
		if v.IsNil() {
			return nil, false
		}
		return convertValue(v.Elem())
	case reflect.Struct:
		return convertStruct(v), true
	case reflect.Map:
		if v.IsNil() {
			return nil, false
		}
		m := make(map[string]any, v.Len())
		it := v.MapRange()
		for it.Next() {
			val, ok := convertValue(it.Value())
			if !ok {
				val = nil
			}
			m[mapKey(it.Key())] = val
		}
		return m, true
	case reflect.Slice:
		if v.IsNil() {
			return nil, false
		}
		if v.Type().Elem().Kind() == reflect.Uint8 {
			return base64.StdEncoding.EncodeToString(v.Bytes()), true
		}
		fallthrough
	case reflect.Array:
		list := make([]any, v.Len())
		for i := range list {
			list[i], _ = convertValue(v.Index(i))
		}
		return list, true
	case reflect.String:
		if v.Type() != stringType && v.Len() == 0 {
			// An enum's zero value: the member is unset.
			return nil, false
		}
		return v.String(), true
	case reflect.Bool:
		return v.Bool(), true
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		return v.Int(), true
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return v.Uint(), true
	case reflect.Float32:
		// Print a float32 by its own shortest form (0.1, not 0.10000000149).
		return json.Number(strconv.FormatFloat(v.Float(), 'g', -1, 32)), true
	case reflect.Float64:
		return v.Float(), true
	}
	if v.CanInterface() {
		return v.Interface(), true
	}
	return nil, false
}

func convertStruct(v reflect.Value) map[string]any {
	t := v.Type()
	m := make(map[string]any, t.NumField())
	for i := range t.NumField() {
		f := t.Field(i)
		if !f.IsExported() || f.Name == "ResultMetadata" {
			continue
		}
		if f.Anonymous && f.Type.Kind() == reflect.Struct {
			// Promote the fields of an embedded struct.
			for k, val := range convertStruct(v.Field(i)) {
				m[k] = val
			}
			continue
		}
		if val, ok := convertValue(v.Field(i)); ok {
			m[memberName(f.Name)] = val
		}
	}
	return m
}

func mapKey(k reflect.Value) string {
	if k.Kind() == reflect.String {
		return k.String()
	}
	b, _ := json.Marshal(k.Interface())
	return string(bytes.Trim(b, `"`))
}

// memberName turns a Go field name of the SDK into the Batch member name:
// the first letter in lower case (JobId -> jobId).
func memberName(field string) string {
	r, size := utf8.DecodeRuneInString(field)
	return string(unicode.ToLower(r)) + field[size:]
}

// writeJSON prints v as indented JSON, HTML characters unescaped.
func writeJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

// printJSON prints an SDK value converted with toJSON.
func (a *App) printJSON(v any) error {
	return writeJSON(a.Stdout, toJSON(v))
}

// writeCompactJSON writes v as one line of JSON (JSON Lines).
func writeCompactJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	return enc.Encode(v)
}

package main

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"reflect"
	"sort"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/sagemaker"

	"github.com/sagequeue/sagequeue/internal/inproc"
)

// TestTableIsCurrent: the committed table is what the SDK in go.mod gives.
// After an SDK update, `go generate ./internal/model` refreshes it.
func TestTableIsCurrent(t *testing.T) {
	want, err := Generate()
	if err != nil {
		t.Fatal(err)
	}
	got, err := os.ReadFile("../../trainingshape_gen.go")
	if err != nil {
		t.Fatal(err)
	}
	if string(got) != string(want) {
		t.Fatal("internal/model/trainingshape_gen.go is not what the SageMaker SDK in go.mod gives: run go generate ./internal/model")
	}
}

// TestGoNamesAreWireNames: the table names members by the SDK's Go field
// names; the SDK's serializer writes SageMaker's member names. A request
// with every member set, sent through the real client, must carry exactly
// the member paths the Go types have.
func TestGoNamesAreWireNames(t *testing.T) {
	in := reflect.New(Root)
	fill(in.Elem())
	var body []byte
	client := sagemaker.New(sagemaker.Options{
		BaseEndpoint: aws.String("http://sagemaker.in-process"), Region: "us-east-1",
		Credentials: credentials.NewStaticCredentialsProvider("a", "b", ""),
		HTTPClient: inproc.Client{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			body, _ = io.ReadAll(r.Body)
			w.Header().Set("Content-Type", "application/x-amz-json-1.1")
			w.Write([]byte(`{"TrainingJobArn":"arn:aws:sagemaker:us-east-1:000000000000:training-job/x"}`))
		})},
	})
	if _, err := client.CreateTrainingJob(context.Background(), in.Interface().(*sagemaker.CreateTrainingJobInput)); err != nil {
		t.Fatal(err)
	}
	var doc any
	if err := json.Unmarshal(body, &doc); err != nil {
		t.Fatal(err)
	}
	wire := map[string]bool{}
	jsonPaths("", doc, wire)
	goPaths := map[string]bool{}
	typePaths("", Root, goPaths)
	if missing, extra := diff(goPaths, wire), diff(wire, goPaths); len(missing) > 0 || len(extra) > 0 {
		t.Fatalf("Go fields the request lacks: %v\nrequest members no Go field names: %v", missing, extra)
	}
	if len(wire) < 100 {
		t.Fatalf("only %d member paths: the request was not filled", len(wire))
	}
}

// fill sets every field of v, recursively: one element per list and map.
func fill(v reflect.Value) {
	switch v.Kind() {
	case reflect.Pointer:
		v.Set(reflect.New(v.Type().Elem()))
		fill(v.Elem())
	case reflect.String:
		v.SetString("x")
	case reflect.Bool:
		v.SetBool(true)
	case reflect.Int32, reflect.Int64:
		v.SetInt(1)
	case reflect.Float32, reflect.Float64:
		v.SetFloat(1)
	case reflect.Slice:
		s := reflect.MakeSlice(v.Type(), 1, 1)
		fill(s.Index(0))
		v.Set(s)
	case reflect.Map:
		m := reflect.MakeMap(v.Type())
		e := reflect.New(v.Type().Elem()).Elem()
		fill(e)
		m.SetMapIndex(reflect.ValueOf("k").Convert(v.Type().Key()), e)
		v.Set(m)
	case reflect.Struct:
		for i := 0; i < v.NumField(); i++ {
			if v.Type().Field(i).IsExported() {
				fill(v.Field(i))
			}
		}
	}
}

func jsonPaths(prefix string, v any, out map[string]bool) {
	switch v := v.(type) {
	case map[string]any:
		for k, e := range v {
			p := prefix + "." + k
			if k == "k" {
				p = prefix + "{}" // a map's one entry
			}
			out[p] = true
			jsonPaths(p, e, out)
		}
	case []any:
		for _, e := range v {
			jsonPaths(prefix+"[]", e, out)
		}
	}
}

func typePaths(prefix string, t reflect.Type, out map[string]bool) {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	switch t.Kind() {
	case reflect.Struct:
		for i := 0; i < t.NumField(); i++ {
			f := t.Field(i)
			if !f.IsExported() {
				continue
			}
			p := prefix + "." + f.Name
			out[p] = true
			typePaths(p, f.Type, out)
		}
	case reflect.Slice:
		typePaths(prefix+"[]", t.Elem(), out)
	case reflect.Map:
		out[prefix+"{}"] = true
		typePaths(prefix+"{}", t.Elem(), out)
	}
}

func diff(a, b map[string]bool) []string {
	var out []string
	for k := range a {
		if !b[k] {
			out = append(out, k)
		}
	}
	sort.Strings(out)
	return out
}

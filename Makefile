# sagequeue — the two commands a newcomer needs are `make run` and `make test`.
GO        ?= go
PKGS      := ./...
FUZZTIME  ?= 10s

DATA      ?= .sagequeue
CONFIG    ?= examples/local.yaml

.PHONY: all run test unit fuzz bench lint fmt build clean

all: lint test

## run: build and start sagequeue serve with the example configuration
run:
	$(GO) build -o bin/sagequeue ./cmd/sagequeue
	./bin/sagequeue serve --config $(CONFIG) --data-dir $(DATA)

## test: every test, as CI runs it (unit, property, simulation, bounded fuzzing)
test: unit fuzz

unit:
	$(GO) test -count=1 $(PKGS)

## fuzz: each fuzz target for a short bounded time (FUZZTIME=10s)
fuzz:
	$(GO) test -run '^$$' -fuzz '^FuzzParsePayload$$' -fuzztime $(FUZZTIME) ./internal/model
	$(GO) test -run '^$$' -fuzz '^FuzzRequests$$' -fuzztime $(FUZZTIME) ./internal/api

## bench: the benchmarks whose figures go into docs/benchmarks.md
bench:
	$(GO) test -run '^$$' -bench . -benchmem ./internal/sched/

## lint: formatting and go vet
lint:
	@unformatted=$$(find . -name '*.go' -not -path '*/node_modules/*' -not -path './cdk.out/*' | xargs gofmt -l); \
	if [ -n "$$unformatted" ]; then echo "gofmt would change:"; echo "$$unformatted"; exit 1; fi
	$(GO) vet $(PKGS)

fmt:
	find . -name '*.go' -not -path '*/node_modules/*' -not -path './cdk.out/*' | xargs gofmt -w

build:
	$(GO) build $(PKGS)

clean:
	rm -rf bin dist cdk.out

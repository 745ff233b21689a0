# The README's commands. `make test` installs what the tests need (Debian
# packages, as root or through sudo) and runs every test.

GO ?= go

.PHONY: build test test-deps demo bench bench-compare fuzz vet

build:
	$(GO) build -o tlsrpt ./cmd/tlsrpt

test-deps:
	./scripts/test-deps

test: test-deps vet
	$(GO) test -count=1 ./...

vet:
	@test -z "$$(gofmt -l $$(git ls-files '*.go'))" || { gofmt -l $$(git ls-files '*.go'); echo "gofmt needed"; exit 1; }
	$(GO) vet ./...

# Runs the filter on a sample report with the default database, then review.
demo: build
	./tlsrpt filter < testdata/corpus/14-tlsrptdigest-google-failure.eml
	./tlsrpt review

bench:
	$(GO) test -run '^$$' -bench . -benchmem ./...

# Whole-process wall time and peak memory against the seed script.
bench-compare: build test-deps
	./bench/compare.sh

fuzz:
	$(GO) test -run '^$$' -fuzz FuzzFilter -fuzztime 60s ./filter

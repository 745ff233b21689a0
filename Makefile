# The README's commands. `make test` installs what the tests need (Debian
# packages, as root or through sudo) and runs every test.

GO ?= go
PREFIX ?= /usr/local
DESTDIR ?=
BINDIR = $(DESTDIR)$(PREFIX)/bin
MANDIR = $(DESTDIR)$(PREFIX)/share/man/man1
# Where Debian's shells look for completions of packages installed under
# /usr; under /usr/local, bash-completion also reads
# /usr/local/share/bash-completion/completions.
BASHDIR = $(DESTDIR)$(PREFIX)/share/bash-completion/completions
ZSHDIR = $(DESTDIR)$(PREFIX)/share/zsh/vendor-completions
FISHDIR = $(DESTDIR)$(PREFIX)/share/fish/vendor_completions.d

.PHONY: build install test test-deps demo bench bench-compare bench-scale fuzz vet

# The binary is stamped with the release or commit it is built from (git
# describe: v1.2.0, v1.2.0-3-gabc1234, abc1234-dirty), which tlsrpt
# --version and the manual pages name. Without git, or outside a
# repository, it builds all the same and names its module version;
# TLSRPT_VERSION=... sets the name.
BIN ?= ./tlsrpt
GIT := $(shell command -v git 2>/dev/null)
TLSRPT_VERSION ?= $(if $(GIT),$(shell git describe --tags --always --dirty 2>/dev/null))
BUILDFLAGS = $(if $(GIT),,-buildvcs=false) $(if $(TLSRPT_VERSION),-ldflags '-X github.com/tlsrpt/tlsrpt/internal/cmd/root.stamp=$(TLSRPT_VERSION)')

build:
	$(GO) build $(BUILDFLAGS) -o $(BIN) ./cmd/tlsrpt

# The binary, a manual page per command, and completions for bash, zsh and
# fish, where Debian expects them.
install: build
	install -d $(BINDIR) $(MANDIR) $(BASHDIR) $(ZSHDIR) $(FISHDIR)
	install -m 755 $(BIN) $(BINDIR)/tlsrpt
	$(BIN) man $(MANDIR)
	$(BIN) completion bash > $(BASHDIR)/tlsrpt
	$(BIN) completion zsh > $(ZSHDIR)/_tlsrpt
	$(BIN) completion fish > $(FISHDIR)/tlsrpt.fish

test-deps:
	./scripts/test-deps

# Every test, then the packages that run goroutines of their own again
# under the race detector (it found a shared DNS message being packed
# concurrently). TLSRPT_TEST_REQUIRE_ALL=1 turns each skip for a missing
# tool, root or PostgreSQL (internal/testenv) into a failure.
test: test-deps vet
	TLSRPT_TEST_REQUIRE_ALL=1 $(GO) test -count=1 -timeout 20m ./...
	TLSRPT_TEST_REQUIRE_ALL=1 $(GO) test -count=1 -race -timeout 10m ./allowlist ./serve ./assess ./spool ./redeem ./store

vet:
	@test -z "$$(gofmt -l $$(git ls-files '*.go'))" || { gofmt -l $$(git ls-files '*.go'); echo "gofmt needed"; exit 1; }
	$(GO) vet ./...
	@$(GO) mod tidy -diff >/dev/null || { $(GO) mod tidy -diff; echo "go.mod is not tidy: run go mod tidy"; exit 1; }

# Runs the filter on a sample report with the default database, then review.
demo: build
	./tlsrpt filter < testdata/corpus/14-tlsrptdigest-google-failure.eml
	./tlsrpt review

bench:
	$(GO) test -run '^$$' -bench . -benchmem ./...

# Whole-process wall time and peak memory against the seed script.
bench-compare: build test-deps
	./bench/compare.sh

# Whole-process figures at scale (issue 9): many-detail and folded-header
# messages against the seed, a year of reports imported then reviewed.
# BIG=1 adds the 1M-row year; PG_URL=postgres://... adds PostgreSQL.
bench-scale: test-deps
	./bench/scale.sh

fuzz:
	$(GO) test -run '^$$' -fuzz FuzzFilter -fuzztime 60s ./filter

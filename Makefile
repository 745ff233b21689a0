# The README's commands. `make test` installs what the tests need (Debian
# packages, as root or through sudo) and runs every test.

GO ?= go
PREFIX ?= /usr/local
DESTDIR ?=
SYSCONFDIR ?= /etc
# The binary make build writes, and make install installs.
BIN ?= ./tlsrpt
BINDIR = $(DESTDIR)$(PREFIX)/bin
MANDIR = $(DESTDIR)$(PREFIX)/share/man/man1
# Where Debian's shells look for completions of packages installed under
# /usr; under /usr/local, bash-completion also reads
# /usr/local/share/bash-completion/completions.
BASHDIR = $(DESTDIR)$(PREFIX)/share/bash-completion/completions
ZSHDIR = $(DESTDIR)$(PREFIX)/share/zsh/vendor-completions
FISHDIR = $(DESTDIR)$(PREFIX)/share/fish/vendor_completions.d
# systemd reads units, sysusers.d and tmpfiles.d under /usr/local/lib too.
LIBDIR = $(DESTDIR)$(PREFIX)/lib
UNITDIR = $(LIBDIR)/systemd/system
DOCDIR = $(DESTDIR)$(PREFIX)/share/doc/tlsrpt
CONFDIR = $(DESTDIR)$(SYSCONFDIR)/tlsrpt
# The contrib files name the Debian package's paths; make install writes
# the PREFIX given instead, and the manual pages name the installed docs.
PATHS = -e 's|/usr/bin/tlsrpt|$(PREFIX)/bin/tlsrpt|g' -e 's|/usr/lib/tlsrpt/|$(PREFIX)/lib/tlsrpt/|g'
MANDOCS = -e 's|docs/\([a-z\\-]*\.md\)|$(PREFIX)/share/doc/tlsrpt/\1|g' \
	-e 's|contrib/ipqbdb/commands\.conf|$(PREFIX)/share/doc/tlsrpt/examples/ipqbdb/commands.conf|g'
UNITS = $(wildcard contrib/systemd/*.service contrib/systemd/*.timer)
EXAMPLES = maildrop/mailfilter fail2ban/tlsrpt.local ipqbdb/commands.conf postgresql/grants.sql

.PHONY: build install deb test test-deps demo bench bench-compare bench-scale bench-startup fuzz vet

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

# install installs what make build built and never builds: as root (sudo
# make install) go is often not on the PATH.
$(BIN):
	@echo "make: $(BIN) is not built: run make build first (install never builds)" >&2; exit 1

# The binary; a manual page per command; completions for bash, zsh and
# fish where Debian expects them; the systemd units and the tlsrpt-mail
# script they run; the tlsrpt user and group (sysusers.d) and the shared
# store's folders (tmpfiles.d); the documentation with the contrib files
# as examples; and /etc/tlsrpt/tlsrpt.conf, unless one is there. The Debian
# package (make deb) is this same set. Without DESTDIR it then makes the
# user and the folders, as the package's postinst does.
install: $(BIN)
	install -d $(BINDIR) $(MANDIR) $(BASHDIR) $(ZSHDIR) $(FISHDIR) $(UNITDIR) \
		$(LIBDIR)/tlsrpt $(LIBDIR)/sysusers.d $(LIBDIR)/tmpfiles.d $(CONFDIR) \
		$(addprefix $(DOCDIR)/examples/,$(sort $(dir $(EXAMPLES))))
	install -m 755 $(BIN) $(BINDIR)/tlsrpt
	man=$$(mktemp -d) && $(BIN) --no-config man $$man && \
		for f in $$man/*.1; do sed $(MANDOCS) "$$f" | gzip -9n > $(MANDIR)/$${f##*/}.gz; done; \
		status=$$?; rm -rf $$man; exit $$status
	$(BIN) --no-config completion bash > $(BASHDIR)/tlsrpt
	$(BIN) --no-config completion zsh > $(ZSHDIR)/_tlsrpt
	$(BIN) --no-config completion fish > $(FISHDIR)/tlsrpt.fish
	chmod 644 $(BASHDIR)/tlsrpt $(ZSHDIR)/_tlsrpt $(FISHDIR)/tlsrpt.fish $(MANDIR)/tlsrpt*.1.gz
	for f in $(UNITS); do sed $(PATHS) "$$f" > $(UNITDIR)/$${f##*/} && chmod 644 $(UNITDIR)/$${f##*/}; done
	sed $(PATHS) contrib/systemd/tlsrpt-mail > $(LIBDIR)/tlsrpt/tlsrpt-mail && chmod 755 $(LIBDIR)/tlsrpt/tlsrpt-mail
	install -m 644 packaging/sysusers.conf $(LIBDIR)/sysusers.d/tlsrpt.conf
	install -m 644 packaging/tmpfiles.conf $(LIBDIR)/tmpfiles.d/tlsrpt.conf
	install -m 644 README.md NEWS.md docs/*.md docs/*.png $(DOCDIR)
	for f in $(EXAMPLES); do sed $(PATHS) contrib/$$f > $(DOCDIR)/examples/$$f && chmod 644 $(DOCDIR)/examples/$$f; done
	test -e $(CONFDIR)/tlsrpt.conf || install -m 644 packaging/tlsrpt.conf $(CONFDIR)/tlsrpt.conf
	@if [ -z "$(DESTDIR)" ] && command -v systemd-sysusers >/dev/null; then \
		set -x; systemd-sysusers $(LIBDIR)/sysusers.d/tlsrpt.conf && \
		systemd-tmpfiles --create $(LIBDIR)/tmpfiles.d/tlsrpt.conf && \
		{ [ ! -d /run/systemd/system ] || systemctl daemon-reload; }; fi

# The Debian package, build/tlsrpt_VERSION_ARCH.deb, by nFPM (a tool of
# this module: go tool nfpm), of the files make install installs under
# /usr; the version from git describe (scripts/deb-version).
DEB_VERSION = $(shell ./scripts/deb-version)
DEB_ARCH = $(shell $(GO) env GOARCH)
# Debian wants position-independent executables, stripped. The manual
# pages and the package are dated by the last commit (reproducible).
deb: export SOURCE_DATE_EPOCH ?= $(shell git log -1 --format=%ct)
deb:
	GOFLAGS="$$GOFLAGS -buildmode=pie" $(MAKE) --no-print-directory build
	rm -rf build/root
	$(MAKE) --no-print-directory install DESTDIR=$(CURDIR)/build/root PREFIX=/usr
	strip --strip-unneeded --remove-section=.comment --remove-section=.note build/root/usr/bin/tlsrpt
	install -m 644 packaging/copyright build/root/usr/share/doc/tlsrpt/copyright
	./scripts/deb-changelog $(DEB_VERSION) | gzip -9n > build/root/usr/share/doc/tlsrpt/changelog.gz
	install -D -m 644 packaging/lintian-overrides build/root/usr/share/lintian/overrides/tlsrpt
	DEB_VERSION=$(DEB_VERSION) DEB_ARCH=$(DEB_ARCH) DEB_LIBC="$$(./scripts/deb-libc $(BIN))" \
		$(GO) tool nfpm package --packager deb --config packaging/nfpm.yaml \
		--target build/tlsrpt_$(DEB_VERSION)_$(DEB_ARCH).deb

test-deps:
	./scripts/test-deps

# Every test, then the packages that run goroutines of their own again
# under the race detector (it found a shared DNS message being packed
# concurrently), then the install test of the Debian package alone: it
# installs /etc/tlsrpt/tlsrpt.conf, which every command reads, for a
# minute, so it runs after the rest (go test ./... skips it).
# TLSRPT_TEST_REQUIRE_ALL=1 turns each skip for a missing tool, root or
# PostgreSQL (internal/testenv) into a failure.
test: test-deps vet
	TLSRPT_TEST_REQUIRE_ALL=1 $(GO) test -count=1 -timeout 20m ./...
	TLSRPT_TEST_REQUIRE_ALL=1 $(GO) test -count=1 -race -timeout 10m ./allowlist ./serve ./assess ./spool ./redeem ./store
	TLSRPT_TEST_REQUIRE_ALL=1 TLSRPT_INSTALL_TEST=1 $(GO) test -count=1 -timeout 5m -run TestDebInstall ./packaging

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

# Start-up side by side: a Go hello-world, tlsrpt --version, and the filter
# storing one new small report against the seed script, alternating.
bench-startup:
	./bench/startup.sh

fuzz:
	$(GO) test -run '^$$' -fuzz FuzzFilter -fuzztime 60s ./filter

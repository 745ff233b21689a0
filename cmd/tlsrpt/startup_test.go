package main

import (
	"bufio"
	"bytes"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"
)

// initBudget is the most a package of this module may allocate, in
// bytes, while it initialises: what only some commands need (regexps,
// templates, tables, registries) is made on first use, so that
// tlsrpt --version and the filter do not pay for it. Allocation counts do
// not drift with the machine's load as times do.
const initBudget = 4096

// lazyPackages are the packages whose initialisers were made lazy, each
// with what it used to build at init; they must stay within initBudget.
var lazyPackages = map[string]string{
	"github.com/tlsrpt/tlsrpt/web":                    "the host-name regexp (88 KB)",
	"github.com/tlsrpt/tlsrpt/store":                  "the location and redaction regexps (40 KB)",
	"github.com/tlsrpt/tlsrpt/internal/cmd/dashboard": "the password regexp (10 KB)",
	"github.com/tlsrpt/tlsrpt/internal/cmd/cmdutil":   "the duration regexp (6 KB)",
}

// TestInitAllocations runs tlsrpt --version with GODEBUG=inittrace=1 and
// fails when a package of this module allocates more than initBudget
// bytes at init: a regexp, template or table built at package level
// again. The packages of lazyPackages are named in the failure.
func TestInitAllocations(t *testing.T) {
	cmd := exec.Command(tlsrptBinary(t), "--version")
	cmd.Env = append(os.Environ(), "GODEBUG=inittrace=1")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("tlsrpt --version: %v\n%s", err, stderr.String())
	}
	inits := parseInitTrace(t, stderr.String())
	if _, ok := inits["runtime"]; !ok {
		t.Fatalf("no init trace for package runtime in:\n%s", stderr.String())
	}
	for pkg, bytes := range inits {
		if !strings.HasPrefix(pkg, "github.com/tlsrpt/tlsrpt/") || bytes <= initBudget {
			continue
		}
		what := lazyPackages[pkg]
		if what == "" {
			what = "something only some commands need"
		}
		t.Errorf("package %s allocates %d bytes at init (budget %d): %s is built at init again; build it on first use (sync.OnceValue)", pkg, bytes, initBudget, what)
	}
}

// parseInitTrace reads lines "init PKG @T ms, T ms clock, B bytes, N
// allocs" and returns the bytes of each package.
func parseInitTrace(t *testing.T, trace string) map[string]int {
	t.Helper()
	inits := map[string]int{}
	sc := bufio.NewScanner(strings.NewReader(trace))
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) < 11 || f[0] != "init" || f[8] != "bytes," {
			continue
		}
		n, err := strconv.Atoi(f[7])
		if err != nil {
			t.Fatalf("init trace line %q: %v", sc.Text(), err)
		}
		inits[f[1]] += n
	}
	return inits
}

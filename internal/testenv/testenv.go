// Package testenv says whether a test can run here, in the style of the Go
// tree's internal/testenv: each MustHave helper returns when what the test
// needs (a Debian tool, root, network namespaces, a PostgreSQL server) is
// present, and otherwise skips the test with a line naming what is missing
// and the Debian package that provides it.
//
// A contributor's go test ./... thus passes on a machine with only Go and a
// C compiler, saying what it skipped. With $TLSRPT_TEST_REQUIRE_ALL=1, which
// make test (and so CI) sets, the same line fails the test instead: nothing
// is silently skipped where it matters.
package testenv

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
)

// RequireAllEnv names the variable that turns every skip into a failure
// when set to 1.
const RequireAllEnv = "TLSRPT_TEST_REQUIRE_ALL"

// RequireAll reports whether $TLSRPT_TEST_REQUIRE_ALL is 1.
func RequireAll() bool { return os.Getenv(RequireAllEnv) == "1" }

// Missing skips the test, or fails it under $TLSRPT_TEST_REQUIRE_ALL=1,
// with a line saying what is missing (format and args) and how to get it.
func Missing(t testing.TB, format string, args ...any) {
	t.Helper()
	msg := fmt.Sprintf(format, args...)
	if RequireAll() {
		t.Fatalf("testenv: %s (required: %s=1)", msg, RequireAllEnv)
	}
	t.Skipf("testenv: skipped: %s", msg)
}

// sbin holds the folders searched after $PATH: Debian keeps daemons such
// as dnsmasq there, outside an unprivileged user's $PATH.
var sbin = []string{"/usr/local/sbin", "/usr/sbin", "/sbin"}

// LookExec finds the program name in $PATH, then in the sbin folders.
func LookExec(name string) (string, error) {
	p, err := exec.LookPath(name)
	if err == nil || filepath.IsAbs(name) {
		return p, err
	}
	for _, dir := range sbin {
		if p, serr := exec.LookPath(filepath.Join(dir, name)); serr == nil {
			return p, nil
		}
	}
	return "", err
}

// MustHaveExec returns the path of the program name, or skips the test
// naming it and pkg, the Debian package that installs it.
func MustHaveExec(t testing.TB, name, pkg string) string {
	t.Helper()
	p, err := LookExec(name)
	if err != nil {
		Missing(t, "%s not found in $PATH (install Debian's %s; make test-deps installs every tool the tests use)", name, pkg)
	}
	return p
}

// MustHaveOneOf returns the path of the first of names found, or skips the
// test naming them all and pkg, the Debian package that installs one.
func MustHaveOneOf(t testing.TB, pkg string, names ...string) string {
	t.Helper()
	for _, name := range names {
		if p, err := LookExec(name); err == nil {
			return p
		}
	}
	Missing(t, "none of %s found in $PATH (install Debian's %s; make test-deps installs every tool the tests use)", strings.Join(names, ", "), pkg)
	return ""
}

// MustBeRoot returns when the test runs as root, and otherwise skips it.
func MustBeRoot(t testing.TB) {
	t.Helper()
	if os.Geteuid() != 0 {
		Missing(t, "needs root (run the tests as root, as make test under sudo does)")
	}
}

// MustHaveNetns returns when the test can make a network namespace and
// change iptables rules inside it: root, ip (iproute2), iptables and
// ip6tables (iptables).
func MustHaveNetns(t testing.TB) {
	t.Helper()
	MustBeRoot(t)
	MustHaveExec(t, "ip", "iproute2")
	MustHaveExec(t, "iptables", "iptables")
	MustHaveExec(t, "ip6tables", "iptables")
}

// MustHavePostgres returns the folder holding PostgreSQL's initdb and
// pg_ctl ($TLSRPT_PG_BINDIR, else the newest /usr/lib/postgresql/N/bin),
// or skips the test. As root it also needs the postgres user and runuser,
// since PostgreSQL refuses to run as root.
func MustHavePostgres(t testing.TB) string {
	t.Helper()
	dir, err := PostgresBinDir()
	if err != nil {
		Missing(t, "%v", err)
	}
	if os.Geteuid() == 0 {
		MustHaveExec(t, "runuser", "util-linux")
	}
	return dir
}

// PostgresBinDir finds the folder with initdb and pg_ctl:
// $TLSRPT_PG_BINDIR, else the newest /usr/lib/postgresql/N/bin.
func PostgresBinDir() (string, error) {
	if d := os.Getenv("TLSRPT_PG_BINDIR"); d != "" {
		return d, nil
	}
	dirs, _ := filepath.Glob("/usr/lib/postgresql/*/bin")
	slices.SortFunc(dirs, func(a, b string) int { return pgVersion(b) - pgVersion(a) })
	for _, d := range dirs {
		if _, err := os.Stat(filepath.Join(d, "initdb")); err == nil {
			return d, nil
		}
	}
	return "", errors.New("PostgreSQL server not found in /usr/lib/postgresql/*/bin (install Debian's postgresql package, or set $TLSRPT_PG_BINDIR)")
}

// pgVersion reads N from /usr/lib/postgresql/N/bin.
func pgVersion(dir string) int {
	n, _ := strconv.Atoi(filepath.Base(filepath.Dir(dir)))
	return n
}

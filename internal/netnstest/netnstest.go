// Package netnstest runs a test inside a fresh network namespace of its
// own, so it may change iptables rules and bring up interfaces without
// touching the machine's, and lists iptables rules for its checks.
//
// The test binary re-runs itself: Run, called first in the test, makes a
// namespace with ip netns add and runs the one test there with ip netns
// exec; in that child process Run reports true and the test does its work.
package netnstest

import (
	"crypto/rand"
	"encoding/hex"
	"os"
	"os/exec"
	"strings"
	"testing"

	"github.com/tlsrpt/tlsrpt/internal/testenv"
)

// insideEnv marks the child test process running inside the namespace.
const insideEnv = "TLSRPT_NETNSTEST_INSIDE"

// Inside reports whether this process is the child Run started inside a
// namespace.
func Inside() bool { return os.Getenv(insideEnv) != "" }

// Run re-runs the test named name (the caller's own) inside a fresh network
// namespace and reports whether the caller is that child and should run its
// body. Inside, it brings the loopback interface up. Outside, it runs the
// child with env (NAME=VALUE) added to its environment, logs its output,
// fails the test when the child fails or did not run the test, deletes the
// namespace and reports false. It skips the test (failing it under
// $TLSRPT_TEST_REQUIRE_ALL=1, as testenv does) when not root, when ip,
// iptables or ip6tables is missing or when the kernel refuses a namespace.
func Run(t testing.TB, name string, env ...string) bool {
	t.Helper()
	if Inside() {
		if out, err := exec.Command("ip", "link", "set", "lo", "up").CombinedOutput(); err != nil {
			t.Fatalf("netnstest: ip link set lo up: %v: %s", err, out)
		}
		return true
	}
	testenv.MustHaveNetns(t)
	b := make([]byte, 4)
	rand.Read(b)
	ns := "tlsrpt-test-" + hex.EncodeToString(b)
	if out, err := exec.Command("ip", "netns", "add", ns).CombinedOutput(); err != nil {
		testenv.Missing(t, "the kernel refused a network namespace (ip netns add %s needs CONFIG_NET_NS and CAP_SYS_ADMIN): %v: %s", ns, err, out)
	}
	t.Cleanup(func() {
		if out, err := exec.Command("ip", "netns", "del", ns).CombinedOutput(); err != nil {
			t.Errorf("ip netns del %s: %v: %s", ns, err, out)
		}
	})
	cmd := exec.Command("ip", "netns", "exec", ns, os.Args[0], "-test.run=^"+name+"$", "-test.count=1", "-test.v")
	cmd.Env = append(append(os.Environ(), insideEnv+"="+name), env...)
	out, err := cmd.CombinedOutput()
	t.Logf("in namespace %s:\n%s", ns, out)
	if err != nil {
		t.Fatalf("test in namespace %s failed: %v", ns, err)
	}
	if !strings.Contains(string(out), "--- PASS: "+name) {
		t.Fatalf("test %s did not run in namespace %s", name, ns)
	}
	return false
}

// IPTables runs bin (iptables or ip6tables) with -w and args, for a test's
// setup and checks, and returns its output; it fails the test when the
// command fails.
func IPTables(t testing.TB, bin string, args ...string) string {
	t.Helper()
	out, err := exec.Command(bin, append([]string{"-w"}, args...)...).CombinedOutput()
	if err != nil {
		t.Fatalf("%s %s: %v: %s", bin, strings.Join(args, " "), err, out)
	}
	return string(out)
}

// Rules returns the rules of chain in the filter table, as bin -S lists
// them, without the chain's policy or -N line.
func Rules(t testing.TB, bin, chain string) []string {
	t.Helper()
	var rules []string
	for _, l := range strings.Split(IPTables(t, bin, "-S", chain), "\n") {
		if strings.HasPrefix(l, "-A ") {
			rules = append(rules, l)
		}
	}
	return rules
}

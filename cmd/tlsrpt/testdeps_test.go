package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/tlsrpt/tlsrpt/internal/testenv"
)

// TestTestDepsKeepsPolicyRCD runs scripts/test-deps with a stand-in for
// apt-get (it records its arguments) and an empty PATH, so that every
// package looks missing: the machine's own policy-rc.d must be there
// again afterwards, unchanged, and none must be left where there was none.
// A stand-in sudo that runs its arguments lets any user run it.
func TestTestDepsKeepsPolicyRCD(t *testing.T) {
	script, err := filepath.Abs("../../scripts/test-deps")
	if err != nil {
		t.Fatal(err)
	}
	bash := testenv.MustHaveExec(t, "bash", "bash")
	dir := t.TempDir()
	bin := filepath.Join(dir, "bin")
	os.Mkdir(bin, 0o755)
	calls := filepath.Join(dir, "apt-calls")
	policy := filepath.Join(dir, "policy-rc.d")
	apt := filepath.Join(bin, "fake-apt")
	// The stand-in also records what policy-rc.d said while it ran.
	os.WriteFile(apt, []byte("#!/bin/sh\necho \"$@\" >> "+calls+"\ncat "+policy+" >> "+calls+"\n"), 0o755)
	os.WriteFile(filepath.Join(bin, "sudo"), []byte("#!/bin/sh\nexec \"$@\"\n"), 0o755)
	for _, tool := range []string{"mktemp", "cp", "rm", "tee", "chmod", "sort", "cat", "id", "printf"} {
		os.Symlink(testenv.MustHaveExec(t, tool, "coreutils"), filepath.Join(bin, tool))
	}
	run := func() string {
		os.Remove(calls)
		cmd := exec.Command(bash, script)
		cmd.Env = []string{"PATH=" + bin, "TLSRPT_APT=" + apt, "TLSRPT_POLICY_RC_D=" + policy}
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("test-deps: %v\n%s", err, out)
		}
		b, _ := os.ReadFile(calls)
		return string(b)
	}
	const own = "#!/bin/sh\n# the machine's own\nexit 0\n"
	os.WriteFile(policy, []byte(own), 0o755)
	got := run()
	if !strings.Contains(got, "install -y -qq --no-install-recommends") || !strings.Contains(got, "postgresql") ||
		!strings.Contains(got, "chromium") || !strings.Contains(got, "man-db") || !strings.Contains(got, "exit 101") {
		t.Errorf("apt-get calls and the policy while they ran:\n%s", got)
	}
	if b, err := os.ReadFile(policy); err != nil || string(b) != own {
		t.Errorf("the machine's policy-rc.d after test-deps: %q, %v", b, err)
	}
	os.Remove(policy)
	run()
	if _, err := os.Stat(policy); !os.IsNotExist(err) {
		t.Errorf("test-deps left a policy-rc.d where there was none: %v", err)
	}
}

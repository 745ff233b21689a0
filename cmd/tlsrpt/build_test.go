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
	script := repoPath(t, "scripts/test-deps")
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

// TestMakeBuildVersion builds with make build, as the README says, and
// checks that tlsrpt --version names what git describe names;
// then builds again with no git on $PATH: the build still works and the
// version falls back to the module's.
func TestMakeBuildVersion(t *testing.T) {
	testenv.MustHaveExec(t, "make", "make")
	git := testenv.MustHaveExec(t, "git", "git")
	root := repoPath(t, ".")
	describe, err := exec.Command(git, "-C", root, "describe", "--tags", "--always", "--dirty").Output()
	if err != nil {
		t.Fatalf("git describe: %v", err)
	}
	want := strings.TrimSpace(string(describe))
	dir := t.TempDir()

	bin := filepath.Join(dir, "tlsrpt")
	makeBuild(t, root, bin, os.Getenv("PATH"))
	if got := versionOf(t, bin); got != "tlsrpt "+want {
		t.Errorf("--version of the make build: %q, want %q", got, "tlsrpt "+want)
	}

	// No git: every program of $PATH but git, linked into one folder.
	bin = filepath.Join(dir, "tlsrpt-nogit")
	makeBuild(t, root, bin, pathWithout(t, filepath.Join(dir, "path"), "git"))
	if got := versionOf(t, bin); !strings.HasPrefix(got, "tlsrpt (devel)") || strings.Contains(got, want) {
		t.Errorf("--version of the make build without git: %q, want the module's version", got)
	}
}

// makeBuild runs make build BIN=bin in root with path as $PATH.
func makeBuild(t *testing.T, root, bin, path string) {
	t.Helper()
	cmd := exec.Command("make", "-C", root, "build", "BIN="+bin)
	cmd.Env = append(os.Environ(), "PATH="+path)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("make build (PATH=%s): %v\n%s", path, err, out)
	}
}

// versionOf runs bin --version.
func versionOf(t *testing.T, bin string) string {
	t.Helper()
	out, err := exec.Command(bin, "--version").Output()
	if err != nil {
		t.Fatalf("%s --version: %v", bin, err)
	}
	return strings.TrimSpace(string(out))
}

// pathWithout links every program of $PATH into dir, but the one named
// hide, and returns dir as a $PATH.
func pathWithout(t *testing.T, dir, hide string) string {
	t.Helper()
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	for _, d := range filepath.SplitList(os.Getenv("PATH")) {
		des, _ := os.ReadDir(d)
		for _, de := range des {
			if de.Name() == hide {
				continue
			}
			os.Symlink(filepath.Join(d, de.Name()), filepath.Join(dir, de.Name())) // the first of a name wins
		}
	}
	if _, err := exec.LookPath(filepath.Join(dir, hide)); err == nil {
		t.Fatalf("%s is still in %s", hide, dir)
	}
	return dir
}

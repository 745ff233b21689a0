package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/tlsrpt/tlsrpt/internal/testenv"
)

// TestMakeBuildVersion builds with make build, as the README says, and
// checks that tlsrpt --version names what git describe names;
// then builds again with no git on $PATH: the build still works and the
// version falls back to the module's.
func TestMakeBuildVersion(t *testing.T) {
	testenv.MustHaveExec(t, "make", "make")
	git := testenv.MustHaveExec(t, "git", "git")
	root, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
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

package testenv

import (
	"os"
	"os/exec"
	"strings"
	"testing"
)

// childEnv marks the test binary re-run by TestModes; its value names the
// helper the child calls.
const childEnv = "TLSRPT_TESTENV_CHILD"

// TestChild is the body the child process runs: it asks for something
// absent, so it is skipped, or failed under TLSRPT_TEST_REQUIRE_ALL=1.
func TestChild(t *testing.T) {
	switch os.Getenv(childEnv) {
	case "":
		t.Skip("run by TestModes")
	case "exec":
		MustHaveExec(t, "tlsrpt-no-such-tool", "tlsrpt-no-such-package")
	case "oneof":
		MustHaveOneOf(t, "tlsrpt-no-such-package", "tlsrpt-no-such-a", "tlsrpt-no-such-b")
	}
	t.Log("reached past the helper")
}

// TestModes runs TestChild in a child process in both modes: without the
// variable the test is skipped with a line naming the tool and the
// package, and passes; with TLSRPT_TEST_REQUIRE_ALL=1 the same line fails
// it. Either way the test body after the helper never runs.
func TestModes(t *testing.T) {
	cases := map[string]string{
		"exec":  "tlsrpt-no-such-tool not found in $PATH (install Debian's tlsrpt-no-such-package",
		"oneof": "none of tlsrpt-no-such-a, tlsrpt-no-such-b found in $PATH (install Debian's tlsrpt-no-such-package",
	}
	for helper, want := range cases {
		t.Run(helper, func(t *testing.T) {
			out, err := child(t, helper, "")
			if err != nil {
				t.Fatalf("without %s the child failed: %v\n%s", RequireAllEnv, err, out)
			}
			mustContain(t, out, "--- SKIP: TestChild", "testenv: skipped: "+want)
			out, err = child(t, helper, "1")
			if err == nil {
				t.Fatalf("with %s=1 the child passed:\n%s", RequireAllEnv, out)
			}
			mustContain(t, out, "--- FAIL: TestChild", "testenv: "+want, "(required: "+RequireAllEnv+"=1)")
			if strings.Contains(out, "testenv: skipped") || strings.Contains(out, "reached past the helper") {
				t.Errorf("with %s=1 the child skipped or went on:\n%s", RequireAllEnv, out)
			}
		})
	}
}

// TestRequireAllOnlyOne shows that only the value 1 requires everything:
// another value leaves the skip a skip.
func TestRequireAllOnlyOne(t *testing.T) {
	out, err := child(t, "exec", "yes")
	if err != nil {
		t.Fatalf("with %s=yes the child failed: %v\n%s", RequireAllEnv, err, out)
	}
	mustContain(t, out, "--- SKIP: TestChild")
}

// TestMustHaveExecFinds returns the path of a program that is present.
func TestMustHaveExecFinds(t *testing.T) {
	want, err := exec.LookPath("go")
	if err != nil {
		t.Skip("go not in $PATH")
	}
	if got := MustHaveExec(t, "go", "golang-go"); got != want {
		t.Errorf("MustHaveExec(go) = %q, want %q", got, want)
	}
}

func child(t *testing.T, helper, requireAll string) (string, error) {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^TestChild$", "-test.v", "-test.count=1")
	cmd.Env = append(os.Environ(), childEnv+"="+helper, RequireAllEnv+"="+requireAll)
	out, err := cmd.CombinedOutput()
	return string(out), err
}

func mustContain(t *testing.T, out string, wants ...string) {
	t.Helper()
	for _, w := range wants {
		if !strings.Contains(out, w) {
			t.Errorf("child output lacks %q:\n%s", w, out)
		}
	}
}

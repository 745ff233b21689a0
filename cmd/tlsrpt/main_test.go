package main

import (
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/rogpeppe/go-internal/testscript"

	"github.com/tlsrpt/tlsrpt/internal/cmd/root"
	"github.com/tlsrpt/tlsrpt/internal/testenv"
)

// TestMain lets the test binary run as the tlsrpt command inside scripts.
func TestMain(m *testing.M) {
	testscript.Main(m, map[string]func(){
		"tlsrpt": func() { os.Exit(root.Main(os.Args[1:], os.Stdin, os.Stdout, os.Stderr)) },
	})
}

// TestScripts runs the end-to-end scripts in testdata/script: each runs
// the real command and checks its output and files.
func TestScripts(t *testing.T) {
	testscript.Run(t, testscript.Params{
		Dir: "testdata/script",
		Setup: func(env *testscript.Env) error {
			env.Setenv("CORPUS", repoPath(t, "testdata/corpus"))
			env.Setenv("SAMPLES", repoPath(t, "filter/testdata"))
			env.Setenv("CONTRIB", repoPath(t, "contrib"))
			env.Setenv("XDG_STATE_HOME", filepath.Join(env.WorkDir, "state"))
			env.Setenv("HOME", filepath.Join(env.WorkDir, "home"))
			// No script asks the machine's resolver: port 9 on loopback
			// refuses at once, unless a script starts its own dnsmasq.
			env.Setenv("TLSRPT_RESOLVER", "127.0.0.1:9")
			return nil
		},
		Cmds: map[string]func(ts *testscript.TestScript, neg bool, args []string){
			"freeport":    cmdFreePort,
			"waitport":    cmdWaitPort,
			"storereport": cmdStoreReport,
		},
		Condition: condNeed,
	})
}

// condNeed answers a script's [need:PROG] condition: whether PROG is on
// $PATH (or in an sbin folder), as testenv.MustHaveExec looks; and its
// [root] condition: whether the test runs as root. A script skips with
// "[!need:PROG] skip 'why'" or "[!root] skip 'why'"; under
// TLSRPT_TEST_REQUIRE_ALL=1 a missing PROG, or a user other than root, is
// an error that fails the script instead.
func condNeed(cond string) (bool, error) {
	if cond == "root" {
		if os.Geteuid() != 0 {
			if testenv.RequireAll() {
				return false, fmt.Errorf("testenv: needs root (required: %s=1)", testenv.RequireAllEnv)
			}
			return false, nil
		}
		return true, nil
	}
	prog, ok := strings.CutPrefix(cond, "need:")
	if !ok {
		return false, fmt.Errorf("unknown condition %q", cond)
	}
	if _, err := testenv.LookExec(prog); err != nil {
		if testenv.RequireAll() {
			return false, fmt.Errorf("testenv: %s not found in $PATH (required: %s=1)", prog, testenv.RequireAllEnv)
		}
		return false, nil
	}
	return true, nil
}

// cmdFreePort sets the environment variable named by its argument to a TCP
// port on 127.0.0.1 that is free now.
func cmdFreePort(ts *testscript.TestScript, neg bool, args []string) {
	if len(args) != 1 {
		ts.Fatalf("usage: freeport VAR")
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	ts.Check(err)
	port := l.Addr().(*net.TCPAddr).Port
	l.Close()
	ts.Setenv(args[0], strconv.Itoa(port))
}

// cmdWaitPort waits until something listens on HOST:PORT, polling: a
// process the script started in the background gives no other sign. It
// gives up after testenv.Patience.
func cmdWaitPort(ts *testscript.TestScript, neg bool, args []string) {
	if len(args) != 1 {
		ts.Fatalf("usage: waitport HOST:PORT")
	}
	deadline := time.Now().Add(testenv.Patience)
	for time.Now().Before(deadline) {
		if c, err := net.DialTimeout("tcp", args[0], time.Second); err == nil {
			c.Close()
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
	ts.Fatalf("nothing listens on %s after %v", args[0], testenv.Patience)
}

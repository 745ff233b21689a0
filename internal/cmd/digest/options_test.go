package digest

import (
	"os"
	"strings"
	"testing"
	"time"

	"github.com/tlsrpt/tlsrpt/internal/cmd/cmdtest"
)

// TestFlags: digest's command line into Options.
func TestFlags(t *testing.T) {
	cmdtest.Table(t, NewCmdDigest, nil, []cmdtest.Case[Options]{
		{Args: []string{"--since", "7d", "--always", "--no-record", "--host", "mx1"},
			Want: func(o *Options) { o.Since, o.Always, o.NoRecord, o.Host = "7d", true, true, "mx1" }},
		{Args: []string{"--quiet-after", "5d", "--no-plan", "--no-probe"},
			Want: func(o *Options) { o.QuietAfter, o.NoPlan, o.NoProbe = 5*24*time.Hour, true, true }},
		{Args: []string{"--ca-file", "ca.pem", "--probe-timeout", "3s"}, Want: func(o *Options) { o.CAFile, o.Timeout = "ca.pem", 3*time.Second }},
		{Args: []string{"--domain", "example.org", "--domain", "example.net"}, Want: func(o *Options) { o.Domains = []string{"example.org", "example.net"} }},
		{Args: []string{"--quiet-after", "3m"}, Refused: []string{"--quiet-after"}},
		{Args: []string{"today"}, Refused: []string{`unexpected argument "today"`}},
	})
}

// TestRunOutput: options to output. Bad values only the run can judge
// are refused naming the flag; without a database nothing is notable
// and none is created; --always says so; a stored failure is notable.
func TestRunOutput(t *testing.T) {
	e := cmdtest.New(t)
	run := func(args ...string) (string, error) {
		t.Helper()
		e.Out.Reset()
		err := cmdtest.Run(t, e, NewCmdDigest, Run, append([]string{"--host", "mx1", "--no-plan", "--no-probe"}, args...)...)
		return e.Out.String(), err
	}
	_, err := run("--since", "7m")
	cmdtest.Refused(t, err, `--since "7m"`)
	e.Seed(t)
	cmdtest.Refused(t, cmdtest.Run(t, e, NewCmdDigest, Run, "--host", "mx1", "--no-plan", "--probe-timeout", "0s"), "--probe-timeout 0s: want a positive duration")
	os.Remove(e.DB)
	if out, err := run(); err != nil || out != "" {
		t.Errorf("no database: %v, %q; want nothing", err, out)
	}
	if _, err := os.Stat(e.DB); err == nil {
		t.Error("digest created the database")
	}
	if out, err := run("--always"); err != nil || !strings.Contains(out, "no reports recorded yet") {
		t.Errorf("no database, --always: %v, %q", err, out)
	}
	e.Seed(t)
	if out, err := run("--no-record"); err != nil || !strings.Contains(out, "198.51.100.7") {
		t.Errorf("a new failing address: %v, %q", err, out)
	}
}

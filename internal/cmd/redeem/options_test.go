package redeem

import (
	"context"
	"strings"
	"testing"

	"github.com/tlsrpt/tlsrpt/internal/cmd/cmdtest"
	"github.com/tlsrpt/tlsrpt/store"
)

// TestFlags: redeem's command line into Options.
func TestFlags(t *testing.T) {
	cmdtest.Table(t, NewCmdRedeem, nil, []cmdtest.Case[Options]{
		{Args: []string{"--apply", "--ip", "192.0.2.1", "--ip", "2001:db8::1", "--since", "7d", "--host", "mx1"},
			Want: func(o *Options) {
				o.Apply, o.IPs, o.Since, o.Host = true, []string{"192.0.2.1", "2001:db8::1"}, "7d", "mx1"
			}},
		{Args: []string{"--log"}, Want: func(o *Options) { o.ShowLog = true }},
		{Args: []string{"--confirm-reports", "3", "--quiet-after", "3d"}, Want: func(o *Options) { o.ConfirmReports, o.QuietAfter = 3, "3d" }},
		{Args: []string{"192.0.2.1"}, Refused: []string{`unexpected argument "192.0.2.1"`, "--ip"}},
		{Args: []string{"--apply=maybe"}, Refused: []string{"--apply", "tlsrpt redeem --help"}},
	})
}

// TestLogDeprecated: the old --log still prints the log, hidden from the
// help, and says on standard error (never the standard output, which the
// log owns) that redeem log replaces it.
func TestLogDeprecated(t *testing.T) {
	e := cmdtest.New(t)
	o, err := cmdtest.Parse(e.F, NewCmdRedeem, "--log")
	if err != nil || !o.ShowLog {
		t.Fatalf("--log: %v, %+v", err, o)
	}
	if got := e.Err.String(); !strings.HasPrefix(got, "tlsrpt: redeem: --log ") || !strings.Contains(got, "run tlsrpt redeem log") || strings.Count(got, "\n") != 1 {
		t.Errorf("standard error %q: want one line naming --log and tlsrpt redeem log", got)
	}
	if e.Out.Len() != 0 {
		t.Errorf("standard output %q: want nothing", e.Out)
	}
	if fl := NewCmdRedeem(e.F, nil).Flags().Lookup("log"); !fl.Hidden || fl.Deprecated == "" {
		t.Errorf("--log: hidden %v, deprecated %q", fl.Hidden, fl.Deprecated)
	}
	e.Err.Reset()
	if _, err := cmdtest.Parse(e.F, newCmdLog); err != nil || e.Err.Len() != 0 {
		t.Errorf("redeem log: %v, standard error %q", err, e.Err)
	}
}

// TestLogFlags: redeem log's command line into Options: the log, with
// the outcome flags.
func TestLogFlags(t *testing.T) {
	cmdtest.Table(t, newCmdLog, nil, []cmdtest.Case[Options]{
		{Args: nil, Want: func(o *Options) { o.ShowLog = true }},
		{Args: []string{"--quiet-after", "3d"}, Want: func(o *Options) { o.ShowLog, o.QuietAfter = true, "3d" }},
		{Args: []string{"--apply"}, Refused: []string{"unknown flag: --apply"}},
		{Args: []string{"old"}, Refused: []string{`unexpected argument "old"`}},
	})
}

// TestRunRefuses: values only the run can judge are refused with one
// line naming the flag, before any backend is asked or anything changed.
func TestRunRefuses(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--ip", "192.0.2.300"}, `--ip "192.0.2.300"`},
		{[]string{"--ip", "fe80::1%eth0"}, `--ip "fe80::1%eth0"`},
		{[]string{"--since", "7m"}, `--since "7m"`},
		{[]string{"--fail2ban-reload", "--fail2ban-socket", "/run/f2b.sock"}, "--fail2ban-reload with --fail2ban-socket needs --fail2ban-config"},
	} {
		cmdtest.Refused(t, cmdtest.Run(t, cmdtest.New(t), NewCmdRedeem, Run, append(tc.args, "--host", "mx1")...), tc.want)
	}
}

// TestLogOutput: options to output. redeem log says an empty or missing
// log is empty, and prints a planned step with its host.
func TestLogOutput(t *testing.T) {
	e := cmdtest.New(t)
	run := func() string {
		t.Helper()
		e.Out.Reset()
		if err := cmdtest.Run(t, e, newCmdLog, printLog); err != nil {
			t.Fatal(err)
		}
		return e.Out.String()
	}
	if got := run(); got != "the audit log is empty\n" {
		t.Errorf("no database: %q", got)
	}
	e.Seed(t)
	e.Fill(t, func(st *store.Store) {
		if _, err := st.LogAction(context.Background(), store.Action{Time: cmdtest.Now, IP: cmdtest.FailingIP, Host: "mx1.example.net",
			Backend: "fail2ban", Kind: "unban", Target: "postfix", Command: "fail2ban-client set postfix unbanip 198.51.100.7"}); err != nil {
			t.Fatal(err)
		}
	})
	got := run()
	for _, want := range []string{"2024-02-10T12:00:00Z planned", "mx1.example.net", "fail2ban", "unban", "198.51.100.7", "unbanip"} {
		if !strings.Contains(got, want) {
			t.Errorf("log %q lacks %q", got, want)
		}
	}
}

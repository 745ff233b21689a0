package diagnose

import (
	"testing"
	"time"

	"github.com/tlsrpt/tlsrpt/internal/cmd/cmdtest"
)

// TestFlags: diagnose's command line into Options.
func TestFlags(t *testing.T) {
	cmdtest.Table(t, NewCmdDiagnose, nil, []cmdtest.Case[Options]{
		{Args: []string{"example.org", "example.net", "--all", "--json"},
			Want: func(o *Options) { o.Domains, o.All, o.JSON = []string{"example.org", "example.net"}, true, true }},
		{Args: []string{"--domain", "example.org", "--domain", "example.net", "--since", "30d"},
			Want: func(o *Options) { o.Ours, o.Since = []string{"example.org", "example.net"}, "30d" }},
		{Args: []string{"--ca-file", "ca.pem", "--expiry-warning", "3w", "--timeout", "5s"},
			Want: func(o *Options) { o.CAFile, o.ExpiryWarning, o.Timeout = "ca.pem", "3w", 5*time.Second }},
		{Args: []string{"--timeout", "5"}, Refused: []string{"--timeout", "tlsrpt diagnose --help"}},
	})
}

// TestRunRefuses: values only the run can judge are refused with one
// line naming the flag, before anything is probed.
func TestRunRefuses(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--expiry-warning", "soon"}, `--expiry-warning "soon": want a duration`},
		{[]string{"--timeout", "0s"}, "--timeout 0s: want a positive duration"},
		{[]string{"--timeout", "-1s"}, "--timeout -1s: want a positive duration"},
	} {
		cmdtest.Refused(t, cmdtest.Run(t, cmdtest.New(t), NewCmdDiagnose, Run, append(tc.args, "example.org")...), tc.want)
	}
}

package review

import (
	"strings"
	"testing"

	"github.com/tlsrpt/tlsrpt/internal/cmd/cmdtest"
)

// TestFlags: review's command line into Options.
func TestFlags(t *testing.T) {
	cmdtest.Table(t, NewCmdReview, nil, []cmdtest.Case[Options]{
		{Args: []string{"--json", "--since", "7d", "--no-bans"}, Want: func(o *Options) { o.JSON, o.Since, o.NoBans = true, "7d", true }},
		{Args: []string{"--outcome", "confirmed", "--confirm-reports", "3", "--quiet-after", "2w"},
			Want: func(o *Options) { o.Outcome, o.ConfirmReports, o.QuietAfter = "confirmed", 3, "2w" }},
		{Args: []string{"--confirm-reports", "two"}, Refused: []string{"--confirm-reports", "tlsrpt review --help"}},
		{Args: []string{"all"}, Refused: []string{`unexpected argument "all"`}},
	})
}

// TestRunRefuses: values only the run can judge are refused with one
// line naming the flag, before the database is opened.
func TestRunRefuses(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--since", "yesterday"}, `--since "yesterday": want a date`},
		{[]string{"--since", "7m"}, `--since "7m"`},
		{[]string{"--outcome", "fixed"}, `--outcome "fixed": not an outcome`},
		{[]string{"--confirm-reports", "0"}, "--confirm-reports 0: want 1 or more"},
		{[]string{"--quiet-after", "soon"}, `--quiet-after "soon"`},
	} {
		cmdtest.Refused(t, cmdtest.Run(t, cmdtest.New(t), NewCmdReview, Run, append(tc.args, "--no-bans")...), tc.want)
	}
}

// TestRunOutput: options to output. The failing address of the store is
// listed in the table and in the JSON, and --outcome keeps only redeemed
// addresses.
func TestRunOutput(t *testing.T) {
	e := cmdtest.New(t)
	e.Seed(t)
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--no-bans"}, "198.51.100.7"},
		{[]string{"--no-bans", "--json"}, `"ip": "198.51.100.7"`},
		{[]string{"--no-bans", "--json", "--outcome", "awaiting"}, "[]\n"},
	} {
		e.Out.Reset()
		if err := cmdtest.Run(t, e, NewCmdReview, Run, tc.args...); err != nil || !strings.Contains(e.Out.String(), tc.want) {
			t.Errorf("review %v: %v\n%s\nlacks %q", tc.args, err, e.Out.String(), tc.want)
		}
	}
}

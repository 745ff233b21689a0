package prune

import (
	"strings"
	"testing"
	"time"

	"github.com/tlsrpt/tlsrpt/internal/cmd/cmdtest"
)

// TestFlags: prune's command line into Options; --older-than is required.
func TestFlags(t *testing.T) {
	day := 24 * time.Hour
	cmdtest.Table(t, NewCmdPrune, []string{"--older-than", "400d"}, []cmdtest.Case[Options]{
		{Args: nil, Want: func(o *Options) { o.OlderThan = 400 * day }},
		{Args: []string{"--older-than", "52w", "--apply", "--vacuum"}, Want: func(o *Options) { o.OlderThan, o.Apply, o.Vacuum = 364*day, true, true }},
		{Args: []string{"--older-than", "36h", "--apply", "--force"}, Want: func(o *Options) { o.OlderThan, o.Apply, o.Force = 36*time.Hour, true, true }},
		{Args: []string{"--older-than", "6m"}, Refused: []string{"--older-than", "min"}},
		{Args: []string{"--older-than", "-1d"}, Refused: []string{"--older-than"}},
		{Args: []string{"old"}, Refused: []string{`unexpected argument "old"`}},
	})
	_, err := cmdtest.Parse(cmdtest.New(t).F, NewCmdPrune, "--apply")
	cmdtest.Refused(t, err, "--older-than is required, e.g. --older-than 400d")
}

// TestRunOutput: options to output. Under a day with --apply is refused
// without --force; the plan counts the report ended before the cutoff
// and removes nothing; --apply removes it.
func TestRunOutput(t *testing.T) {
	e := cmdtest.New(t)
	e.Seed(t)
	run := func(args ...string) (string, error) {
		t.Helper()
		e.Out.Reset()
		err := cmdtest.Run(t, e, NewCmdPrune, Run, args...)
		return e.Out.String(), err
	}
	_, err := run("--older-than", "2h", "--apply")
	cmdtest.Refused(t, err, "--older-than 2h with --apply", "--force")
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--older-than", "1h"}, "would remove 1 report ended before 2024-02-10 (1 policy, 1 failure detail)"},
		{[]string{"--older-than", "2d"}, "would remove 0 reports"},
		{[]string{"--older-than", "1h", "--apply", "--force"}, "removed 1 report ended before 2024-02-10"},
		{[]string{"--older-than", "1h"}, "would remove 0 reports"},
	} {
		if out, err := run(tc.args...); err != nil || !strings.Contains(out, tc.want) {
			t.Errorf("prune %v: %v, %q; want %q", tc.args, err, out, tc.want)
		}
	}
}

package stats

import (
	"strings"
	"testing"

	"github.com/tlsrpt/tlsrpt/internal/cmd/cmdtest"
)

// TestFlags: stats' command line into Options, and the refusals.
func TestFlags(t *testing.T) {
	cmdtest.Table(t, NewCmdStats, nil, []cmdtest.Case[Options]{
		{Args: []string{"--since", "30d", "--by", "week", "--group", "reporter", "--json"},
			Want: func(o *Options) { o.Since, o.By, o.Group, o.JSON = "30d", "week", "reporter", true }},
		{Args: []string{"--by", "month", "--group", "result-type", "--csv"}, Want: func(o *Options) { o.By, o.Group, o.CSV = "month", "result-type", true }},
		{Args: []string{"--group", "mx"}, Want: func(o *Options) { o.Group = "mx" }},
		{Args: []string{"--by", "year"}, Refused: []string{`--by "year": want day, week or month`}},
		{Args: []string{"--group", "ip"}, Refused: []string{`--group "ip": want reporter, domain, mx or result-type`}},
		{Args: []string{"--json", "--csv"}, Refused: []string{"give --json or --csv, not both"}},
		{Args: []string{"week"}, Refused: []string{`unexpected argument "week"`}},
	})
}

// TestRunOutput: options to output. A bad --since is refused naming it;
// the stored sessions are added up per day, per domain in CSV.
func TestRunOutput(t *testing.T) {
	e := cmdtest.New(t)
	cmdtest.Refused(t, cmdtest.Run(t, e, NewCmdStats, Run, "--since", "ages"), `--since "ages"`)
	e.Seed(t)
	if err := cmdtest.Run(t, e, NewCmdStats, Run, "--group", "domain", "--csv"); err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(e.Out.String()), "\n")
	if len(lines) != 2 || !strings.Contains(lines[1], "2024-02-09") || !strings.Contains(lines[1], "example.net") || !strings.Contains(lines[1], ",90,3,") {
		t.Errorf("CSV:\n%s", e.Out.String())
	}
}

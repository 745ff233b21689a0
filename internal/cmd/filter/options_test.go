package filter

import (
	"bytes"
	"context"
	"os"
	"strings"
	"testing"

	"github.com/tlsrpt/tlsrpt/internal/cmd/cmdtest"
	"github.com/tlsrpt/tlsrpt/internal/cmd/cmdutil"
)

// TestFlags: filter's command line into Options.
func TestFlags(t *testing.T) {
	cmdtest.Table(t, NewCmdFilter, nil, []cmdtest.Case[Options]{
		{Args: []string{"msg.eml"}, Want: func(o *Options) { o.File = "msg.eml" }},
		{Args: []string{"--max-message", "1000", "--max-decompressed", "2000", "--max-details", "3", "--max-policies", "4"},
			Want: func(o *Options) { o.MaxMessage, o.MaxDecompressed, o.MaxDetails, o.MaxPolicies = 1000, 2000, 3, 4 }},
		{Args: []string{"--spool", "/var/spool/x", "--spool-max", "-1", "--spool-drain", "5"},
			Want: func(o *Options) { o.Spool, o.SpoolMax, o.SpoolDrain = "/var/spool/x", -1, 5 }},
	})
}

// TestRefusalsPassThrough: a bad command line never loses the message:
// the filter delivers it whole, marked with the one-line problem, and
// exits 0, whether the flag parser, the arguments or the limits refuse.
// Two FILE arguments once delivered the message and then ran the filter
// on the emptied stdin, appending a second header to the delivery.
func TestRefusalsPassThrough(t *testing.T) {
	msg, err := os.ReadFile("../../../filter/testdata/mt-tlsrpt-gzip.eml")
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--no-such-flag"}, "unknown flag: --no-such-flag"},
		{[]string{"--max-details", "many"}, "--max-details"},
		{[]string{"a.eml", "b.eml"}, "2 arguments, want at most one FILE"},
		{[]string{"--max-details", "0"}, "--max-details 0 must be above 0; leave it out for the default"},
		{[]string{"--max-policies", "-2"}, "--max-policies -2 must be above 0"},
		{[]string{"--max-decompressed", "0"}, "--max-decompressed 0 must be above 0"},
		{[]string{"--max-dmarc-records", "0"}, "--max-dmarc-records 0 must be above 0; leave it out for the default"},
	} {
		t.Run(strings.Join(tc.args, " "), func(t *testing.T) {
			e := cmdtest.New(t)
			e.F.IO.In = bytes.NewReader(msg)
			cmd := NewCmdFilter(e.F, func(o *Options) error { return Run(context.Background(), o) })
			if err := cmdtest.Execute(cmd, tc.args...); cmdutil.ExitCode(err) != 0 {
				t.Fatalf("exit %d (%v), want 0", cmdutil.ExitCode(err), err)
			}
			head, body, _ := strings.Cut(e.Out.String(), "\n")
			if !strings.HasPrefix(head, "TLS-Report-Has-Failures: tlsrpt filter misconfigured") || !strings.Contains(head, tc.want) {
				t.Errorf("header %q does not say %q", head, tc.want)
			}
			if body != string(msg) {
				t.Error("the message did not come through whole")
			}
			if _, err := os.Stat(e.DB); err == nil {
				t.Error("a refused filter created the database")
			}
		})
	}
}

package digest

import (
	"strings"
	"testing"
	"time"

	"github.com/tlsrpt/tlsrpt/internal/cmd/cmdtest"
	"github.com/tlsrpt/tlsrpt/internal/dmarctest"
)

// TestRunDMARC: the command names a new source failing DMARC in a signed
// report once: the next run, with the same reports in its window, is
// silent about it, as the first run recorded what it named; --domain
// chooses our domains, and a value that is no domain is refused.
func TestRunDMARC(t *testing.T) {
	e := cmdtest.New(t)
	day := cmdtest.Now.Truncate(24*time.Hour).AddDate(0, 0, -1)
	e.AddDMARC(t, cmdtest.Now.Add(-time.Hour), dmarctest.Report("google.com", "1", "example.net", day,
		dmarctest.Rec{IP: "203.0.113.5", N: 40}, dmarctest.Rec{IP: "203.0.113.6", N: 2, From: "example.org"}), dmarctest.Signed("google.com"))
	run := func(args ...string) string {
		t.Helper()
		e.Out.Reset()
		if err := cmdtest.Run(t, e, NewCmdDigest, Run, append([]string{"--host", "mx1", "--no-plan", "--no-probe"}, args...)...); err != nil {
			t.Fatal(err)
		}
		return e.Out.String()
	}
	if out := run("--no-record", "--domain", "example.org"); !strings.Contains(out, "203.0.113.6 sending as example.org: 2 messages") || strings.Contains(out, "203.0.113.5") {
		t.Errorf("--domain example.org:\n%s", out)
	}
	if out := run(); !strings.Contains(out, "203.0.113.5 sending as example.net: 40 messages, dkim=fail spf=fail, disposition reject, reported by google.com") {
		t.Errorf("first digest:\n%s", out)
	}
	if out := run("--always"); strings.Contains(out, "203.0.113.5") {
		t.Errorf("the next digest names the source again:\n%s", out)
	}
	cmdtest.Refused(t, cmdtest.Run(t, e, NewCmdDigest, Run, "--no-plan", "--no-probe", "--domain", "exa mple.org"), `--domain "exa mple.org" is not a domain name`)
}

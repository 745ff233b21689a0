package serve

import (
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/tlsrpt/tlsrpt/internal/cmd/cmdtest"
	"github.com/tlsrpt/tlsrpt/internal/dmarctest"
)

// TestMetricsDMARC: serve's --metrics-listen shows the DMARC messages of
// the reports stored in the last day per reporter, a signed reporter by
// name and an unsigned report claiming the same name under
// "unauthenticated" only.
func TestMetricsDMARC(t *testing.T) {
	e := cmdtest.New(t)
	day := time.Now().UTC().Truncate(24*time.Hour).AddDate(0, 0, -1)
	e.AddDMARC(t, time.Now(), dmarctest.Report("google.com", "1", "example.net", day,
		dmarctest.Rec{IP: "192.0.2.1", N: 90, Pass: true}, dmarctest.Rec{IP: "192.0.2.2", N: 7}), dmarctest.Signed("google.com"))
	e.AddDMARC(t, time.Now(), dmarctest.Report("google.com", "2", "example.net", day,
		dmarctest.Rec{IP: "198.51.100.66", N: 5000}), dmarctest.Unsigned("google.com"))
	o, err := cmdtest.Parse(e.F, NewCmdServe, "--listen", "127.0.0.1:0", "--metrics-listen", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	_, metricsAt, stop := start(t, o)
	b := scrape(t, metricsAt)
	stop()
	for _, re := range []string{`(?m)^tlsrpt_dmarc_messages\{policy_domain="example.net",reporter="google.com",result="pass"\} 90$`,
		`(?m)^tlsrpt_dmarc_messages\{policy_domain="example.net",reporter="google.com",result="fail"\} 7$`,
		`(?m)^tlsrpt_dmarc_messages\{policy_domain="other",reporter="unauthenticated",result="fail"\} 5000$`} {
		if !regexp.MustCompile(re).Match(b) {
			t.Errorf("serve's metrics lack %s", re)
		}
	}
	if n := strings.Count(string(b), "tlsrpt_dmarc_messages{"); n != 4 {
		t.Errorf("%d DMARC series, want 4:\n%s", n, b)
	}
}

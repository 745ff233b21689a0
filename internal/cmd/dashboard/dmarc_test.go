package dashboard

import (
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/tlsrpt/tlsrpt/internal/cmd/cmdtest"
	"github.com/tlsrpt/tlsrpt/internal/dmarctest"
)

// outlookFile is a real DMARC aggregate report of the shared corpus:
// Outlook.com's of March 30, 2024 for example.com, one message from
// 100.24.188.149 failing DMARC (dkim and spf fail, disposition none).
const outlookFile = "../../../dmarc/testdata/corpus/protection.outlook.com!example.com!1711756800!1711843200.xml"

// TestDMARCThroughTheCommand: the dashboard command, over a store that
// holds Outlook.com's real report (signed by outlook.com) and an unsigned
// one claiming its name, shows the section of outlook.com with its
// failing source, the forgery apart and marked; --days applies to the
// section; its /metrics shows the DMARC messages of outlook.com, and the
// forgery under "unauthenticated" only.
func TestDMARCThroughTheCommand(t *testing.T) {
	e := cmdtest.New(t)
	r := dmarctest.ParseFile(t, outlookFile)
	e.AddDMARC(t, time.Now(), r, dmarctest.Signed("outlook.com"))
	forged := dmarctest.Report("Outlook.com", "forged", "example.com", r.Metadata.Begin, dmarctest.Rec{IP: "198.51.100.66", N: 5000})
	e.AddDMARC(t, time.Now(), forged, dmarctest.Unsigned("outlook.com"))

	day := time.Date(2024, 4, 1, 12, 0, 0, 0, time.UTC)
	o := parse(t, e.DB, "--listen", "127.0.0.1:0", "--days", "7")
	o.F.Now = func() time.Time { return day }
	addr := start(t, o)
	code, body := cmdtest.Get(t, "http://"+addr+"/", "")
	if code != 200 {
		t.Fatalf("GET /: %d %s", code, body)
	}
	for _, want := range []string{"<figcaption>outlook.com</figcaption>", "<figcaption>Outlook.com (unauthenticated)</figcaption>",
		`<td class="ip">100.24.188.149</td><td>example.com</td><td>1</td><td>none</td><td>dkim=fail spf=fail</td>`, `<td class="ip">198.51.100.66</td>`} {
		if !strings.Contains(body, want) {
			t.Errorf("the page lacks %q", want)
		}
	}
	i, j := strings.Index(body, "<figcaption>outlook.com</figcaption>"), strings.Index(body, "198.51.100.66")
	if i < 0 || j < i || !strings.Contains(body[i:j], "Outlook.com (unauthenticated)") {
		t.Error("198.51.100.66 is listed under outlook.com")
	}
	code, metrics := cmdtest.Get(t, "http://"+addr+"/metrics", "")
	for _, re := range []string{`(?m)^tlsrpt_dmarc_messages\{policy_domain="example.com",reporter="outlook.com",result="fail"\} 1$`,
		`(?m)^tlsrpt_dmarc_messages\{policy_domain="other",reporter="unauthenticated",result="fail"\} 5000$`} {
		if code != 200 || !regexp.MustCompile(re).MatchString(metrics) {
			t.Errorf("/metrics: %d, lacks %s", code, re)
		}
	}
	if strings.Contains(metrics, `reporter="outlook.com (unauthenticated)"`) || strings.Contains(metrics, `reporter="Outlook.com"`) {
		t.Error("/metrics names the forged reporter")
	}

	o = parse(t, e.DB, "--listen", "127.0.0.1:0", "--days", "1")
	o.F.Now = func() time.Time { return day }
	if _, body = cmdtest.Get(t, "http://"+start(t, o)+"/", ""); strings.Contains(body, "100.24.188.149") || !strings.Contains(body, "No TLS or DMARC report in this span") {
		t.Error("--days 1: the section shows a report of three days before")
	}
}

package dmarc

import (
	"bytes"
	"fmt"
	"io"
	"strings"
)

// The helpers here generate reports for the tests and the benchmark.

const head = `<?xml version="1.0" encoding="UTF-8"?>
<feedback>
  <version>1.0</version>
  <report_metadata>
    <org_name>reporter.example</org_name>
    <email>dmarc@reporter.example</email>
    <report_id>gen-1</report_id>
    <date_range><begin>1764460800</begin><end>1764547199</end></date_range>
  </report_metadata>
  <policy_published>
    <domain>example.net</domain><adkim>r</adkim><aspf>r</aspf><p>reject</p><sp>reject</sp><pct>100</pct>
  </policy_published>
`

const tail = "</feedback>\n"

// record is the XML of a realistic record: about 500 bytes, one DKIM and
// one SPF result; i varies the source and the outcome.
func record(i int) string {
	dkim, spf := "pass", "pass"
	if i%7 == 0 {
		dkim, spf = "fail", "fail"
	}
	return fmt.Sprintf(`  <record>
    <row>
      <source_ip>198.51.%d.%d</source_ip>
      <count>%d</count>
      <policy_evaluated><disposition>none</disposition><dkim>%s</dkim><spf>%s</spf></policy_evaluated>
    </row>
    <identifiers><envelope_to>reporter.example</envelope_to><envelope_from>example.net</envelope_from><header_from>example.net</header_from></identifiers>
    <auth_results>
      <dkim><domain>example.net</domain><selector>s2026</selector><result>%s</result></dkim>
      <spf><domain>example.net</domain><scope>mfrom</scope><result>%s</result></spf>
    </auth_results>
  </record>
`, i/256%256, i%256, i%50+1, dkim, spf, dkim, spf)
}

// reportXML is a report of n generated records.
func reportXML(n int) []byte {
	var b strings.Builder
	b.WriteString(head)
	for i := range n {
		b.WriteString(record(i))
	}
	b.WriteString(tail)
	return []byte(b.String())
}

// withBody is a report whose records are body.
func withBody(body string) string { return head + body + tail }

// genReader produces head, then rec repeated until size bytes, then
// tail, without ever holding more than one record: a report too large to
// keep in a test's memory.
type genReader struct {
	rec  []byte
	size int64
	sent int64
	buf  bytes.Buffer
	done bool
}

func newGenReader(rec string, size int64) *genReader {
	g := &genReader{rec: []byte(rec), size: size}
	g.buf.WriteString(head)
	return g
}

func (g *genReader) Read(p []byte) (int, error) {
	for g.buf.Len() < len(p) && !g.done {
		if g.sent+int64(g.buf.Len()) >= g.size {
			g.buf.WriteString(tail)
			g.done = true
			break
		}
		g.buf.Write(g.rec)
	}
	n, _ := g.buf.Read(p)
	g.sent += int64(n)
	if n == 0 && g.done {
		return 0, io.EOF
	}
	return n, nil
}

package reporttest

import (
	"bytes"
	"compress/gzip"
	"fmt"
	"strings"
)

// DMARC returns a DMARC aggregate report with report_id id and n records
// of about 500 bytes each (DMARCRecord), as a large reporter writes them:
// 2,000 records make about 1 MB.
func DMARC(id string, n int) []byte {
	var b strings.Builder
	b.WriteString(DMARCHead(id))
	for i := range n {
		b.WriteString(DMARCRecord(i))
	}
	b.WriteString(DMARCTail)
	return []byte(b.String())
}

// DMARCHead is a DMARC aggregate report with report_id id up to its
// first record: the metadata of reporter.example and the policy of
// example.net.
func DMARCHead(id string) string {
	return `<?xml version="1.0" encoding="UTF-8"?>
<feedback>
  <version>1.0</version>
  <report_metadata>
    <org_name>reporter.example</org_name>
    <email>dmarc@reporter.example</email>
    <report_id>` + id + `</report_id>
    <date_range><begin>1764460800</begin><end>1764547199</end></date_range>
  </report_metadata>
  <policy_published>
    <domain>example.net</domain><adkim>r</adkim><aspf>r</aspf><p>reject</p><sp>reject</sp><pct>100</pct>
  </policy_published>
`
}

// DMARCTail ends what DMARCHead begins.
const DMARCTail = "</feedback>\n"

// DMARCRecord is the XML of a realistic record: about 500 bytes, one DKIM
// and one SPF result; i varies the source and the outcome (one in seven
// fails DMARC and is rejected).
func DMARCRecord(i int) string {
	dkim, spf, disp := "pass", "pass", "none"
	if i%7 == 0 {
		dkim, spf, disp = "fail", "fail", "reject"
	}
	return fmt.Sprintf(`  <record>
    <row>
      <source_ip>198.51.%d.%d</source_ip>
      <count>%d</count>
      <policy_evaluated><disposition>%s</disposition><dkim>%s</dkim><spf>%s</spf></policy_evaluated>
    </row>
    <identifiers><envelope_to>reporter.example</envelope_to><envelope_from>example.net</envelope_from><header_from>example.net</header_from></identifiers>
    <auth_results>
      <dkim><domain>example.net</domain><selector>s2026</selector><result>%s</result></dkim>
      <spf><domain>example.net</domain><scope>mfrom</scope><result>%s</result></spf>
    </auth_results>
  </record>
`, i/256%256, i%256, i%50+1, disp, dkim, spf, dkim, spf)
}

// DMARCMail returns the mail a reporter sends for the report xml: a text
// part and the report gzip-compressed, in base64, as Google does.
func DMARCMail(id string, xml []byte) []byte {
	var gz bytes.Buffer
	zw := gzip.NewWriter(&gz)
	zw.Write(xml) // writes to a bytes.Buffer do not fail
	zw.Close()
	return dmarcMail(id, gz.Bytes(), "application/gzip", ".xml.gz")
}

// DMARCMailPlain is DMARCMail with the XML attached uncompressed.
func DMARCMailPlain(id string, xml []byte) []byte {
	return dmarcMail(id, xml, "text/xml", ".xml")
}

// dmarcMail attaches data in base64.
func dmarcMail(id string, data []byte, ctype, ext string) []byte {
	var m bytes.Buffer
	fmt.Fprintf(&m, "From: noreply-dmarc@reporter.example\r\nTo: dmarc@example.net\r\n"+
		"Subject: Report domain: example.net Submitter: reporter.example Report-ID: %s\r\n"+
		"Message-ID: <%s@reporter.example>\r\nMIME-Version: 1.0\r\n"+
		"Content-Type: multipart/mixed; boundary=\"b\"\r\n\r\n"+
		"--b\r\nContent-Type: text/plain; charset=us-ascii\r\n\r\nThis is an aggregate report.\r\n"+
		"--b\r\nContent-Type: %s\r\nContent-Transfer-Encoding: base64\r\n"+
		"Content-Disposition: attachment; filename=\"reporter.example!example.net!%s%s\"\r\n\r\n", id, id, ctype, id, ext)
	m.WriteString(Base64Lines(data, "\r\n") + "--b--\r\n")
	return m.Bytes()
}

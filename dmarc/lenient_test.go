package dmarc

import (
	"bytes"
	"errors"
	"net/netip"
	"strings"
	"testing"

	"github.com/tlsrpt/tlsrpt/internal/reporttest"
)

func mustParse(t *testing.T, data []byte) *Report {
	t.Helper()
	rep, err := Parse(bytes.NewReader(data), Limits{})
	if err != nil {
		t.Fatal(err)
	}
	return rep
}

func TestEmptyOrgNameTakesEmailDomain(t *testing.T) {
	for _, email := range []string{"dmarc@Reporter.Example", "mailto:dmarc@reporter.example", "DMARC <dmarc@reporter.example>"} {
		doc := strings.Replace(withBody(""), "<org_name>reporter.example</org_name>", "<org_name>  </org_name>", 1)
		doc = strings.Replace(doc, "<email>dmarc@reporter.example</email>", "<email>"+strings.NewReplacer("<", "&lt;", ">", "&gt;").Replace(email)+"</email>", 1)
		rep := mustParse(t, []byte(doc))
		eq(t, "Reporter of "+email, rep.Metadata.Reporter, "reporter.example")
		eq(t, "OrgName", rep.Metadata.OrgName, "")
	}
	// Neither: the reporter cannot be named, and the error says where.
	doc := strings.Replace(withBody(""), "<org_name>reporter.example</org_name>", "", 1)
	doc = strings.Replace(doc, "<email>dmarc@reporter.example</email>", "<email>nobody</email>", 1)
	_, err := parseString(doc, Limits{})
	wantErr(t, err, nil, "feedback/report_metadata/org_name", "cannot be named")
}

func TestWhitespaceAndCase(t *testing.T) {
	rec := `<Record><ROW>
	  <source_ip>
	     2001:DB8::1
	  </source_ip>
	  <count> 7 </count>
	  <policy_evaluated><disposition> Quarantine </disposition><dkim>FAIL</dkim><spf> Pass </spf>
	    <reason><type>Forwarded</type><comment> list </comment></reason></policy_evaluated>
	</ROW>
	<identifiers><header_from> Example.NET. </header_from></identifiers>
	<auth_results><spf><domain>Example.net</domain><scope>MFROM</scope><result>PASS</result></spf></auth_results>
	</Record>`
	doc := strings.Replace(withBody(rec), "<adkim>r</adkim>", "<adkim> S </adkim>", 1)
	doc = strings.Replace(doc, "<begin>1764460800</begin>", "<begin> 1764460800.0 </begin>", 1)
	rep := mustParse(t, []byte(doc))
	r := rep.Records[0]
	eq(t, "SourceIP", r.SourceIP, netip.MustParseAddr("2001:db8::1"))
	eq(t, "Count", r.Count, 7)
	eq(t, "Disposition", r.Disposition, "quarantine")
	eq(t, "DKIM", r.DKIM, "fail")
	eq(t, "SPF", r.SPF, "pass")
	eq(t, "Reason", r.Reasons[0], Reason{Type: "forwarded", Comment: "list"})
	eq(t, "HeaderFrom", r.HeaderFrom, "example.net")
	eq(t, "SPF scope", r.SPFResults[0].Scope, "mfrom")
	eq(t, "ADKIM", rep.Policy.ADKIM, "s")
	eq(t, "Begin", rep.Metadata.Begin, unix(1764460800))
	eq(t, "DMARCPass", r.DMARCPass(), true)
}

func TestMissingOptionalElements(t *testing.T) {
	doc := `<feedback><report_metadata><org_name>r.example</org_name><report_id>1</report_id>
	<date_range><begin>0</begin><end>86399</end></date_range></report_metadata>
	<record><row><source_ip>192.0.2.1</source_ip><count>3</count></row></record></feedback>`
	rep := mustParse(t, []byte(doc))
	eq(t, "Pct", rep.Policy.Pct, -1)
	eq(t, "Version", rep.Version, "")
	r := rep.Records[0]
	eq(t, "DKIM", r.DKIM, "")
	eq(t, "DMARCPass", r.DMARCPass(), false)
	eq(t, "Failed", rep.Failed(), 3)
	// A report without records is a report.
	rep = mustParse(t, []byte(withBody("")))
	if rep.Records == nil || len(rep.Records) != 0 {
		t.Errorf("Records = %#v, want empty, not nil", rep.Records)
	}
}

func TestGzipQuirks(t *testing.T) {
	data := reportXML(3)
	for name, in := range map[string][]byte{
		"leading CRLF":     append([]byte("\r\n\r\n"), reporttest.Gzip(t, data)...),
		"leading LF":       append([]byte("\n"), reporttest.Gzip(t, data)...),
		"trailing padding": append(reporttest.Gzip(t, data), "\r\n\x00\x00"...),
		"two members":      append(reporttest.Gzip(t, data[:100]), reporttest.Gzip(t, data[100:])...),
		"BOM in content":   reporttest.Gzip(t, append([]byte("\xef\xbb\xbf"), data...)),
		"zipped gzip":      reporttest.Zip(t, "r.xml.gz", string(reporttest.Gzip(t, data))),
	} {
		t.Run(name, func(t *testing.T) {
			eq(t, "records", len(mustParse(t, in).Records), 3)
		})
	}
	_, err := Parse(bytes.NewReader(append(reporttest.Gzip(t, data), "junk"...)), Limits{})
	wantErr(t, err, nil, "bad gzip")
	cut := reporttest.Gzip(t, data)
	_, err = Parse(bytes.NewReader(cut[:len(cut)-6]), Limits{})
	wantErr(t, err, nil)
	bad := reporttest.Gzip(t, data)
	bad[len(bad)-8] ^= 0xff // the CRC-32, read only after the report
	_, err = Parse(bytes.NewReader(bad), Limits{})
	wantErr(t, err, nil, "bad gzip", "checksum")
}

func TestCharset(t *testing.T) {
	doc := strings.Replace(withBody(""), `encoding="UTF-8"`, `encoding="ISO-8859-1"`, 1)
	doc = strings.Replace(doc, "<org_name>reporter.example</org_name>", "<org_name>R\xe9porteur</org_name>", 1)
	eq(t, "Reporter", mustParse(t, []byte(doc)).Metadata.Reporter, "Réporteur")
}

func TestNotDMARC(t *testing.T) {
	for name, in := range map[string]string{
		"empty":     "",
		"spaces":    " \r\n",
		"json":      `{"organization-name":"x"}`,
		"html":      "<!DOCTYPE html><html><body>hi</body></html>",
		"other xml": "<?xml version=\"1.0\"?><rss><channel/></rss>",
		"text":      "hello",
		"broken <":  "< not xml",
		"gzip text": string(reporttest.Gzip(t, []byte("hello"))),
	} {
		t.Run(name, func(t *testing.T) {
			rep, err := parseString(in, Limits{})
			wantErr(t, err, ErrNotDMARC, "not a DMARC aggregate report")
			if rep != nil {
				t.Error("report with error")
			}
		})
	}
}

func TestErrorsNameThePath(t *testing.T) {
	rec := func(ip, count string) string {
		return "<record><row><source_ip>" + ip + "</source_ip><count>" + count + "</count></row></record>"
	}
	good := rec("192.0.2.1", "1")
	for name, c := range map[string]struct{ doc, path, why string }{
		"bad ip":        {withBody(good + good + rec("192.0.2.300", "1")), "feedback/record[3]/row/source_ip", `"192.0.2.300" is not an IP address`},
		"ip with zone":  {withBody(rec("fe80::1%eth0", "1")), "feedback/record[1]/row/source_ip", "not an IP address"},
		"no ip":         {withBody("<record><row><count>1</count></row></record>"), "feedback/record[1]/row/source_ip", "missing"},
		"negative":      {withBody(rec("192.0.2.1", "-1")), "feedback/record[1]/row/count", "not a message count"},
		"fraction":      {withBody(rec("192.0.2.1", "1.5")), "feedback/record[1]/row/count", "not a message count"},
		"huge":          {withBody(rec("192.0.2.1", "1000000000001")), "feedback/record[1]/row/count", "10^12"},
		"no count":      {withBody("<record><row><source_ip>192.0.2.1</source_ip></row></record>"), "feedback/record[1]/row/count", "missing"},
		"no report_id":  {strings.Replace(withBody(""), "<report_id>gen-1</report_id>", "", 1), "feedback/report_metadata/report_id", "missing"},
		"bad begin":     {strings.Replace(withBody(""), "<begin>1764460800</begin>", "<begin>yesterday</begin>", 1), "feedback/report_metadata/date_range/begin", "not seconds"},
		"no metadata":   {"<feedback>" + good + "</feedback>", "feedback/report_metadata", "missing"},
		"mismatched":    {withBody("<record><row></rows></record>"), "feedback/record[1]", "element <row> closed by </rows>"},
		"cut short":     {withBody(good)[:len(head)+40], "feedback/record[1]/row/source_ip", "unexpected EOF"},
		"control chars": {withBody("<record><row><source_ip>\x01</source_ip></row></record>"), "feedback/record[1]/row/source_ip", "XML syntax error on line 13"},
	} {
		t.Run(name, func(t *testing.T) {
			_, err := parseString(c.doc, Limits{})
			wantErr(t, err, nil, "dmarc: "+c.path+": ", c.why)
			var pe *PathError
			if !errors.As(err, &pe) || pe.Path != c.path {
				t.Errorf("PathError %+v, want path %s", pe, c.path)
			}
			if errors.Is(err, ErrNotDMARC) || errors.Is(err, ErrTooLarge) {
				t.Errorf("error %q wraps a sentinel", err)
			}
		})
	}
}

func TestDMARCPass(t *testing.T) {
	for _, c := range []struct {
		dkim, spf string
		pass      bool
	}{
		{"pass", "pass", true}, {"pass", "fail", true}, {"fail", "pass", true},
		{"fail", "fail", false}, {"", "", false}, {"none", "softfail", false},
	} {
		r := Record{DKIM: c.dkim, SPF: c.spf}
		eq(t, "DMARCPass("+c.dkim+","+c.spf+")", r.DMARCPass(), c.pass)
	}
	rep := mustParse(t, reportXML(14)) // records 0 and 7 fail
	var want int64
	for i := range 14 {
		want += int64(i%50 + 1)
	}
	eq(t, "Messages", rep.Messages(), want)
	eq(t, "Failed", rep.Failed(), 1+8)
}

// TestSecondReportRefused: a file, gzip stream or part holding a second
// report after the first (concatenated XML documents, or gzip members
// each a whole report) is refused with a line that says so, never read
// as its first report with the others dropped unsaid. What may follow
// the root (white space, comments, processing instructions, trailing
// junk some reporters leave) is still passed over.
func TestSecondReportRefused(t *testing.T) {
	data := reportXML(2)
	for name, in := range map[string][]byte{
		"two XML documents":  append(append([]byte{}, data...), data...),
		"gzip, two members":  append(reporttest.Gzip(t, data), reporttest.Gzip(t, data)...),
		"element after root": append(append([]byte{}, data...), "<record/>"...),
	} {
		t.Run(name, func(t *testing.T) {
			_, err := Parse(bytes.NewReader(in), Limits{})
			wantErr(t, err, nil, "after the end of the report", "one report")
		})
	}
	for name, in := range map[string][]byte{
		"comment after root": append(append([]byte{}, data...), "\n<!-- sent by x -->\n<?pi x?>\n"...),
		"junk after root":    append(append([]byte{}, data...), "\x00\x00"...),
	} {
		t.Run(name, func(t *testing.T) {
			eq(t, "records", len(mustParse(t, in).Records), 2)
		})
	}
}

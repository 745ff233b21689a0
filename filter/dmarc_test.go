package filter

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/tlsrpt/tlsrpt/dmarc"
	"github.com/tlsrpt/tlsrpt/internal/golden"
	"github.com/tlsrpt/tlsrpt/internal/reporttest"
	"github.com/tlsrpt/tlsrpt/report"
)

// dmarcCorpusDir holds the shared corpus of real DMARC aggregate reports.
const dmarcCorpusDir = "../dmarc/testdata/corpus"

// wantDMARCHeader is the DMARC-Report-Has-Failures value each file of the
// corpus must get, wrapped in a mail ("" for none); a prefix match for
// problems.
var wantDMARCHeader = map[string]string{
	"Report domain- borschow.com Submitter- google.com Report-ID- 949348866075514174.eml": "1",
	"empty_reason.xml": "",
	"fastmail.com!example.com!1516060800!1516147199!102675056.xml.gz": "1",
	"invalid_xml.xml": `unreadable report: part "invalid_xml.xml": feedback/report_metadata/email: XML syntax error on line 5`,
	"protection.outlook.com!example.com!1711756800!1711843200.xml": "1",
	"rfc9990-sample.xml": "",
}

// dmarcSamples returns every file of the DMARC corpus as a mail message:
// .eml files as they are, report files attached as a reporter sends them.
func dmarcSamples(t testing.TB) []sample {
	files, err := filepath.Glob(filepath.Join(dmarcCorpusDir, "*"))
	if err != nil {
		t.Fatal(err)
	}
	var out []sample
	for _, f := range files {
		if filepath.Base(f) == "README.md" {
			continue
		}
		raw, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		if !strings.HasSuffix(f, ".eml") {
			raw = wrapDMARC(filepath.Base(f), raw, "b")
		}
		out = append(out, sample{filepath.Base(f), raw})
	}
	if len(out) < 6 {
		t.Fatalf("found only %d files in %s", len(out), dmarcCorpusDir)
	}
	return out
}

// dmarcMediaType is what reporters label a report file with.
func dmarcMediaType(name string) string {
	switch {
	case strings.HasSuffix(name, ".gz"):
		return "application/gzip"
	case strings.HasSuffix(name, ".zip"):
		return "application/zip"
	}
	return "text/xml"
}

// wrapDMARC builds the mail a reporter sends for a DMARC report file: a
// text part and the file attached in base64.
func wrapDMARC(name string, data []byte, boundary string) []byte {
	return []byte("From: noreply-dmarc@example.net\r\nTo: dmarc@example.com\r\n" +
		"Subject: Report Domain: example.com Submitter: example.net\r\n" +
		"Message-ID: <" + name + "@example.net>\r\n" +
		"MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=\"" + boundary + "\"\r\n\r\n" +
		"--" + boundary + "\r\nContent-Type: text/plain; charset=us-ascii\r\n\r\nThis is a DMARC aggregate report.\r\n" +
		"--" + boundary + "\r\nContent-Type: " + dmarcMediaType(name) + "\r\nContent-Transfer-Encoding: base64\r\n" +
		"Content-Disposition: attachment; filename=\"" + name + "\"\r\n\r\n" + reporttest.Base64Lines(data, "\r\n") +
		"--" + boundary + "--\r\n")
}

// TestDMARCCorpus runs every file of the DMARC corpus, in a mail, through
// the filter: each is delivered whole (the annotation undoes the edit),
// gets the header it must, and a summary as in testdata/golden/dmarc
// (go test ./filter -update rewrites them); the broken one is named with
// the element and line where it breaks.
func TestDMARCCorpus(t *testing.T) {
	for _, s := range dmarcSamples(t) {
		t.Run(s.name, func(t *testing.T) {
			out, res := runSample(t, s, nil, wantDMARCHeader, "wantDMARCHeader")
			if !res.DMARC {
				t.Fatalf("not taken for a DMARC report message: header %q, problems %q", res.Header, res.Problems)
			}
			checkDMARCOutput(t, s.raw, out, res)
			dm, _ := dmarc.FromMessage(bytes.NewReader(s.raw), dmarc.Limits{})
			golden.Compare(t, filepath.Join("testdata", "golden", "dmarc", s.name+".summary"),
				[]byte(DMARCSummary(dm, res.Auth, fixedNow())))
		})
	}
}

// checkDMARCOutput asserts that out is in plus the DMARC header first,
// the annotation and the summary, nothing else: Original gives back the
// input byte for byte; no TLS-Report-Has-Failures field is added; every
// non-text part is there unchanged.
func checkDMARCOutput(t testing.TB, in, out []byte, res Result) {
	t.Helper()
	orig, err := Original(out)
	if err != nil || !bytes.Equal(orig, in) {
		t.Fatalf("the output does not give back the input: %v", err)
	}
	if res.Header != "" && !bytes.HasPrefix(out, []byte(DMARCHeaderName+": "+res.Header+"\r\n")) &&
		!bytes.HasPrefix(out, []byte(DMARCHeaderName+": "+res.Header+"\n")) {
		t.Fatalf("output does not start with %s: %s:\n%.200s", DMARCHeaderName, res.Header, out)
	}
	if res.Header == "" && bytes.Contains(out, []byte("\n"+DMARCHeaderName)) {
		t.Fatal("header added though Result.Header is empty")
	}
	if regexp.MustCompile(`(?mi)^TLS-Report-Has-Failures:`).Match(out) {
		t.Fatal("a DMARC report message got TLS-Report-Has-Failures")
	}
	if !bytes.Contains(out, []byte(DMARCSummaryTitle)) {
		t.Fatal("no summary in the output")
	}
	checkStructure(t, in, out)
}

// TestDMARCTextXMLGetsNoSummary sends the XML inline as the only
// text/plain part, as some reporters do: the summary goes into a part of
// its own, never into the report, which stays readable.
func TestDMARCTextXMLGetsNoSummary(t *testing.T) {
	xml, err := os.ReadFile(filepath.Join(dmarcCorpusDir, "empty_reason.xml"))
	if err != nil {
		t.Fatal(err)
	}
	raw := append([]byte("From: noreply-dmarc-support@example.org\nSubject: report\nContent-Type: text/plain\n\n"), xml...)
	out, res := runFilter(t, raw, nil)
	if !res.DMARC || res.Header != "" || res.edit != editWrap {
		t.Fatalf("DMARC %v, header %q, edit %v: want the message wrapped with the summary beside the XML", res.DMARC, res.Header, res.edit)
	}
	checkDMARCOutput(t, raw, out, res)
	dm, err := dmarc.FromMessage(bytes.NewReader(out), dmarc.Limits{})
	if err != nil || len(dm.Reports()) != 1 {
		t.Fatalf("the delivered message no longer reads as a DMARC report: %v", err)
	}
}

// TestTLSReportKeepsItsBehaviour: a TLS report message is never taken for
// a DMARC one, nor is a corrupt gzip that both readers fail on.
func TestTLSReportKeepsItsBehaviour(t *testing.T) {
	for _, name := range []string{"mt-tlsrpt-gzip.eml", "corrupt-gzip.eml", "truncated-gzip.eml", "no-report.eml"} {
		raw := readSample(t, name)
		out, res := runFilter(t, raw, nil)
		if res.DMARC || bytes.Contains(out, []byte(DMARCHeaderName)) || bytes.Contains(out, []byte(DMARCSummaryTitle)) {
			t.Errorf("%s: taken for a DMARC report message (header %q)", name, res.Header)
		}
	}
}

// dmarcXML is a report with the given org_name, email and records, each
// record a source address with its count and aligned results.
func dmarcXML(org, email, id string, records ...string) string {
	return `<?xml version="1.0"?><feedback><report_metadata><org_name>` + org + `</org_name><email>` + email +
		`</email><report_id>` + id + `</report_id><date_range><begin>1764547200</begin><end>1764633599</end></date_range>` +
		`</report_metadata><policy_published><domain>example.com</domain><p>reject</p><pct>100</pct></policy_published>` +
		strings.Join(records, "") + `</feedback>`
}

// dmarcRecord is one record.
func dmarcRecord(ip string, count int, dkim, spf, from string) string {
	return fmt.Sprintf(`<record><row><source_ip>%s</source_ip><count>%d</count><policy_evaluated><disposition>reject</disposition>`+
		`<dkim>%s</dkim><spf>%s</spf></policy_evaluated></row><identifiers><header_from>%s</header_from></identifiers>`+
		`<auth_results><spf><domain>example.com</domain><result>fail</result></spf></auth_results></record>`, ip, count, dkim, spf, from)
}

// TestDMARCHostileStrings plants line breaks, a MIME boundary with an HTML
// part, escape sequences, a bidirectional override and a header field in
// every string of a report the summary shows: they stay escaped on their
// line, the message keeps its parts, and only our header field is at a
// line start.
func TestDMARCHostileStrings(t *testing.T) {
	const boundary = "bnd-x" // lower case: the reader lower-cases domain names
	plant := "x&#13;&#10;--" + boundary + "&#13;&#10;Content-Type: text/html&#13;&#10;&#13;&#10;&lt;h1&gt;pay here&lt;/h1&gt;&#13;&#10;--" + boundary + "--&#13;&#10;"
	xml := strings.Replace(dmarcXML(plant, "root@evil&#x85;&#x202e;&#x9;", "id&#13;&#10;DMARC-Report-Has-Failures: 0",
		dmarcRecord("192.0.2.1", 3, "fail", "fail", "&#10;--"+boundary+"--"),
		dmarcRecord("192.0.2.2", 1, "pass", "fail", "example.com")),
		"<domain>example.com</domain><p>reject</p>", "<domain>--"+boundary+"</domain><p>reject&#13;&#10;X: y</p>", 1)
	raw := wrapDMARC("hostile.xml", []byte(xml), boundary)
	raw = append([]byte("DMARC-Report-Has-Failures: 0\r\n"), raw...)
	out, res := runFilter(t, raw, nil)
	if !res.DMARC || res.Header != "3" || res.Failures != 3 {
		t.Fatalf("DMARC %v, header %q, failures %d; problems %q", res.DMARC, res.Header, res.Failures, res.Problems)
	}
	checkDMARCOutput(t, raw, out, res)
	parts, err := leaves(t, out)
	if err != nil {
		t.Fatal(err)
	}
	if len(parts) != 2 || parts[0][0] != "text/plain" || parts[1][0] != "text/xml" {
		t.Fatalf("parts after filtering: %q, want the text and the report", parts)
	}
	text := parts[0][1]
	for _, bad := range []string{"\u0085", "\u202e", "<h1>pay here</h1>\r\n", "\r\n--" + boundary, "\n--" + boundary, "\nX: y"} {
		if strings.Contains(text, bad) {
			t.Errorf("summary holds %q", bad)
		}
	}
	if n := len(regexp.MustCompile(`(?mi)^DMARC-Report-Has-Failures:`).FindAllIndex(out, -1)); n != 1 {
		t.Errorf("%d DMARC-Report-Has-Failures fields at line starts, want only ours", n)
	}
	if !bytes.Contains(out, []byte("\r\nX-Original-DMARC-Report-Has-Failures: 0\r\n")) {
		t.Error("the incoming DMARC-Report-Has-Failures field is not renamed")
	}
	for _, want := range []string{`Reporter: x\r\n--bnd-x\r\nContent-Type: text/html`, `<root@evil\u0085\u202e>`,
		`Report-ID: id\r\nDMARC-Report-Has-Failures: 0`, `header_from  --bnd-x--`, `Policy published for  --bnd-x: p=reject\r\nx: y`} {
		if !strings.Contains(text, want) {
			t.Errorf("summary lacks the escaped value %q:\n%s", want, text)
		}
	}
}

// TestDMARCSummaryStaysShort: a report of 5,000 failing sources shows
// MaxDMARCSources of them and says how many more there are; no line of
// the summary passes the neutral package's bound.
func TestDMARCSummaryStaysShort(t *testing.T) {
	long := strings.Repeat("é", 5000)
	var recs []string
	for i := range 5000 {
		recs = append(recs, dmarcRecord(fmt.Sprintf("10.%d.%d.%d", i>>16, (i>>8)&255, i&255), i+1, "fail", "fail", "example.com"))
	}
	raw := wrapDMARC("big.xml", []byte(dmarcXML(long, "a@example.net", long, recs...)), "b")
	out, res := runFilter(t, raw, nil)
	if !res.DMARC || res.Reports != 1 {
		t.Fatalf("DMARC %v, %d reports; problems %q", res.DMARC, res.Reports, res.Problems)
	}
	checkDMARCOutput(t, raw, out, res)
	dm, _ := dmarc.FromMessage(bytes.NewReader(raw), dmarc.Limits{})
	s := DMARCSummary(dm, res.Auth, fixedNow())
	if n := strings.Count(s, "\n  10."); n != MaxDMARCSources {
		t.Errorf("%d source lines, want %d", n, MaxDMARCSources)
	}
	if !strings.Contains(s, "  and 4980 more failing sources") || !strings.Contains(s, "\n  10.0.19.135: 5000 messages,") {
		t.Errorf("summary does not show the largest sources first and the rest counted:\n%s", s)
	}
	for _, l := range strings.Split(s, "\n") {
		if len(l) > 600 {
			t.Fatalf("a line of %d bytes: %.100s", len(l), l)
		}
	}
}

// TestDMARCBombsRefused sends XML bombs as DMARC reports: billion laughs
// (nested internal entities), an external entity naming /etc/passwd, a
// parameter entity fetching a URL, 100,000 nested elements, and a 50 MB
// gzip-packed record list. Each message is delivered whole with the
// problem in the header, no entity is expanded or fetched, and a bomb is
// refused at its bound.
func TestDMARCBombsRefused(t *testing.T) {
	laughs := `<?xml version="1.0"?><!DOCTYPE feedback [<!ENTITY a "lol">` +
		`<!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;"><!ENTITY c "&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;">` +
		`<!ENTITY d "&c;&c;&c;&c;&c;&c;&c;&c;&c;&c;"><!ENTITY e "&d;&d;&d;&d;&d;&d;&d;&d;&d;&d;">` +
		`<!ENTITY f "&e;&e;&e;&e;&e;&e;&e;&e;&e;&e;"><!ENTITY g "&f;&f;&f;&f;&f;&f;&f;&f;&f;&f;">` +
		`<!ENTITY h "&g;&g;&g;&g;&g;&g;&g;&g;&g;&g;"><!ENTITY i "&h;&h;&h;&h;&h;&h;&h;&h;&h;&h;">]>` +
		dmarcXML("&i;", "a@example.net", "laughs")[len(`<?xml version="1.0"?>`):]
	external := `<?xml version="1.0"?><!DOCTYPE feedback [<!ENTITY x SYSTEM "file:///etc/passwd">]>` +
		dmarcXML("&x;", "a@example.net", "external")[len(`<?xml version="1.0"?>`):]
	param := `<?xml version="1.0"?><!DOCTYPE feedback [<!ENTITY % p SYSTEM "http://127.0.0.1:9/evil.dtd"> %p;]>` +
		dmarcXML("org", "a@example.net", "param")[len(`<?xml version="1.0"?>`):]
	undeclared := dmarcXML("&x;", "a@example.net", "undeclared")
	deep := strings.Replace(dmarcXML("org", "a@example.net", "deep"), "</feedback>",
		strings.Repeat("<x>", 100_000)+strings.Repeat("</x>", 100_000)+"</feedback>", 1)
	rec := dmarcRecord("192.0.2.1", 1, "fail", "fail", "example.com")
	var list strings.Builder
	list.WriteString(strings.TrimSuffix(dmarcXML("org", "a@example.net", "list"), "</feedback>"))
	for list.Len() < 50<<20 {
		list.WriteString(rec)
	}
	list.WriteString("</feedback>")
	for _, tc := range []struct {
		name, file string
		data       []byte
		want       string
	}{
		{"billion laughs", "laughs.xml", []byte(laughs), "DOCTYPE refused"},
		{"external entity", "external.xml", []byte(external), "DOCTYPE refused"},
		{"parameter entity", "param.xml", []byte(param), "DOCTYPE refused"},
		{"undeclared entity", "undeclared.xml", []byte(undeclared), "invalid character entity &x;"},
		{"deep nesting", "deep.xml", []byte(deep), "nest"},
		{"50 MB record list", "list.xml.gz", reporttest.Gzip(t, []byte(list.String())), "more than 20000 records"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			raw := wrapDMARC(tc.file, tc.data, "b")
			out, res := runFilter(t, raw, nil)
			if !res.DMARC || !strings.HasPrefix(res.Header, `unreadable report: part "`+tc.file+`": `) || !strings.Contains(res.Header, tc.want) {
				t.Fatalf("DMARC %v, header %q: want the part named and %q", res.DMARC, res.Header, tc.want)
			}
			checkDMARCOutput(t, raw, out, res)
			if bytes.Contains(out, []byte("root:x:0:0")) || bytes.Contains(out, []byte("lollollol")) {
				t.Fatal("an entity was expanded into the output")
			}
			if len(res.Problems) != 1 || strings.Contains(res.Problems[0], "\n") {
				t.Fatalf("problems %q, want one line", res.Problems)
			}
		})
	}
}

// TestDMARCInReportLimits: the filter's message bound is the DMARC
// reader's input bound.
func TestDMARCInReportLimits(t *testing.T) {
	xml := dmarcXML("org", "a@example.net", "two", dmarcRecord("192.0.2.1", 1, "fail", "fail", "example.com"),
		dmarcRecord("192.0.2.2", 1, "fail", "fail", "example.com"))
	raw := wrapDMARC("r.xml", []byte(xml), "b")
	var out bytes.Buffer
	res, err := Run(context.Background(), bytes.NewReader(raw), &out, Options{Now: fixedNow,
		Limits: report.Limits{MaxMessage: int64(len(raw))}, DMARCLimits: dmarc.Limits{MaxRecords: 1}})
	if err != nil {
		t.Fatal(err)
	}
	if !res.DMARC || !strings.Contains(res.Header, "more than 1 records") {
		t.Fatalf("header %q: the DMARC limits given were not applied", res.Header)
	}
}

// TestDMARCBrokenZipIsDMARC sends the broken corpus file zipped, as
// Google sends reports: the TLS reader fails on the zip too (no JSON in
// it), but the DMARC reader's failure is in the XML, so the message is a
// DMARC report message and the header names the element and line.
func TestDMARCBrokenZipIsDMARC(t *testing.T) {
	xml, err := os.ReadFile(filepath.Join(dmarcCorpusDir, "invalid_xml.xml"))
	if err != nil {
		t.Fatal(err)
	}
	raw := wrapDMARC("invalid.zip", reporttest.Zip(t, "invalid_xml.xml", string(xml)), "b")
	out, res := runFilter(t, raw, nil)
	if !res.DMARC || !strings.Contains(res.Header, "feedback/report_metadata/email: XML syntax error on line 5") {
		t.Fatalf("DMARC %v, header %q", res.DMARC, res.Header)
	}
	checkDMARCOutput(t, raw, out, res)
}

// TestDMARCBesideTLSReportSaid: a message holding a TLS report and a
// DMARC report is annotated as a TLS report message, as before, but the
// DMARC report it does not record is named in the problems (the log),
// never dropped unsaid.
func TestDMARCBesideTLSReportSaid(t *testing.T) {
	tls, err := os.ReadFile("../testdata/corpus/05-parsedmarc-google-failures-2024.json")
	if err != nil {
		t.Fatal(err)
	}
	dm := wrapDMARC("beside.xml", []byte(dmarcXML("Example", "dmarc@example.net", "beside-1",
		dmarcRecord("192.0.2.7", 3, "fail", "fail", "example.com"))), "B1")
	raw := bytes.Replace(dm, []byte("\r\n--B1--\r\n"), []byte("\r\n--B1\r\nContent-Type: application/tlsrpt+json\r\n\r\n"+
		strings.ReplaceAll(string(tls), "\n", "\r\n")+"\r\n--B1--\r\n"), 1)
	out, res := runFilter(t, raw, nil)
	if res.DMARC || !bytes.HasPrefix(out, []byte(HeaderName+": ")) {
		t.Fatalf("not annotated as a TLS report message (header %q):\n%s", res.Header, out)
	}
	if !strings.Contains(strings.Join(res.Problems, "\n"), "1 DMARC report beside the TLS reports not recorded") {
		t.Errorf("the DMARC report beside the TLS report is not named in the problems: %q", res.Problems)
	}
}

package dmarc

import (
	"bytes"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/tlsrpt/tlsrpt/internal/reporttest"
)

// part is one MIME part of a generated message.
type part struct {
	ctype, filename string
	body            []byte
	plain           bool // 8bit as it is, else base64
}

// mailOf builds a multipart/mixed message with a text part and parts.
func mailOf(parts ...part) []byte {
	var b bytes.Buffer
	b.WriteString("From: DMARC <dmarc@Reporter.example>\r\nTo: dmarc@example.net\r\n" +
		"Subject: Report Domain: example.net Submitter: reporter.example Report-ID: gen-1\r\n" +
		"Message-ID: <gen-1@reporter.example>\r\nMIME-Version: 1.0\r\n" +
		"Content-Type: multipart/mixed; boundary=\"b1\"\r\n\r\n" +
		"--b1\r\nContent-Type: text/plain\r\n\r\nThis is a DMARC aggregate report.\r\n")
	for _, p := range parts {
		fmt.Fprintf(&b, "--b1\r\nContent-Type: %s\r\n", p.ctype)
		if p.filename != "" {
			fmt.Fprintf(&b, "Content-Disposition: attachment; filename=%q\r\n", p.filename)
		}
		if p.plain {
			b.WriteString("Content-Transfer-Encoding: 8bit\r\n\r\n")
			b.Write(p.body)
			b.WriteString("\r\n")
			continue
		}
		b.WriteString("Content-Transfer-Encoding: base64\r\n\r\n")
		b.WriteString(reporttest.Base64Lines(p.body, "\r\n"))
	}
	b.WriteString("--b1--\r\n")
	return b.Bytes()
}

func fromMessage(t *testing.T, raw []byte, lim Limits) (*Message, error) {
	t.Helper()
	m, err := FromMessage(bytes.NewReader(raw), lim)
	if m == nil {
		t.Fatal("nil Message")
	}
	return m, err
}

// TestFromMessageByContent: the content type never decides.
func TestFromMessageByContent(t *testing.T) {
	data := reportXML(3)
	for name, p := range map[string]part{
		"zip as octet-stream": {ctype: "application/octet-stream", body: reporttest.Zip(t, "r.xml", string(data))},
		"gzip as text/plain":  {ctype: "text/plain", body: reporttest.Gzip(t, data)},
		"xml as text/plain":   {ctype: "text/plain; charset=utf-8", body: data, plain: true},
		"xml as pdf, named":   {ctype: "application/pdf", filename: "report.pdf", body: data},
		"gzip, CRLF first":    {ctype: "application/gzip", body: append([]byte("\r\n"), reporttest.Gzip(t, data)...)},
		"xml unlabelled":      {ctype: "", body: data, plain: true},
	} {
		t.Run(name, func(t *testing.T) {
			m, err := fromMessage(t, mailOf(p), Limits{})
			if err != nil {
				t.Fatal(err)
			}
			if len(m.Found) != 1 || len(m.Reports()) != 1 || len(m.Reports()[0].Records) != 3 {
				t.Fatalf("found %+v", m.Found)
			}
			eq(t, "From", m.From, "dmarc@reporter.example")
			eq(t, "FromDomain", m.FromDomain, "reporter.example")
			eq(t, "MessageID", m.MessageID, "gen-1@reporter.example")
			eq(t, "Failed", m.Failed(), 1)
		})
	}
}

func TestFromMessageWholeBody(t *testing.T) {
	raw := "From: dmarc@reporter.example\r\nContent-Type: text/xml\r\n\r\n" + string(reportXML(2))
	m, err := fromMessage(t, []byte(raw), Limits{})
	if err != nil || len(m.Reports()) != 1 {
		t.Fatalf("%v %+v", err, m.Found)
	}
	eq(t, "Name", m.Found[0].Name, "1")
}

func TestFromMessageNoReport(t *testing.T) {
	html := part{ctype: "text/html", body: []byte("<!DOCTYPE html>\n<html><body><p>Hi</p></body></html>"), plain: true}
	office := part{ctype: "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
		filename: "a.docx", body: reporttest.Zip(t, "[Content_Types].xml", "<Types/>", "word/document.xml", "<w:document/>")}
	lolz := part{ctype: "application/xml", body: []byte(billionLaughs("lolz") + "<lolz>&lol9;</lolz>")}
	tls := part{ctype: "application/tlsrpt+json", body: []byte(`{"organization-name":"x"}`)}
	m, err := fromMessage(t, mailOf(html, office, lolz, tls), Limits{})
	wantErr(t, err, ErrNotDMARC, `"<gen-1@reporter.example>"`, "no part holds a DMARC report")
	if len(m.Found) != 0 {
		t.Errorf("found %+v", m.Found)
	}
}

func TestFromMessageGoodAndBad(t *testing.T) {
	bad := part{ctype: "application/xml", filename: "broken.xml",
		body: []byte(withBody("<record><row><source_ip>300.1.1.1</source_ip><count>1</count></row></record>"))}
	dtd := part{ctype: "application/xml", filename: "xxe.xml",
		body: []byte(`<!DOCTYPE feedback [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>` + withBody(""))}
	good := part{ctype: "application/gzip", filename: "good.xml.gz", body: reporttest.Gzip(t, reportXML(2))}
	m, err := fromMessage(t, mailOf(bad, dtd, good), Limits{})
	if err != nil {
		t.Fatalf("a readable report beside broken ones: %v", err)
	}
	if len(m.Found) != 3 || len(m.Reports()) != 1 {
		t.Fatalf("found %+v", m.Found)
	}
	wantErr(t, m.Found[0].Err, nil, `part "broken.xml"`, "feedback/record[1]/row/source_ip")
	wantErr(t, m.Found[1].Err, ErrDTD, `part "xxe.xml"`)
	// Without the good one, the error joins the others on one line.
	_, err = fromMessage(t, mailOf(bad, dtd), Limits{})
	wantErr(t, err, ErrDTD, "broken.xml", "xxe.xml", "; ")
}

func TestFromMessageSharedBudget(t *testing.T) {
	p := part{ctype: "application/gzip", body: reporttest.Gzip(t, reportXML(3))}
	m, err := fromMessage(t, mailOf(p, p), Limits{MaxRecords: 5})
	if err != nil {
		t.Fatal(err)
	}
	if len(m.Found) != 2 || m.Found[0].Err != nil {
		t.Fatalf("found %+v", m.Found)
	}
	wantErr(t, m.Found[1].Err, ErrTooLarge, "more than 5 records")
	// And the number of report parts.
	many := make([]part, 5)
	for i := range many {
		many[i] = p
	}
	m, err = fromMessage(t, mailOf(many...), Limits{MaxReports: 3})
	wantErr(t, err, ErrTooLarge, "more than 3 report parts")
	eq(t, "Found", len(m.Found), 3)
	// And the message itself.
	_, err = fromMessage(t, mailOf(many...), Limits{MaxInput: 2000})
	wantErr(t, err, ErrTooLarge, "input of more than 2000 bytes")
}

func TestFromMessageMissingClosingBoundary(t *testing.T) {
	raw := mailOf(part{ctype: "application/zip", body: reporttest.Zip(t, "r.xml", string(reportXML(2)))})
	raw = bytes.TrimSuffix(raw, []byte("--b1--\r\n"))
	m, err := fromMessage(t, raw, Limits{})
	if err != nil || len(m.Reports()) != 1 {
		t.Fatalf("%v %+v", err, m.Found)
	}
}

func TestFromMessageDeepMultipart(t *testing.T) {
	var b strings.Builder
	b.WriteString("Content-Type: multipart/mixed; boundary=\"b0\"\r\n\r\n")
	for i := range 40 {
		fmt.Fprintf(&b, "--b%d\r\nContent-Type: multipart/mixed; boundary=\"b%d\"\r\n\r\n", i, i+1)
	}
	b.WriteString("--b40\r\nContent-Type: text/xml\r\n\r\n" + string(reportXML(1)) + "\r\n")
	_, err := fromMessage(t, []byte(b.String()), Limits{})
	wantErr(t, err, ErrNotDMARC, "nested deeper than 16")
	if errors.Is(err, ErrTooLarge) {
		t.Error("nesting is a structure problem")
	}
}

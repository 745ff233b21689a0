package ingest

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/tlsrpt/tlsrpt/internal/golden"
	"github.com/tlsrpt/tlsrpt/internal/reporttest"
	"github.com/tlsrpt/tlsrpt/report"
)

const corpusDir = "../testdata/corpus"

// corpusMessages returns every corpus file as a mail message, in name
// order: .eml files as they are, .json files wrapped into a report
// message with a gzipped attachment.
func corpusMessages(t testing.TB) (names []string, msgs [][]byte) {
	t.Helper()
	for _, f := range golden.Samples(t, 10, []string{".eml", ".json"}, corpusDir) {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		if filepath.Ext(f) == ".json" {
			b = wrapReport(filepath.Base(f)+".gz", reporttest.Gzip(t, b))
		}
		names = append(names, filepath.Base(f))
		msgs = append(msgs, b)
	}
	return names, msgs
}

// distinctCorpusReports counts the distinct (organization, report-id)
// pairs of the corpus, as the report package reads them.
func distinctCorpusReports(t testing.TB, msgs [][]byte) int {
	t.Helper()
	seen := map[string]bool{}
	for _, m := range msgs {
		msg, _ := report.ReadMessage(m, report.Limits{})
		for _, r := range msg.Reports() {
			seen[r.OrganizationName+"\x00"+r.ReportID] = true
		}
	}
	return len(seen)
}

// wrapReport builds a report message as reporters send them.
func wrapReport(name string, gz []byte) []byte {
	return reportMail("From: tlsrpt@reporter.example\r\nTo: tlsrpt@example.net\r\nSubject: Report Domain: example.net\r\n"+
		"TLS-Report-Domain: example.net\r\nTLS-Report-Submitter: reporter.example\r\n",
		`multipart/report; report-type="tlsrpt"`, "This is a TLS report.", "application/tlsrpt+gzip", name, gz)
}

// reportMail builds a report mail as reporters send it: the header
// fields head (each ended by CRLF), Message-ID <name@reporter.example>,
// and a multipart of type mtype holding a text part that says text and
// data attached in base64 as the file name, of type ctype.
func reportMail(head, mtype, text, ctype, name string, data []byte) []byte {
	var b bytes.Buffer
	fmt.Fprintf(&b, "%sMessage-ID: <%s@reporter.example>\r\nMIME-Version: 1.0\r\nContent-Type: %s; boundary=\"b\"\r\n\r\n"+
		"--b\r\nContent-Type: text/plain\r\n\r\n%s\r\n"+
		"--b\r\nContent-Type: %s\r\nContent-Disposition: attachment; filename=%q\r\n"+
		"Content-Transfer-Encoding: base64\r\n\r\n", head, name, mtype, text, ctype, name)
	b.WriteString(reporttest.Base64Lines(data, "\r\n") + "--b--\r\n")
	return b.Bytes()
}

const plainMessage = "From: alice@example.org\nTo: bob@example.net\nSubject: lunch\n\n" +
	"Hello Bob,\nFrom now on lunch is at noon.\n>From the desk of Alice\n"

// writeMaildir writes msgs into a new Maildir, alternating cur/ and new/.
func writeMaildir(t testing.TB, dir string, msgs [][]byte) {
	t.Helper()
	for _, sub := range []string{"cur", "new", "tmp"} {
		if err := os.MkdirAll(filepath.Join(dir, sub), 0o700); err != nil {
			t.Fatal(err)
		}
	}
	for i, m := range msgs {
		name := fmt.Sprintf("17000000%02d.M%dP1.test", i, i)
		sub := "new"
		if i%2 == 0 {
			sub, name = "cur", name+":2,S"
		}
		write(t, filepath.Join(dir, sub, name), m)
	}
}

// writeMbox writes msgs as one mboxrd file.
func writeMbox(t testing.TB, path string, msgs [][]byte) {
	t.Helper()
	var buf bytes.Buffer
	for _, m := range msgs {
		if err := EscapeMboxrd(&buf, "MAILER-DAEMON Thu Jan  1 00:00:00 2026", m); err != nil {
			t.Fatal(err)
		}
	}
	write(t, path, buf.Bytes())
}

func write(t testing.TB, path string, b []byte) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, b, 0o600); err != nil {
		t.Fatal(err)
	}
}

func errorLines(s Summary) string {
	var lines []string
	for _, e := range s.Errors {
		lines = append(lines, e.Error())
	}
	return strings.Join(lines, "\n")
}

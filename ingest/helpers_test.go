package ingest

import (
	"bytes"
	"context"
	"encoding/base64"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/tlsrpt/tlsrpt/internal/golden"
	"github.com/tlsrpt/tlsrpt/internal/reporttest"
	"github.com/tlsrpt/tlsrpt/report"
	"github.com/tlsrpt/tlsrpt/store"
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
	var b bytes.Buffer
	fmt.Fprintf(&b, "From: tlsrpt@reporter.example\r\nTo: tlsrpt@example.net\r\n"+
		"Subject: Report Domain: example.net\r\nTLS-Report-Domain: example.net\r\n"+
		"TLS-Report-Submitter: reporter.example\r\nMessage-ID: <%s@reporter.example>\r\n"+
		"MIME-Version: 1.0\r\nContent-Type: multipart/report; report-type=\"tlsrpt\"; boundary=\"b\"\r\n\r\n"+
		"--b\r\nContent-Type: text/plain\r\n\r\nThis is a TLS report.\r\n"+
		"--b\r\nContent-Type: application/tlsrpt+gzip\r\nContent-Disposition: attachment; filename=%q\r\n"+
		"Content-Transfer-Encoding: base64\r\n\r\n", name, name)
	enc := base64.StdEncoding.EncodeToString(gz)
	for len(enc) > 76 {
		b.WriteString(enc[:76] + "\r\n")
		enc = enc[76:]
	}
	b.WriteString(enc + "\r\n--b--\r\n")
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

func stats(t testing.TB, st *store.Store) store.Stats {
	t.Helper()
	s, err := st.Stats(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func errorLines(s Summary) string {
	var lines []string
	for _, e := range s.Errors {
		lines = append(lines, e.Error())
	}
	return strings.Join(lines, "\n")
}

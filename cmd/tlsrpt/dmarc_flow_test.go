package main

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/tlsrpt/tlsrpt/internal/dnstest"
	"github.com/tlsrpt/tlsrpt/internal/reporttest"
	"github.com/tlsrpt/tlsrpt/internal/storetest"
)

// The DMARC corpus, and its Google mail: one message from 92.53.116.102
// failed DMARC.
const (
	dmarcCorpus       = "../../dmarc/testdata/corpus"
	dmarcGoogleSample = dmarcCorpus + "/Report domain- borschow.com Submitter- google.com Report-ID- 949348866075514174.eml"
)

// dmarcMessage is a DMARC aggregate report mail from fromAddr whose report
// names org and email, with one record of failing messages from ip.
func dmarcMessage(fromAddr, org, email, id, ip string, failing int) []byte {
	xml := `<?xml version="1.0"?><feedback><report_metadata><org_name>` + org + `</org_name><email>` + email + `</email>` +
		`<report_id>` + id + `</report_id><date_range><begin>1764547200</begin><end>1764633599</end></date_range></report_metadata>` +
		`<policy_published><domain>example.com</domain><p>reject</p></policy_published>` +
		fmt.Sprintf(`<record><row><source_ip>%s</source_ip><count>%d</count><policy_evaluated><disposition>reject</disposition>`+
			`<dkim>fail</dkim><spf>fail</spf></policy_evaluated></row><identifiers><header_from>example.com</header_from></identifiers></record>`, ip, failing) +
		`</feedback>`
	return []byte("From: " + fromAddr + "\r\nTo: dmarc@example.com\r\nSubject: Report domain: example.com Submitter: " + org +
		" Report-ID: " + id + "\r\nDate: Tue, 02 Dec 2025 10:00:00 +0000\r\nMessage-ID: <" + id + "@dmarc.example>\r\nMIME-Version: 1.0\r\n" +
		"Content-Type: multipart/mixed; boundary=\"b\"\r\n\r\n--b\r\nContent-Type: text/plain\r\n\r\nDMARC aggregate report.\r\n" +
		"--b\r\nContent-Type: application/octet-stream\r\nContent-Disposition: attachment; filename=\"" + id + ".xml\"\r\n" +
		"Content-Transfer-Encoding: base64\r\n\r\n" + reporttest.Base64Lines([]byte(xml), "\r\n") + "--b--\r\n")
}

// TestDMARCForgedReporter files four DMARC reports that all name
// google.com through the filter, with real DKIM keys served by dnsmasq:
// signed by google.com (authenticated), signed by evil.example, from and
// signed by evil.example (forged reporter names: evil.example vouches
// for itself, never for google.com), unsigned (not authenticated). The
// summary says so for each, and each is stored marked as such.
func TestDMARCForgedReporter(t *testing.T) {
	dns := dnstest.Start(t, chainRecords(t))
	db := filepath.Join(t.TempDir(), "tlsrpt.db")
	const google = "noreply-dmarc-support@google.com"
	for _, tc := range []struct {
		name, from, signer, want string
	}{
		{"signed by google.com", google, "google.com", "Authentication: dkim pass for google.com"},
		{"signed by evil.example", google, "evil.example", "Authentication: not authenticated"},
		{"from and signed by evil.example", "dmarc@evil.example", "evil.example", "Authentication: not authenticated"},
		{"unsigned", google, "", "Authentication: not authenticated"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			msg := dmarcMessage(tc.from, "google.com", google, "dmarc-"+strings.ReplaceAll(tc.name, " ", "-"), "198.51.100.9", 7)
			if tc.signer != "" {
				msg = dkimSign(t, msg, tc.signer)
			}
			r := tlsrptOK(t, nil, msg, "filter", "--no-config", "--db", db, "--resolver", dns)
			if !strings.HasPrefix(r.stdout, "DMARC-Report-Has-Failures: 7\r\n") || !strings.Contains(r.stdout, tc.want) {
				t.Fatalf("header or authentication verdict wrong, want %q:\n%s\n%s", tc.want, r.stdout, r.stderr)
			}
		})
	}
	// Stored, each marked as the summary said: only the first is
	// google.com's.
	st := storetest.OpenAt(t, db)
	for id := int64(1); id <= 4; id++ {
		rep, src, err := st.DMARCReport(context.Background(), id)
		if err != nil {
			t.Fatalf("report %d not stored: %v", id, err)
		}
		genuine := rep.Metadata.ReportID == "dmarc-signed-by-google.com"
		if src.Auth.Authenticated != genuine || (genuine && src.Auth.Domain != "google.com") || src.Transport != "mail" {
			t.Errorf("%s stored with %+v (transport %q)", rep.Metadata.ReportID, src.Auth, src.Transport)
		}
	}
}

// TestDMARCImportCorpus imports the DMARC corpus folder with the binary:
// the five readable reports are stored and counted on a line of their
// own, the broken file is one line naming it and where it breaks, exit 1;
// a second import stores nothing new.
func TestDMARCImportCorpus(t *testing.T) {
	db := filepath.Join(t.TempDir(), "tlsrpt.db")
	for i, want := range []string{"stored 5 DMARC reports, duplicates 0\n", "stored 0 DMARC reports, duplicates 5\n"} {
		r := tlsrpt(t, nil, nil, "import", "--no-config", "--db", db, dmarcCorpus)
		if r.code != 1 || !strings.Contains(r.stdout, want) ||
			!strings.Contains(r.stdout, "read 7, stored 0, duplicates 0, not reports 1, errors 1\n") {
			t.Fatalf("import %d: exit %d, want 1 and %q:\n%s%s", i+1, r.code, want, r.stdout, r.stderr)
		}
		wantErr := "tlsrpt: import: " + dmarcCorpus + "/invalid_xml.xml: dmarc: feedback/report_metadata/email: XML syntax error on line 5: expected attribute name in element\n"
		if r.stderr != wantErr {
			t.Fatalf("import %d: stderr %q, want %q", i+1, r.stderr, wantErr)
		}
	}
}

// TestMaildropRuleDMARC delivers DMARC reports through real maildrop with
// the shipped rule: the Google report with a failing message is filed in
// ~/Maildir/.DMARC-Failures with the header first, the summary in its
// text part and the zip byte for byte, and no copy goes to the
// postmaster; a report without failures is filed in the inbox, with the
// summary and no header.
func TestMaildropRuleDMARC(t *testing.T) {
	a := newMailAccount(t)
	a.installRule(a.db)
	a.mustDeliver(dmarcGoogleSample)
	clean := filepath.Join(t.TempDir(), "clean.eml")
	if err := os.WriteFile(clean, dmarcMessage("dmarc@example.org", "example.org", "dmarc@example.org", "clean-1", "192.0.2.5", 0), 0o644); err != nil {
		t.Fatal(err)
	}
	a.mustDeliver(clean)

	failed := maildirFiles(t, filepath.Join(a.Home, "Maildir", ".DMARC-Failures"))
	if len(failed) != 1 {
		t.Fatalf("%d messages in ~/Maildir/.DMARC-Failures, want 1", len(failed))
	}
	if !regexp.MustCompile(`^DMARC-Report-Has-Failures: 1\r?\n`).Match(failed[0]) ||
		!bytes.Contains(failed[0], []byte("92.53.116.102: 1 message, disposition reject, DKIM fail, SPF fail")) {
		t.Fatalf("filed DMARC report lacks header or summary:\n%.600s", failed[0])
	}
	orig, _ := os.ReadFile(dmarcGoogleSample)
	if !bytes.Contains(failed[0], orig[bytes.Index(orig, []byte("UEsDB")):]) {
		t.Fatal("the filed message's zip attachment and closing boundary are not byte for byte the original")
	}
	if n := len(a.sent()); n != 0 {
		t.Fatalf("%d copies went to the postmaster for DMARC reports, want none", n)
	}
	if len(a.failures()) != 0 {
		t.Fatal("a DMARC report was filed in the TLS failures folder")
	}
	inbox := a.inbox()
	if len(inbox) != 1 || bytes.Contains(inbox[0], []byte("Report-Has-Failures")) ||
		!bytes.Contains(inbox[0], []byte("DMARC aggregate report summary")) {
		t.Fatalf("clean DMARC report: %d in ~/Maildir, or header/summary wrong", len(inbox))
	}
	st := storetest.OpenAt(t, a.db)
	for id, want := range map[int64]string{1: "949348866075514174", 2: "clean-1"} {
		if rep, _, err := st.DMARCReport(context.Background(), id); err != nil || rep.Metadata.ReportID != want {
			t.Errorf("the store the rule names lacks DMARC report %s: %v", want, err)
		}
	}
}

// TestDMARCSpooledAndDrained gives the filter a database it cannot open
// (a folder): the DMARC report is kept in the spool, marked as a DMARC
// report, the message delivered annotated; import --spool stores it
// into a real database, and the spool is empty.
func TestDMARCSpooledAndDrained(t *testing.T) {
	dir := t.TempDir()
	spoolDir := filepath.Join(dir, "spool")
	away := filepath.Join(dir, "folder")
	if err := os.Mkdir(away, 0o700); err != nil {
		t.Fatal(err)
	}
	msg, err := os.ReadFile(dmarcGoogleSample)
	if err != nil {
		t.Fatal(err)
	}
	r := tlsrptOK(t, nil, msg, "filter", "--no-config", "--db", away, "--spool", spoolDir, "--resolver", "127.0.0.1:9")
	if !strings.HasPrefix(r.stdout, "DMARC-Report-Has-Failures: 1\r\n") || !strings.Contains(r.stderr, `DMARC report "949348866075514174" kept in the spool `+spoolDir) {
		t.Fatalf("filter with the database away: the report is not spooled, or the message not annotated:\n%.300s\n%s", r.stdout, r.stderr)
	}
	spooled, _ := filepath.Glob(filepath.Join(spoolDir, "*.tlsrpt-spool.json"))
	if len(spooled) != 1 {
		t.Fatalf("%d spool files, want 1", len(spooled))
	}
	if b, _ := os.ReadFile(spooled[0]); !bytes.Contains(b, []byte(`"kind":"dmarc"`)) {
		t.Fatalf("the spool file is not marked as a DMARC report: %.200s", b)
	}
	db := filepath.Join(dir, "tlsrpt.db")
	r = tlsrptOK(t, nil, nil, "import", "--no-config", "--db", db, "--spool", "--spool-dir", spoolDir)
	if !strings.Contains(r.stdout, "stored 1, duplicates 0, unreadable 0, refused 0") {
		t.Fatalf("import --spool: %s%s", r.stdout, r.stderr)
	}
	if left, _ := filepath.Glob(filepath.Join(spoolDir, "*")); len(left) != 0 {
		t.Fatalf("spool not drained: %v", left)
	}
	st := storetest.OpenAt(t, db)
	if rep, src, err := st.DMARCReport(context.Background(), 1); err != nil || rep.Metadata.ReportID != "949348866075514174" || src.Transport != "mail" {
		t.Fatalf("drained report: %v %+v", err, src)
	}
}

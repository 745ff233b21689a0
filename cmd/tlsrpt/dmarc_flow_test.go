package main

import (
	"bytes"
	"encoding/base64"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/tlsrpt/tlsrpt/allowlist/dnstest"
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
		"Content-Transfer-Encoding: base64\r\n\r\n" + base64.StdEncoding.EncodeToString([]byte(xml)) + "\r\n--b--\r\n")
}

// TestDMARCForgedReporter files four DMARC reports that all name
// google.com through the filter, with real DKIM keys served by dnsmasq:
// signed by google.com (authenticated), signed by evil.example, from and
// signed by evil.example (forged reporter names: evil.example vouches
// for itself, never for google.com), unsigned (not authenticated). The
// summary says so for each.
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

	failed := maildirFiles(t, filepath.Join(a.home, "Maildir", ".DMARC-Failures"))
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
}

package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/tlsrpt/tlsrpt/internal/dnstest"
	"github.com/tlsrpt/tlsrpt/internal/testenv"
)

// TestImportAuthenticates backfills a Maildir holding a DKIM-signed Google
// report and an unsigned forgery with tlsrpt import: the signed report
// makes its address trusted, exactly as through the filter, and the forged
// one does not.
func TestImportAuthenticates(t *testing.T) {
	testenv.MustHaveExec(t, "dnsmasq", "dnsmasq-base")
	dns := dnstest.Start(t, chainRecords(t))
	dir := t.TempDir()
	maildir := filepath.Join(dir, "Maildir")
	makeMaildir(t, maildir)
	signed := dkimSign(t, reportMessage("google.com", "2026-11-21T00:00:00Z_import-signed", []failure{
		{googleIP, 2, "certificate-expired"}}), "google.com")
	forged := reportMessage("google.com", "2026-11-21T00:00:00Z_import-forged", []failure{
		{"209.85.220.60", 1, "validation-failure"}})
	for name, msg := range map[string][]byte{"1.signed:2,S": signed, "2.forged:2,S": forged} {
		if err := os.WriteFile(filepath.Join(maildir, "cur", name), msg, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	flags := []string{"--db", filepath.Join(dir, "tlsrpt.db"), "--resolver", dns}
	r := tlsrptOK(t, nil, nil, append([]string{"import"}, append(flags, maildir)...)...)
	if !strings.Contains(r.stdout, "read 2, stored 2, duplicates 0, not reports 0, errors 0") {
		t.Fatalf("import says %q", r.stdout)
	}
	rows := reviewJSON(t, nil, append(flags, "--no-bans")...)
	wantRow(t, rows, googleIP, true, "google.com: DKIM-authenticated report")
	wantRow(t, rows, "209.85.220.60", false, "no authenticated report")
}

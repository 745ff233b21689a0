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
	signed := dkimSign(t, reportMessage("google.com", "2026-11-21T00:00:00Z_import-signed", []failure{
		{googleIP, 2, "certificate-expired"}}), "google.com")
	forged := reportMessage("google.com", "2026-11-21T00:00:00Z_import-forged", []failure{
		{"209.85.220.60", 1, "validation-failure"}})
	maildir, flags := importChain(t, map[string][]byte{"1.signed:2,S": signed, "2.forged:2,S": forged})
	r := tlsrptOK(t, nil, nil, append([]string{"import"}, append(flags, maildir)...)...)
	if !strings.Contains(r.stdout, "read 2, stored 2, duplicates 0, not reports 0, errors 0") {
		t.Fatalf("import says %q", r.stdout)
	}
	rows := reviewJSON(t, nil, append(flags, "--no-bans")...)
	wantRow(t, rows, googleIP, true, "google.com: DKIM-authenticated report")
	wantRow(t, rows, "209.85.220.60", false, "no authenticated report")
}

// TestImportUpgraded imports a DKIM-signed report first without checking
// DKIM (stored unauthenticated), then again with DKIM: the second import
// replaces the stored copy with the authenticated one and says so
// ("upgraded 1"), where it used to say "stored 0, duplicates 1"; a third
// import is a plain duplicate.
func TestImportUpgraded(t *testing.T) {
	signed := dkimSign(t, reportMessage("google.com", "2026-11-21T00:00:00Z_upgrade", []failure{
		{googleIP, 2, "certificate-expired"}}), "google.com")
	maildir, flags := importChain(t, map[string][]byte{"1.signed:2,S": signed})
	for _, step := range []struct {
		extra []string
		want  string
	}{
		{[]string{"--no-dkim"}, "read 1, stored 1, duplicates 0, not reports 0, errors 0\n"},
		{nil, "read 1, stored 0, upgraded 1, duplicates 0, not reports 0, errors 0\n"},
		{nil, "read 1, stored 0, duplicates 1, not reports 0, errors 0\n"},
	} {
		args := append(append([]string{"import"}, flags...), step.extra...)
		r := tlsrptOK(t, nil, nil, append(args, maildir)...)
		if r.stdout != step.want {
			t.Errorf("tlsrpt %s: %q, want %q", strings.Join(args, " "), r.stdout, step.want)
		}
	}
	rows := reviewJSON(t, nil, append(flags, "--no-bans")...)
	wantRow(t, rows, googleIP, true, "google.com: DKIM-authenticated report")
}

// importChain starts the test DNS server and writes msgs (file name to
// message) into the cur folder of a new Maildir; it returns the Maildir
// and the flags that name a new store and that DNS server.
func importChain(t *testing.T, msgs map[string][]byte) (maildir string, flags []string) {
	t.Helper()
	testenv.MustHaveExec(t, "dnsmasq", "dnsmasq-base")
	dns := dnstest.Start(t, chainRecords(t))
	dir := t.TempDir()
	maildir = filepath.Join(dir, "Maildir")
	makeMaildir(t, maildir)
	for name, msg := range msgs {
		if err := os.WriteFile(filepath.Join(maildir, "cur", name), msg, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	return maildir, []string{"--db", filepath.Join(dir, "tlsrpt.db"), "--resolver", dns}
}

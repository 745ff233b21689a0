package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/tlsrpt/tlsrpt/internal/dnstest"
	"github.com/tlsrpt/tlsrpt/internal/testenv"
)

// TestImportUpgraded imports a DKIM-signed report first without checking
// DKIM (stored unauthenticated), then again with DKIM: the second import
// replaces the stored copy with the authenticated one and says so
// ("upgraded 1"), where it used to say "stored 0, duplicates 1"; a third
// import is a plain duplicate.
func TestImportUpgraded(t *testing.T) {
	testenv.MustHaveExec(t, "dnsmasq", "dnsmasq-base")
	dns := dnstest.Start(t, chainRecords(t))
	dir := t.TempDir()
	maildir := filepath.Join(dir, "Maildir")
	makeMaildir(t, maildir)
	signed := dkimSign(t, reportMessage("google.com", "2026-11-21T00:00:00Z_upgrade", []failure{
		{googleIP, 2, "certificate-expired"}}), "google.com")
	if err := os.WriteFile(filepath.Join(maildir, "cur", "1.signed:2,S"), signed, 0o600); err != nil {
		t.Fatal(err)
	}
	flags := []string{"--db", filepath.Join(dir, "tlsrpt.db"), "--resolver", dns}
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

package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/tlsrpt/tlsrpt/internal/storetest"
)

// TestRedeemStockDebianFail2ban runs tlsrpt redeem --apply against a real
// fail2ban-server on a copy of Debian's stock /etc/fail2ban, where nothing
// sets ignoreip: the drop-in leaves the configuration valid (fail2ban's own
// test passes, a restarted server has its jail and ignores the address).
// Then, with a broken file of the operator's, a drop-in step fails
// fail2ban's test: it is undone, the apply says FAILED with fail2ban's
// reason, exits 1, and the audit log records the failure and the reason.
func TestRedeemStockDebianFail2ban(t *testing.T) {
	s := startStockF2B(t)
	db := filepath.Join(t.TempDir(), "tlsrpt.db")
	storetest.Create(t, db) // redeem never creates the store
	redeem := func(ip string) result {
		s.Client("set", "sshd", "banip", ip)
		return tlsrpt(t, nil, nil, "redeem", "--db", db, "--apply", "--ip", ip,
			"--backend", "fail2ban", "--fail2ban-socket", s.Socket, "--fail2ban-config", s.Dir)
	}
	dropIn := filepath.Join(s.Dir, "jail.d", "tlsrpt-redeemed.local")

	const first = "192.0.2.7"
	if r := redeem(first); r.code != 0 || !strings.Contains(r.stdout, "  fail2ban: add "+first+" to [sshd] ignoreip in "+dropIn+", so a reload keeps ignoring it: ok\n") {
		t.Fatalf("redeem on the stock configuration: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	if out, err := exec.Command("fail2ban-client", "-c", s.Dir, "-t").CombinedOutput(); err != nil {
		t.Fatalf("fail2ban-client -t after redeem: %v\n%s", err, out)
	}
	s.Restart()
	if got := s.Ignored("sshd"); !slices.Equal(got, []string{first}) {
		t.Errorf("after a restart, sshd ignores %v", got)
	}

	before, err := os.ReadFile(dropIn)
	if err != nil {
		t.Fatal(err)
	}
	writeFile(t, s.Dir, "jail.d/broken.local", "[sshd]\nbantime = %(no_such_option)s\n")
	const second = "192.0.2.8"
	r := redeem(second)
	failed := regexp.MustCompile(`(?m)^  fail2ban: add ` + regexp.QuoteMeta(second) + ` to \[sshd\] ignoreip in ` + regexp.QuoteMeta(dropIn) + `, so a reload keeps ignoring it: FAILED: .*fail2ban-client -c \S+ -t fails after the change: Bad value substitution: .*'no_such_option'.*; undone: restored ` + regexp.QuoteMeta(dropIn) + `$`)
	if r.code != 1 || !failed.MatchString(r.stdout) || !strings.Contains(r.stdout, "  fail2ban: unban "+second+" in jail sshd: ok\n") {
		t.Errorf("redeem with a broken configuration: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	if after, err := os.ReadFile(dropIn); err != nil || string(after) != string(before) {
		t.Errorf("drop-in not restored:\n%s\nwant:\n%s", after, before)
	}
	logOut := tlsrptOK(t, nil, nil, "redeem", "log", "--db", db).stdout
	if !regexp.MustCompile(`(?m)^\S+ applied FAILED +\S+ +fail2ban keep +` + regexp.QuoteMeta(second) + ` .* -> .*fails after the change: .*no_such_option.*undone: restored `).MatchString(logOut) {
		t.Errorf("the failure and its reason are not in the audit log:\n%s", logOut)
	}
	if !regexp.MustCompile(`(?m)^\S+ applied ok +\S+ +fail2ban keep +` + regexp.QuoteMeta(first) + ` .* -> configuration test passed \(fail2ban-client -c \S+ -t\); created `).MatchString(logOut) {
		t.Errorf("the first drop-in step's test is not in the audit log:\n%s", logOut)
	}
}

package main

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"

	"github.com/tlsrpt/tlsrpt/internal/testenv"
	"github.com/tlsrpt/tlsrpt/internal/usertest"
)

// The lines of contrib/maildrop/mailfilter an admin edits (the README's
// maildrop section names them), and nothing else of the rule is changed
// by these tests.
// The rule's settings live in /etc/tlsrpt/tlsrpt.conf; these tests give
// them as flags, and --no-config.
const ruleTLSRPTLine = `TLSRPT="/usr/bin/tlsrpt filter"`

// Samples of the corpus delivered by these tests: a report with two failed
// sessions from 192.0.2.1, and one without failures.
const (
	failureSample = "../../testdata/corpus/14-tlsrptdigest-google-failure.eml"
	cleanSample   = "../../testdata/corpus/02-mox-google-2022.eml"
)

// mailAccount is a mail-only account made for one test, as a Debian admin
// makes one for the _smtp._tls mailbox: a system user whose shell is
// nologin, the shipped rule as its ~/.mailfilter, the tlsrpt binary
// installed where every user may run it, a store folder owned by the mail
// user, and a recording stand-in for the MTA's sendmail.
type mailAccount struct {
	*usertest.User
	t        *testing.T
	bin      string // the installed tlsrpt
	db       string // the shared store, in a folder owned by the mail user
	mta      string // a folder holding the stand-in sendmail
	copies   string // where the stand-in keeps each message it is given
	maildrop string
}

// newMailAccount makes the account; cleanup deletes the user, its group
// and every file the test made, leaving the machine as it was.
func newMailAccount(t *testing.T) *mailAccount {
	t.Helper()
	testenv.MustBeRoot(t) // it makes a system user and runs maildrop as that user
	a := &mailAccount{t: t, maildrop: testenv.MustHaveExec(t, "maildrop", "maildrop")}
	testenv.MustHaveExec(t, "maildirmake", "maildrop")
	for _, tool := range []string{"unshare", "setpriv"} {
		testenv.MustHaveExec(t, tool, "util-linux")
	}
	dir := usertest.SharedDir(t)
	a.User = usertest.New(t, "tlsrpt-md-", filepath.Join(dir, "home"))
	a.bin = filepath.Join(dir, "bin", "tlsrpt")
	a.db = filepath.Join(dir, "store", "tlsrpt.db")
	a.mta = filepath.Join(dir, "mta")
	a.copies = filepath.Join(dir, "copies")
	for _, d := range []string{filepath.Dir(a.db), a.mta, a.copies} {
		if err := os.Mkdir(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	a.Chown(t, filepath.Dir(a.db), a.copies)
	installBinary(t, a.bin)
	a.writeStandIn()
	return a
}

// writeStandIn writes the recording stand-in for the MTA's sendmail: it
// keeps each message, its arguments on the first line, in a.copies, and
// answers 75 (the MTA refusing it) when the file "refuse" is in a.mta.
// maildrop resets SENDMAIL to its default, /usr/sbin/sendmail, whatever
// the environment says, so deliver lays a.mta over /usr/sbin.
func (a *mailAccount) writeStandIn() {
	for _, p := range []string{a.mta, a.copies} {
		if strings.ContainsAny(p, `'\`) {
			a.t.Fatalf("temporary folder %q cannot be quoted for the stand-in", p)
		}
	}
	script := fmt.Sprintf(`#!/bin/sh
# A recording stand-in for the MTA's sendmail, made by a tlsrpt test.
f=$(mktemp '%s/copy.XXXXXX') || exit 75
{ printf '%%s\n' "$*"; cat; } > "$f" || exit 75
[ -e '%s/refuse' ] && exit 75
exit 0
`, a.copies, a.mta)
	if err := os.WriteFile(filepath.Join(a.mta, "sendmail"), []byte(script), 0o755); err != nil {
		a.t.Fatal(err)
	}
}

// installRule installs contrib/maildrop/mailfilter as the account's
// ~/.mailfilter, with the edits the README asks of an admin: where tlsrpt
// is (and a flag: DNS goes to a closed port, so nothing leaves the test),
// and the store.
func (a *mailAccount) installRule(db string) {
	t := a.t
	rule, err := os.ReadFile("../../contrib/maildrop/mailfilter")
	if err != nil {
		t.Fatal(err)
	}
	s := string(rule)
	for _, line := range []string{ruleTLSRPTLine} {
		if strings.Count(s, "\n"+line+"\n") != 1 {
			t.Fatalf("contrib/maildrop/mailfilter no longer has the line %s that the README tells an admin to edit: update the README and this test", line)
		}
	}
	s = strings.Replace(s, ruleTLSRPTLine, fmt.Sprintf(`TLSRPT="%s filter --no-config --syslog --db %s --resolver 127.0.0.1:9"`, a.bin, db), 1)
	p := filepath.Join(a.Home, ".mailfilter")
	if err := os.WriteFile(p, []byte(s), 0o600); err != nil {
		t.Fatal(err)
	}
	a.Chown(t, p)
}

// deliver delivers a sample as Postfix does for the account: maildrop -d
// USER run as that user, here in a mount namespace of its own where the
// stand-in sendmail is laid over /usr/sbin. It returns maildrop's exit
// status (75 is a deferral) and its output.
func (a *mailAccount) deliver(sample string) (int, string) {
	t := a.t
	in, err := os.Open(sample)
	if err != nil {
		t.Fatal(err)
	}
	defer in.Close()
	const script = `mount -t overlay overlay -o "lowerdir=$1:/usr/sbin" /usr/sbin || exit 100
exec setpriv --reuid="$2" --regid="$3" --init-groups "$4" -d "$5"`
	cmd := exec.Command("unshare", "--mount", "--propagation", "private", "--",
		"/bin/sh", "-c", script, "sh", a.mta, strconv.Itoa(a.UID), strconv.Itoa(a.GID), a.maildrop, a.Name)
	cmd.Env = []string{"PATH=/usr/sbin:/usr/bin:/sbin:/bin"}
	cmd.Stdin = in
	out, err := cmd.CombinedOutput()
	var exit *exec.ExitError
	switch {
	case err == nil:
		return 0, string(out)
	case errors.As(err, &exit) && (exit.ExitCode() == 75 || exit.ExitCode() == 0):
		return exit.ExitCode(), string(out)
	}
	t.Fatalf("maildrop -d %s < %s: %v (100: the overlay on /usr/sbin failed)\n%s", a.Name, sample, err, out)
	return 0, ""
}

// mustDeliver delivers a sample and fails the test unless maildrop took it.
func (a *mailAccount) mustDeliver(sample string) {
	a.t.Helper()
	if code, out := a.deliver(sample); code != 0 {
		a.t.Fatalf("maildrop deferred %s (exit %d): the shipped rule must deliver it\n%s", filepath.Base(sample), code, out)
	}
}

// sent returns the messages the stand-in sendmail was given.
func (a *mailAccount) sent() []string {
	files, err := filepath.Glob(filepath.Join(a.copies, "copy.*"))
	if err != nil {
		a.t.Fatal(err)
	}
	var out []string
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			a.t.Fatal(err)
		}
		out = append(out, string(b))
	}
	return out
}

func (a *mailAccount) inbox() [][]byte { return maildirFiles(a.t, filepath.Join(a.Home, "Maildir")) }
func (a *mailAccount) failures() [][]byte {
	return maildirFiles(a.t, filepath.Join(a.Home, "Maildir", ".TLS-Failures"))
}

// TestMaildropRuleAsShipped delivers a report with failures and a clean one
// through the shipped rule, with real maildrop run as a new mail-only
// account whose shell is nologin and which has no Maildir yet: both are
// delivered (never deferred), filed where the rule says, the postmaster
// gets one copy, and the reports are recorded in the store the rule names,
// not in the account's home.
func TestMaildropRuleAsShipped(t *testing.T) {
	a := newMailAccount(t)
	if line := passwdLine(t, a.Name); !strings.HasSuffix(line, ":/usr/sbin/nologin\n") {
		t.Fatalf("the test account must have the nologin shell: %s", line)
	}
	a.installRule(a.db)
	a.mustDeliver(failureSample)
	a.mustDeliver(cleanSample)

	failed := a.failures()
	if len(failed) != 1 {
		t.Fatalf("%d messages in ~/Maildir/.TLS-Failures, want 1", len(failed))
	}
	if !bytes.HasPrefix(failed[0], []byte("TLS-Report-Has-Failures: 2\n")) ||
		!bytes.Contains(failed[0], []byte("certificate-expired: 2 sessions from sending-mta-ip 192.0.2.1")) {
		t.Fatalf("filed failure report lacks header or summary:\n%.600s", failed[0])
	}
	orig, _ := os.ReadFile(failureSample)
	if !bytes.Contains(failed[0], orig[bytes.Index(orig, []byte("H4sI")):]) {
		t.Fatal("the filed message's attachment and closing boundary are not byte for byte the original")
	}
	if _, err := os.Stat(filepath.Join(a.Home, "Maildir", ".TLS-Failures", "maildirfolder")); err != nil {
		t.Errorf("the rule made the failures folder without maildirmake -f: %v", err)
	}
	sent := a.sent()
	if len(sent) != 1 || !strings.HasSuffix(strings.SplitN(sent[0], "\n", 2)[0], " postmaster") ||
		!strings.Contains(sent[0], "\nTLS-Report-Has-Failures: 2\n") {
		t.Fatalf("want one copy to postmaster through sendmail, got %d: %.300q", len(sent), sent)
	}
	clean := a.inbox()
	if len(clean) != 1 || bytes.Contains(clean[0], []byte("TLS-Report-Has-Failures")) ||
		!bytes.Contains(clean[0], []byte("SMTP TLS report summary")) {
		t.Fatalf("clean report: %d in ~/Maildir, or header/summary wrong", len(clean))
	}

	if rows := reviewJSON(t, nil, "--db", a.db, "--no-bans"); rows["192.0.2.1"].Reports != 1 {
		t.Fatalf("the store the rule names (--db) lacks the report: %+v", rows)
	}
	if fi, err := os.Stat(a.db); err != nil || int(fi.Sys().(*syscall.Stat_t).Uid) != a.UID {
		t.Errorf("the store %s was not made by the mail user: %v", a.db, err)
	}
	if _, err := os.Stat(filepath.Join(a.Home, ".local", "state", "tlsrpt", "tlsrpt.db")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("the filter made a store of its own in the mail user's home: %v", err)
	}
}

// TestMaildropRuleDeferralSendsOneCopy forces deferrals (the tlsrpt binary
// missing, then a failures folder the account cannot file into) and
// delivers again: the postmaster gets one copy in all, after the message
// is filed, and the store holds the report once.
func TestMaildropRuleDeferralSendsOneCopy(t *testing.T) {
	a := newMailAccount(t)
	a.installRule(a.db)

	if err := os.Rename(a.bin, a.bin+".away"); err != nil {
		t.Fatal(err)
	}
	if code, out := a.deliver(failureSample); code != 75 {
		t.Fatalf("with the tlsrpt binary missing, maildrop must defer (75), got %d\n%s", code, out)
	}
	if err := os.Rename(a.bin+".away", a.bin); err != nil {
		t.Fatal(err)
	}
	if n := len(a.sent()); n != 0 {
		t.Fatalf("a deferred message sent %d copies to the postmaster", n)
	}

	a.mustDeliver(cleanSample) // the rule makes both folders
	tmp := filepath.Join(a.Home, "Maildir", ".TLS-Failures", "tmp")
	if err := os.Chmod(tmp, 0o500); err != nil {
		t.Fatal(err)
	}
	for try := 1; try <= 2; try++ {
		if code, out := a.deliver(failureSample); code != 75 {
			t.Fatalf("try %d: with the failures folder unwritable, maildrop must defer (75), got %d\n%s", try, code, out)
		}
		if n := len(a.sent()); n != 0 {
			t.Fatalf("try %d: deferred, yet %d copies went to the postmaster (every retry mails again)", try, n)
		}
	}
	if err := os.Chmod(tmp, 0o700); err != nil {
		t.Fatal(err)
	}
	a.mustDeliver(failureSample)
	if n, f := len(a.sent()), len(a.failures()); n != 1 || f != 1 {
		t.Fatalf("after the deferrals and one delivery: %d copies to the postmaster, %d filed; want 1 and 1", n, f)
	}
	if rows := reviewJSON(t, nil, "--db", a.db, "--no-bans"); rows["192.0.2.1"].Reports != 1 {
		t.Fatalf("the filter ran on four tries: the store must hold the report once: %+v", rows)
	}
}

// TestMaildropRuleMTARefusesCopy has the MTA refuse the postmaster's copy:
// the message, already filed, is delivered (exit 0), so no retry files it
// twice.
func TestMaildropRuleMTARefusesCopy(t *testing.T) {
	a := newMailAccount(t)
	a.installRule(a.db)
	if err := os.WriteFile(filepath.Join(a.mta, "refuse"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	a.mustDeliver(failureSample)
	if n, f := len(a.sent()), len(a.failures()); n != 1 || f != 1 {
		t.Fatalf("%d copies tried, %d filed; want 1 and 1", n, f)
	}
}

// TestMaildropRuleStoreUnwritable names a store the mail user cannot write
// (root's database, made first by root, 0600; a folder the user cannot
// make): the filter exits 0 and maildrop delivers the message, annotated,
// with the postmaster's copy; root's store is left as it was.
func TestMaildropRuleStoreUnwritable(t *testing.T) {
	for _, tc := range []struct {
		name string
		db   func(rootDir string) string
	}{
		{"root's database", func(rootDir string) string {
			db := filepath.Join(rootDir, "tlsrpt.db")
			msg, err := os.ReadFile("../../filter/testdata/mt-tlsrpt-json.eml")
			if err != nil {
				t.Fatal(err)
			}
			tlsrptOK(t, nil, msg, "filter", "--db", db, "--resolver", "127.0.0.1:9")
			if err := os.Chmod(db, 0o600); err != nil {
				t.Fatal(err)
			}
			return db
		}},
		{"a folder the user cannot make", func(rootDir string) string {
			return filepath.Join(rootDir, "missing", "tlsrpt.db")
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a := newMailAccount(t)
			rootDir := filepath.Join(filepath.Dir(a.db), "..", "root-store")
			if err := os.Mkdir(rootDir, 0o755); err != nil {
				t.Fatal(err)
			}
			db := tc.db(rootDir)
			before, _ := os.ReadFile(db)
			a.installRule(db)
			a.mustDeliver(failureSample)
			failed := a.failures()
			if len(failed) != 1 || !bytes.HasPrefix(failed[0], []byte("TLS-Report-Has-Failures: 2\n")) ||
				len(a.sent()) != 1 {
				t.Fatalf("%d filed, %d copies: want the annotated message filed and one copy", len(failed), len(a.sent()))
			}
			if after, _ := os.ReadFile(db); !bytes.Equal(before, after) {
				t.Error("the mail user changed root's store")
			}
		})
	}
}

// passwdLine returns the account's line of the passwd database.
func passwdLine(t *testing.T, name string) string {
	out, err := exec.Command("getent", "passwd", name).Output()
	if err != nil {
		t.Fatalf("getent passwd %s: %v", name, err)
	}
	return string(out)
}

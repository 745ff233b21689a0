package packaging

import (
	"bufio"
	"encoding/json"
	"errors"
	"io/fs"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strings"
	"syscall"
	"testing"

	"github.com/tlsrpt/tlsrpt/internal/usertest"
)

// installEnv turns the install test on: make test sets it. The test
// installs a package on this machine, so plain go test ./... skips it,
// naming what is missing; with it set, anything missing is a failure.
const installEnv = "TLSRPT_INSTALL_TEST"

// The sample delivered: a Google report of two failed sessions from
// 192.0.2.1, whose DKIM signature has expired (so it stays untrusted).
const (
	sample      = "../testdata/corpus/14-tlsrptdigest-google-failure.eml"
	cleanSample = "../testdata/corpus/02-mox-google-2022.eml" // no failures: maildrop mails no copy
	dmarcSample = "../dmarc/testdata/corpus/Report domain- borschow.com Submitter- google.com Report-ID- 949348866075514174.eml"
	failingIP   = "192.0.2.1"
	appleIP     = "17.1.2.3" // in the built-in allowlist's ip: range of apple.com
	deadDNS     = "127.0.0.1:9"
)

// Files of the package that make install does not install: Debian's own.
var debOnly = []string{
	"/usr/share/doc/tlsrpt/copyright",
	"/usr/share/doc/tlsrpt/changelog.gz",
	"/usr/share/lintian/overrides/tlsrpt",
}

// TestDebInstall builds the .deb, runs lintian on it, installs it with
// dpkg, checks what it installed, runs the filter as a mail user in group
// tlsrpt and allowlist check, review and redeem as root on the packaged
// configuration against the one store, upgrades it over itself, removes
// it and purges it. The machine is left as it was found: purged at the
// end, even on failure; and the test refuses to run where a tlsrpt
// package, user or folder is already there.
func TestDebInstall(t *testing.T) {
	requireInstallable(t)
	refuseExisting(t)
	deb := buildDeb(t)
	lintian(t, deb)

	t.Cleanup(func() { purgeAll(t) })
	run(t, nil, "dpkg", "--install", deb)
	checkFiles(t)
	checkUserAndFolders(t)
	verifyUnits(t)

	lines := readmeLines(t)
	mail := newMailUser(t, lines.addUser)
	state := t.TempDir() // root's state folder (allowlist check's cache), not /root's
	rootEnv := []string{"PATH=/usr/sbin:/usr/bin:/sbin:/bin", "XDG_STATE_HOME=" + state, "TLSRPT_RESOLVER=" + deadDNS}

	// Root's commands read the packaged configuration.
	if c := run(t, rootEnv, "/usr/bin/tlsrpt", "config", "filter"); !regexp.MustCompile(`\nspool = /var/lib/tlsrpt/spool +# /etc/tlsrpt/tlsrpt.conf:\d+\n`).MatchString(c) ||
		!regexp.MustCompile(`\ndb = /var/lib/tlsrpt/tlsrpt.db +# /etc/tlsrpt/tlsrpt.conf:\d+\n`).MatchString(c) {
		t.Errorf("tlsrpt config filter as root does not show the packaged settings:\n%s", c)
	}

	out := mail.filter(t, lines.filter, sample)
	if !strings.Contains(out, "TLS-Report-Has-Failures: 2\n") {
		t.Fatalf("the filter run by %s did not annotate the report:\n%.400s", mail.Name, out)
	}
	if fi, err := os.Stat("/var/lib/tlsrpt/tlsrpt.db-wal"); err == nil && fi.Mode().Perm()&0o060 != 0o060 {
		t.Errorf("the store's -wal file is %v: the group cannot write it", fi.Mode())
	}
	// The package's maildrop rule works unedited for the user: a report
	// without failures is filed in the inbox, annotated, and stored.
	if filed := mail.deliverThroughRule(t, cleanSample); !strings.HasPrefix(filed, "TLS-Report-Annotation: ") {
		t.Errorf("the message the package's rule filed was not through the filter:\n%.300s", filed)
	}
	if stats := run(t, rootEnv, "/usr/bin/tlsrpt", "stats", "--json", "--since", "2000-01-01"); !strings.Contains(stats, `"day": "2022-09-15"`) {
		t.Errorf("the report delivered through the package's rule is not in the store:\n%s", stats)
	}
	// A DMARC aggregate report (Google's, one message failing) goes
	// through the same filter as the mail user into the shared store, and
	// root reads it there, under the name it claims, marked.
	if out := mail.filter(t, lines.filter, dmarcSample); !strings.HasPrefix(out, "DMARC-Report-Has-Failures: 1\r\n") {
		t.Errorf("the filter run by %s did not annotate the DMARC report:\n%.400q", mail.Name, out)
	}
	if stats := run(t, rootEnv, "/usr/bin/tlsrpt", "stats", "--source", "dmarc", "--json", "--since", "2000-01-01"); !strings.Contains(stats, `"reporter": "google.com (unauthenticated)"`) ||
		!strings.Contains(stats, `"dmarc_fail": 1`) {
		t.Errorf("the DMARC report the mail user filtered is not in the store for root:\n%s", stats)
	}
	ignorecommand(t, rootEnv, lines.ignore, appleIP, 0)
	ignorecommand(t, rootEnv, lines.ignore, failingIP, 3) // not trusted; DNS is dead here: 3, banned all the same
	wantReviewed(t, rootEnv)
	plan := run(t, rootEnv, "/usr/bin/tlsrpt", "redeem")
	if !strings.Contains(plan, "nothing to do") {
		t.Errorf("redeem (plan) as root: %s", plan)
	}

	// An upgrade (the package over itself) keeps the store, its reports
	// and a changed configuration.
	conf, err := os.ReadFile("/etc/tlsrpt/tlsrpt.conf")
	if err != nil {
		t.Fatal(err)
	}
	changed := append(conf, []byte("\n[review]\nno-bans = true\n")...)
	if err := os.WriteFile("/etc/tlsrpt/tlsrpt.conf", changed, 0o644); err != nil {
		t.Fatal(err)
	}
	run(t, nil, "dpkg", "--install", deb)
	if got, _ := os.ReadFile("/etc/tlsrpt/tlsrpt.conf"); string(got) != string(changed) {
		t.Error("the upgrade replaced the changed /etc/tlsrpt/tlsrpt.conf")
	}
	wantReviewed(t, rootEnv)

	// Removed: the program goes, the store, the configuration and the
	// user stay.
	run(t, nil, "dpkg", "--remove", "tlsrpt")
	mustNotExist(t, "/usr/bin/tlsrpt", "/usr/lib/systemd/system/tlsrpt-serve.service")
	mustExist(t, "/var/lib/tlsrpt/tlsrpt.db", "/etc/tlsrpt/tlsrpt.conf")
	if _, err := user.Lookup("tlsrpt"); err != nil {
		t.Errorf("the tlsrpt user is gone after remove: %v", err)
	}

	// Purged: the store, the configuration, the user and the group go.
	run(t, nil, "dpkg", "--purge", "tlsrpt")
	mustNotExist(t, "/var/lib/tlsrpt", "/etc/tlsrpt")
	if _, err := user.Lookup("tlsrpt"); err == nil {
		t.Error("the tlsrpt user is still there after purge")
	}
	if _, err := user.LookupGroup("tlsrpt"); err == nil {
		t.Error("the tlsrpt group is still there after purge")
	}
}

// requireInstallable skips, or with $TLSRPT_INSTALL_TEST=1 fails, naming
// what the test needs and lacks.
func requireInstallable(t *testing.T) {
	var missing []string
	if os.Getenv(installEnv) != "1" {
		missing = append(missing, "$"+installEnv+"=1 (make test sets it: the test installs a package on this machine)")
	}
	if os.Geteuid() != 0 {
		missing = append(missing, "root")
	}
	for _, tool := range []string{"dpkg", "dpkg-query", "lintian", "systemd-analyze", "systemd-sysusers", "setpriv", "adduser", "make", "objdump"} {
		if _, err := exec.LookPath(tool); err != nil {
			missing = append(missing, tool+" (make test-deps installs it)")
		}
	}
	if len(missing) == 0 {
		return
	}
	msg := "the install test needs " + strings.Join(missing, ", ")
	if os.Getenv(installEnv) == "1" {
		t.Fatal(msg)
	}
	t.Skip(msg)
}

// refuseExisting stops the test where it could take away what it did not
// make: a tlsrpt package, user, group or folder already there.
func refuseExisting(t *testing.T) {
	var found []string
	if out, err := exec.Command("dpkg-query", "-W", "-f=${db:Status-Status}", "tlsrpt").Output(); err == nil && string(out) != "not-installed" {
		found = append(found, "the tlsrpt package ("+string(out)+")")
	}
	if _, err := user.Lookup("tlsrpt"); err == nil {
		found = append(found, "a tlsrpt user")
	}
	if _, err := user.LookupGroup("tlsrpt"); err == nil {
		found = append(found, "a tlsrpt group")
	}
	for _, p := range []string{"/var/lib/tlsrpt", "/etc/tlsrpt"} {
		if _, err := os.Lstat(p); err == nil {
			found = append(found, p)
		}
	}
	if len(found) > 0 {
		t.Fatalf("refusing to run: this machine already has %s, which the test did not make and would remove", strings.Join(found, ", "))
	}
}

// buildDeb runs make deb and returns the package it made.
func buildDeb(t *testing.T) string {
	version := strings.TrimSpace(run(t, nil, "../scripts/deb-version"))
	arch := strings.TrimSpace(run(t, nil, "go", "env", "GOARCH"))
	run(t, nil, "make", "-C", "..", "--no-print-directory", "deb")
	deb, err := filepath.Abs(filepath.Join("..", "build", "tlsrpt_"+version+"_"+arch+".deb"))
	if err != nil {
		t.Fatal(err)
	}
	mustExist(t, deb)
	return deb
}

// lintian fails on any error or warning lintian finds; the kept ones are
// overridden, each with its reason, in packaging/lintian-overrides.
func lintian(t *testing.T, deb string) {
	out, err := exec.Command("lintian", "--fail-on", "error,warning", deb).CombinedOutput()
	if err != nil {
		t.Fatalf("lintian %s: %v\n%s", deb, err, out)
	}
	for _, l := range strings.Split(string(out), "\n") {
		if strings.HasPrefix(l, "E:") || strings.HasPrefix(l, "W:") {
			t.Errorf("lintian: %s", l)
		}
	}
}

// checkFiles: the package holds what make install installs under /usr
// (and /etc), plus Debian's own files; the configuration is a conffile.
func checkFiles(t *testing.T) {
	listed := strings.Fields(run(t, nil, "dpkg-query", "-L", "tlsrpt"))
	var got []string
	for _, p := range listed {
		if fi, err := os.Lstat(p); err == nil && !fi.IsDir() && !slices.Contains(debOnly, p) {
			got = append(got, p)
		}
	}
	dest := t.TempDir()
	run(t, nil, "make", "-C", "..", "--no-print-directory", "install", "DESTDIR="+dest, "PREFIX=/usr")
	var want []string
	filepath.WalkDir(dest, func(p string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			want = append(want, strings.TrimPrefix(p, dest))
		}
		return err
	})
	sort.Strings(got)
	sort.Strings(want)
	if !slices.Equal(got, want) {
		t.Errorf("the package and make install differ:\npackage: %q\ninstall: %q", got, want)
	}
	mustExist(t, append(debOnly, "/usr/bin/tlsrpt", "/usr/share/man/man1/tlsrpt.1.gz", "/usr/share/man/man1/tlsrpt-filter.1.gz",
		"/usr/share/bash-completion/completions/tlsrpt", "/usr/share/zsh/vendor-completions/_tlsrpt",
		"/usr/share/fish/vendor_completions.d/tlsrpt.fish", "/usr/share/doc/tlsrpt/security.md",
		"/usr/share/doc/tlsrpt/examples/maildrop/mailfilter", "/usr/share/doc/tlsrpt/examples/fail2ban/tlsrpt.local",
		"/usr/share/doc/tlsrpt/examples/ipqbdb/commands.conf", "/usr/share/doc/tlsrpt/examples/postgresql/grants.sql",
		"/usr/lib/tlsrpt/tlsrpt-mail")...)
	if c := run(t, nil, "dpkg-query", "-W", "-f=${Conffiles}", "tlsrpt"); !strings.Contains(c, "/etc/tlsrpt/tlsrpt.conf ") {
		t.Errorf("/etc/tlsrpt/tlsrpt.conf is not a conffile: %q", c)
	}
	man := run(t, nil, "sh", "-c", "zcat /usr/share/man/man1/tlsrpt-filter.1.gz")
	if strings.Contains(man, "docs/security.md") || !strings.Contains(man, "/usr/share/doc/tlsrpt/security.md") {
		t.Error("the manual pages do not name the installed /usr/share/doc/tlsrpt/security.md")
	}
}

// checkUserAndFolders: the system user and group, and the store's folders
// owned by the group, group-writable and setgid.
func checkUserAndFolders(t *testing.T) {
	u, err := user.Lookup("tlsrpt")
	if err != nil {
		t.Fatal(err)
	}
	g, err := user.LookupGroup("tlsrpt")
	if err != nil {
		t.Fatal(err)
	}
	if pw := run(t, nil, "getent", "passwd", "tlsrpt"); !strings.HasSuffix(strings.TrimSpace(pw), ":/usr/sbin/nologin") {
		t.Errorf("the tlsrpt user can log in: %s", pw)
	}
	for p, mode := range map[string]fs.FileMode{
		"/var/lib/tlsrpt":           fs.ModeDir | fs.ModeSetgid | 0o775,
		"/var/lib/tlsrpt/spool":     fs.ModeDir | fs.ModeSetgid | 0o775,
		"/var/lib/tlsrpt/tlsrpt.db": 0o660,
	} {
		fi, err := os.Stat(p)
		if err != nil {
			t.Error(err)
			continue
		}
		st := fi.Sys().(*syscall.Stat_t)
		if fi.Mode() != mode || st.Uid != 0 || strings.TrimSpace(g.Gid) != itoa(st.Gid) {
			t.Errorf("%s: %v uid %d gid %d, want %v root:tlsrpt (gid %s)", p, fi.Mode(), st.Uid, st.Gid, mode, g.Gid)
		}
	}
	_ = u
	if fi, err := os.Stat("/etc/tlsrpt/tlsrpt.conf"); err != nil || fi.Mode().Perm() != 0o644 {
		t.Errorf("/etc/tlsrpt/tlsrpt.conf: %v, %v", fi, err)
	}
}

// verifyUnits runs systemd-analyze verify on every unit of the package,
// and checks that the package enabled none: nothing listens, nothing runs
// on a timer, until an admin says so.
func verifyUnits(t *testing.T) {
	if enabled, _ := filepath.Glob("/etc/systemd/system/*/tlsrpt-*"); len(enabled) > 0 {
		t.Errorf("the package enabled units: %q", enabled)
	}
	for _, u := range []string{"tlsrpt-serve.service", "tlsrpt-dashboard.service", "tlsrpt-prune.service"} {
		b, err := os.ReadFile("/usr/lib/systemd/system/" + u)
		for _, want := range []string{"\nUser=tlsrpt\n", "\nNoNewPrivileges=yes\n", "\nProtectSystem=strict\n", "\nReadWritePaths=/var/lib/tlsrpt\n", "\nPrivateTmp=yes\n"} {
			if err != nil || !strings.Contains(string(b), want) {
				t.Errorf("%s lacks %q (%v)", u, strings.TrimSpace(want), err)
			}
		}
	}
	units, _ := filepath.Glob("/usr/lib/systemd/system/tlsrpt-*")
	if len(units) != 8 {
		t.Errorf("units %q: want serve, dashboard, and digest, redeem and prune with their timers", units)
	}
	for _, u := range units {
		out, err := exec.Command("systemd-analyze", "verify", u).CombinedOutput()
		if err != nil || len(strings.TrimSpace(string(out))) > 0 {
			t.Errorf("systemd-analyze verify %s: %v\n%s", u, err, out)
		}
	}
}

// adminLines are the README's three lines an admin adds after installing.
type adminLines struct {
	filter, ignore, addUser string
}

// readmeLines finds them in the README's install section.
func readmeLines(t *testing.T) adminLines {
	f, err := os.Open("../README.md")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var l adminLines
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := sc.Text()
		switch {
		case strings.HasPrefix(line, `TLSRPT="`) && l.filter == "":
			l.filter = line
		case strings.HasPrefix(line, "ignorecommand = ") && l.ignore == "":
			l.ignore = line
		case strings.HasPrefix(line, "sudo adduser ") && l.addUser == "":
			l.addUser = line
		}
	}
	if l.filter == "" || l.ignore == "" || l.addUser == "" {
		t.Fatalf("the README's install section lacks one of its three lines: %+v", l)
	}
	for file, line := range map[string]string{"../contrib/maildrop/mailfilter": l.filter, "../contrib/fail2ban/tlsrpt.local": l.ignore} {
		b, err := os.ReadFile(file)
		if err != nil || !strings.Contains(string(b), "\n"+line+"\n") {
			t.Errorf("%s lacks the README's line %q", file, line)
		}
	}
	return l
}

// mailUser is a mail-only account made for the test, as maildrop's user.
type mailUser struct{ *usertest.User }

// newMailUser makes a system user and adds it to group tlsrpt with the
// README's line (vmail replaced by its name, without sudo).
func newMailUser(t *testing.T, addLine string) *mailUser {
	m := &mailUser{usertest.New(t, "tlsrpt-it-", filepath.Join(usertest.SharedDir(t), "home"))}
	args := strings.Fields(strings.TrimPrefix(addLine, "sudo "))
	if len(args) != 3 || args[0] != "adduser" || args[1] != "vmail" || args[2] != "tlsrpt" {
		t.Fatalf("the README's line %q is not adduser vmail tlsrpt", addLine)
	}
	args[1] = m.Name
	run(t, nil, args[0], args[1:]...)
	return m
}

// deliverThroughRule installs the package's maildrop rule, unedited, as
// the user's ~/.mailfilter and delivers a report without failures with
// maildrop -d, as the MTA does; it returns the message filed in the inbox.
func (m *mailUser) deliverThroughRule(t *testing.T, msg string) string {
	rule, err := os.ReadFile("/usr/share/doc/tlsrpt/examples/maildrop/mailfilter")
	if err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(m.Home, ".mailfilter")
	if err := os.WriteFile(p, rule, 0o600); err != nil {
		t.Fatal(err)
	}
	m.Chown(t, p)
	in, err := os.Open(msg)
	if err != nil {
		t.Fatal(err)
	}
	defer in.Close()
	cmd := m.Command("maildrop", "-d", m.Name)
	cmd.Env = []string{"PATH=/usr/bin:/bin", "TLSRPT_RESOLVER=" + deadDNS}
	cmd.Stdin = in
	cmd.Dir = "/"
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("maildrop -d %s through the package's rule: %v\n%s", m.Name, err, out)
	}
	files, _ := filepath.Glob(filepath.Join(m.Home, "Maildir", "new", "*"))
	if len(files) != 1 {
		t.Fatalf("the package's rule filed %d messages in the inbox, want 1", len(files))
	}
	b, err := os.ReadFile(files[0])
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// filter runs the README's filter command as the mail user, with its
// groups, as maildrop's xfilter does, on msg; it returns stdout.
func (m *mailUser) filter(t *testing.T, line, msg string) string {
	command := strings.TrimSuffix(strings.TrimPrefix(line, `TLSRPT="`), `"`)
	in, err := os.Open(msg)
	if err != nil {
		t.Fatal(err)
	}
	defer in.Close()
	args := strings.Fields(command)
	cmd := m.Command(args[0], args[1:]...)
	cmd.Env = []string{"PATH=/usr/bin:/bin", "HOME=/nonexistent", "TLSRPT_RESOLVER=" + deadDNS}
	cmd.Stdin = in
	cmd.Dir = "/"
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("%s as %s: %v\n%s", command, m.Name, err, stderr.String())
	}
	return string(out)
}

// ignorecommand runs the README's fail2ban line for ip as fail2ban does
// (as root, <ip> replaced) and wants the exit status want.
func ignorecommand(t *testing.T, env []string, line, ip string, want int) {
	args := strings.Fields(strings.ReplaceAll(strings.TrimPrefix(line, "ignorecommand = "), "<ip>", ip))
	cmd := exec.Command(args[0], args[1:]...)
	cmd.Env = env
	out, err := cmd.CombinedOutput()
	got := 0
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		got = ee.ExitCode()
	} else if err != nil {
		t.Fatal(err)
	}
	if got != want {
		t.Errorf("%s: exit %d, want %d\n%s", strings.Join(args, " "), got, want, out)
	}
}

// wantReviewed: root's review, on the packaged configuration, lists the
// address of the report the mail user's filter stored.
func wantReviewed(t *testing.T, env []string) {
	out := run(t, env, "/usr/bin/tlsrpt", "review", "--json", "--no-bans")
	var rows []struct {
		IP             string `json:"ip"`
		FailedSessions int    `json:"failed_sessions"`
	}
	if err := json.Unmarshal([]byte(out), &rows); err != nil {
		t.Fatalf("review --json: %v\n%s", err, out)
	}
	if len(rows) != 1 || rows[0].IP != failingIP || rows[0].FailedSessions != 2 {
		t.Errorf("review as root lists %+v, want %s with 2 failed sessions", rows, failingIP)
	}
}

// purgeAll takes the package and what it made off the machine, whatever
// state the test stopped in.
func purgeAll(t *testing.T) {
	if out, err := exec.Command("dpkg", "--purge", "tlsrpt").CombinedOutput(); err != nil {
		t.Errorf("dpkg --purge tlsrpt: %v\n%s", err, out)
	}
	if _, err := user.Lookup("tlsrpt"); err == nil {
		exec.Command("userdel", "tlsrpt").Run()
	}
	if _, err := user.LookupGroup("tlsrpt"); err == nil {
		exec.Command("groupdel", "tlsrpt").Run()
	}
	os.RemoveAll("/var/lib/tlsrpt")
	os.RemoveAll("/etc/tlsrpt")
}

// run runs a command (env nil: the test's) and returns its stdout; it
// fails the test when the command fails.
func run(t *testing.T, env []string, name string, args ...string) string {
	t.Helper()
	cmd := exec.Command(name, args...)
	cmd.Env = env
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("%s %s: %v\n%s%s", name, strings.Join(args, " "), err, out, stderr.String())
	}
	return string(out)
}

func mustExist(t *testing.T, paths ...string) {
	t.Helper()
	for _, p := range paths {
		if _, err := os.Lstat(p); err != nil {
			t.Errorf("missing: %v", err)
		}
	}
}

func mustNotExist(t *testing.T, paths ...string) {
	t.Helper()
	for _, p := range paths {
		if _, err := os.Lstat(p); err == nil {
			t.Errorf("%s is still there", p)
		}
	}
}

func itoa(n uint32) string {
	b := make([]byte, 0, 10)
	for {
		b = append([]byte{byte('0' + n%10)}, b...)
		n /= 10
		if n == 0 {
			return string(b)
		}
	}
}

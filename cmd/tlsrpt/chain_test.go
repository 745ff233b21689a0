package main

import (
	"bytes"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/tlsrpt/tlsrpt/internal/dnstest"
	"github.com/tlsrpt/tlsrpt/internal/f2btest"
	"github.com/tlsrpt/tlsrpt/internal/golden"
	"github.com/tlsrpt/tlsrpt/internal/netnstest"
	"github.com/tlsrpt/tlsrpt/internal/storetest"
	"github.com/tlsrpt/tlsrpt/internal/testenv"
)

// TestTrustChain runs report messages through the real tlsrpt filter and
// review against a real DNS server (dnsmasq) holding the reporters' DKIM
// keys, Google's SPF record and reverse DNS: a report signed by google.com
// makes its Google address trusted; every forged report leaves its address
// untrusted, with a why that says what is missing.
func TestTrustChain(t *testing.T) {
	testenv.MustHaveExec(t, "dnsmasq", "dnsmasq-base")
	dns := dnstest.Start(t, chainRecords(t))
	dir := t.TempDir()
	db := filepath.Join(dir, "tlsrpt.db")
	bigmail := writeFile(t, dir, "bigmail.list", "# a sender proven by reverse DNS only\n"+bigmailDomain+" rdns:mail."+bigmailDomain+"\n")
	base := []string{"--db", db, "--resolver", dns, "--allowlist", bigmail}
	maildir := filepath.Join(dir, "Maildir", "cur")
	if err := os.MkdirAll(maildir, 0o700); err != nil {
		t.Fatal(err)
	}
	delivered := 0
	filter := func(msg []byte, extra ...string) result {
		t.Helper()
		r := tlsrptOK(t, nil, msg, append(append([]string{"filter"}, base...), extra...)...)
		if r.stderr != "" {
			t.Errorf("filter wrote to stderr: %s", r.stderr)
		}
		if len(extra) == 0 { // what maildrop would file
			delivered++
			writeFile(t, maildir, fmt.Sprintf("%d.tlsrpt:2,S", delivered), r.stdout)
		}
		return r
	}

	// The genuine report: signed by google.com, naming an address in
	// Google's SPF range and one outside it.
	genuine := dkimSign(t, reportMessage("google.com", "2026-11-21T00:00:00Z_genuine", []failure{
		{googleIP, 3, "certificate-expired"}, {outsideIP, 2, "starttls-not-supported"}}), "google.com")
	r := filter(genuine)
	out := lf(r.stdout)
	for _, want := range []string{
		"TLS-Report-Has-Failures: 5\n",
		"\nAuthentication: dkim pass for google.com: dkim pass d=google.com matches reporter google.com\n",
		"\n  " + googleIP + ": trusted, google.com: DKIM-authenticated report, " + googleIP + " passes SPF for _spf.google.com. If it is banned: tlsrpt redeem (plan), tlsrpt redeem --apply\n",
		"\n  " + outsideIP + ": not trusted: " + outsideIP + " is not google.com's: fails SPF for _spf.google.com (softfail)",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("filter output lacks %q:\n%s", want, out)
		}
	}
	if !strings.HasPrefix(r.stdout, "TLS-Report-Has-Failures: 5\r\n") {
		t.Errorf("header not first:\n%.200s", r.stdout)
	}

	// The forged reports, each naming addresses of its own.
	unsigned := reportMessage("google.com", "2026-11-21T00:00:00Z_unsigned", []failure{{"209.85.220.50", 1, "validation-failure"}})
	filter(unsigned)
	evil := dkimSign(t, reportMessage("google.com", "2026-11-21T00:00:00Z_evil", []failure{{"209.85.220.51", 1, "validation-failure"}}), "evil.example")
	filter(evil)
	banner := append(dkimSign(t, reportMessage("google.com", "2026-11-21T00:00:00Z_banner", []failure{{"209.85.220.52", 1, "validation-failure"}}), "google.com"),
		[]byte("\r\n-- \r\nScanned by GatewayGuard, have a safe day\r\n")...)
	filter(banner)
	authres := append([]byte("Authentication-Results: mx.evil.example; dkim=pass header.d=google.com header.s=sel\r\n"),
		reportMessage("google.com", "2026-11-21T00:00:00Z_authres", []failure{{"209.85.220.53", 1, "validation-failure"}})...)
	if r := filter(authres); !strings.Contains(lf(r.stdout), "Authentication: not authenticated: no DKIM signature; authres from untrusted authserv-id mx.evil.example ignored\n") {
		t.Errorf("foreign Authentication-Results: filter says\n%s", r.stdout)
	}
	rdns := dkimSign(t, reportMessage(bigmailDomain, "2026-11-21T00:00:00Z_rdns", []failure{
		{rdnsBadIP, 1, "validation-failure"}, {rdnsGoodIP, 1, "validation-failure"}}), bigmailDomain)
	filter(rdns)
	// Mail.ru reports as mail.ru and signs as corp.mail.ru: the same
	// organizational domain, so authentic.
	filter(dkimSign(t, reportMessage("mail.ru", "2026-11-21T00:00:00Z_mailru", []failure{{mailruIP, 2, "sts-policy-invalid"}}), "corp.mail.ru"))
	// Anyone can have a comcast.net mailbox, which Comcast signs: such a
	// report naming a Comcast residential line proves nothing (the
	// built-in entry has no rdns:comcast.net).
	filter(dkimSign(t, reportMessage("comcast.net", "2026-11-21T00:00:00Z_comcast", []failure{{residentialIP, 1, "validation-failure"}}), "comcast.net"))

	rows := reviewJSON(t, nil, append(base, "--no-bans")...)
	wantRow(t, rows, googleIP, true, "google.com", "DKIM-authenticated report", "passes SPF for _spf.google.com")
	wantRow(t, rows, outsideIP, false, outsideIP+" is not google.com's", "fails SPF for _spf.google.com")
	wantRow(t, rows, "209.85.220.50", false, "no authenticated report", "no DKIM signature")
	wantRow(t, rows, "209.85.220.51", false, "no authenticated report", "dkim pass d=evil.example does not match reporter google.com")
	wantRow(t, rows, "209.85.220.52", false, "no authenticated report", "dkim fail d=google.com: body hash did not verify")
	wantRow(t, rows, "209.85.220.53", false, "no authenticated report", "authres from untrusted authserv-id mx.evil.example ignored")
	wantRow(t, rows, rdnsBadIP, false, "no forward-confirmed rDNS under mail."+bigmailDomain,
		"out1.mail."+bigmailDomain+" does not resolve to "+rdnsBadIP)
	wantRow(t, rows, rdnsGoodIP, true, bigmailDomain+": DKIM-authenticated report",
		rdnsGoodIP+" has forward-confirmed rDNS out2.mail."+bigmailDomain+" under mail."+bigmailDomain)
	wantRow(t, rows, mailruIP, true, "mail.ru: DKIM-authenticated report", mailruIP+" passes SPF for _spf.mail.ru")
	wantRow(t, rows, residentialIP, false, residentialIP+" is not comcast.net's: fails SPF for comcast.net")
	if len(rows) != 10 {
		t.Errorf("review lists %d addresses, want 10", len(rows))
	}

	// The table has the trust columns too.
	table := tlsrptOK(t, nil, nil, append([]string{"review", "--no-bans"}, base...)...).stdout
	if !regexp.MustCompile(`(?m)^IP .* TRUSTED +BANNED +OUTCOME +WHY$`).MatchString(table) ||
		!regexp.MustCompile(`(?m)^`+regexp.QuoteMeta(googleIP)+` .* yes +- +- +google\.com: DKIM`).MatchString(table) ||
		!regexp.MustCompile(`(?m)^209\.85\.220\.50 .* no +- +- +no authenticated report`).MatchString(table) {
		t.Errorf("review table:\n%s", table)
	}

	// Answers are cached in the database: with the DNS server unreachable,
	// review gives the same verdicts.
	offline := reviewJSON(t, nil, "--db", db, "--resolver", deadResolver(t), "--allowlist", bigmail, "--no-bans")
	for ip, row := range rows {
		if o := offline[ip]; o.Trusted != row.Trusted || o.Why != row.Why {
			t.Errorf("%s offline: trusted %v (%s), online %v (%s)", ip, o.Trusted, o.Why, row.Trusted, row.Why)
		}
	}

	// The database is lost: importing the annotated messages the filter
	// delivered gives every address the same verdict, because import
	// verifies the signatures on the bytes that came (the annotation
	// says how to undo the summary).
	rebuilt := filepath.Join(dir, "rebuilt.db")
	tlsrptOK(t, nil, nil, "import", filepath.Dir(maildir), "--db", rebuilt, "--resolver", dns, "--allowlist", bigmail)
	again := reviewJSON(t, nil, "--db", rebuilt, "--resolver", dns, "--allowlist", bigmail, "--no-bans")
	if len(again) != len(rows) {
		t.Errorf("after import: %d addresses, before %d", len(again), len(rows))
	}
	for ip, row := range rows {
		if a := again[ip]; a.Trusted != row.Trusted || a.Why != row.Why {
			t.Errorf("%s after import: trusted %v (%s), before %v (%s)", ip, a.Trusted, a.Why, row.Trusted, row.Why)
		}
	}

	// The same Authentication-Results field counts once its authserv-id
	// is ours: filtering the message again upgrades the stored verdict.
	r = filter(authres, "--trust-authserv-id", "mx.evil.example")
	if !strings.Contains(lf(r.stdout), "Authentication: authres pass for google.com: authres mx.evil.example: dkim=pass d=google.com matches reporter google.com\n") {
		t.Errorf("trusted authserv-id: filter says\n%s", r.stdout)
	}
	// The same field placed by the sender below a Received field of a
	// host that is not ours never counts, whatever its authserv-id.
	below := append([]byte("Received: from attacker.example by relay.attacker.example; Sat, 21 Nov 2026 10:00:00 +0000\r\n"+
		"Authentication-Results: mx.evil.example; dkim=pass header.d=google.com header.s=sel\r\n"),
		reportMessage("google.com", "2026-11-21T00:00:00Z_below", []failure{{"209.85.220.54", 1, "validation-failure"}})...)
	if r := filter(below, "--trust-authserv-id", "mx.evil.example"); !strings.Contains(lf(r.stdout), "below a Received field by foreign host relay.attacker.example") {
		t.Errorf("forged Authentication-Results below a foreign hop: filter says\n%s", r.stdout)
	}
	rows = reviewJSON(t, nil, append(base, "--no-bans")...)
	wantRow(t, rows, "209.85.220.54", false, "no authenticated report")
	wantRow(t, rows, "209.85.220.53", true, "google.com: report authenticated by our Authentication-Results", "passes SPF for _spf.google.com")
	wantRow(t, rows, "209.85.220.50", false, "no DKIM signature")

	// Without the built-in list Google is nobody.
	rows = reviewJSON(t, nil, "--db", db, "--resolver", dns, "--no-default-allowlist", "--no-bans")
	wantRow(t, rows, googleIP, false, "reporter google.com is not on the allowlist")
	wantRow(t, rows, rdnsGoodIP, false, "reporter "+bigmailDomain+" is not on the allowlist")

	// A malformed allowlist file is refused with file, line and reason.
	bad := writeFile(t, dir, "bad.list", "# ok so far\ngoogle.com spf:_spf.google.com\ncorp.example ip:300.1.2.0/24\n")
	wantLine := regexp.MustCompile(`^tlsrpt: review: ` + regexp.QuoteMeta(bad) + `:3: bad ip: "300\.1\.2\.0/24": .*\(fix the file or drop --allowlist\)\n$`)
	if r := tlsrpt(t, nil, nil, "review", "--db", db, "--resolver", dns, "--allowlist", bad, "--no-bans"); r.code == 0 || !wantLine.MatchString(r.stderr) {
		t.Errorf("review with a malformed allowlist: exit %d, stderr %q", r.code, r.stderr)
	}
	// The filter never fails a delivery: it passes the message through
	// with the problem in the header and on stderr.
	r = tlsrpt(t, nil, genuine, "filter", "--db", db, "--resolver", dns, "--allowlist", bad)
	if r.code != 0 || !strings.HasPrefix(r.stdout, "TLS-Report-Has-Failures: tlsrpt filter misconfigured: allowlist: "+bad+":3: bad ip:") ||
		!strings.Contains(r.stderr, bad+":3: bad ip:") || !bytes.HasSuffix([]byte(r.stdout), genuine) {
		t.Errorf("filter with a malformed allowlist: exit %d\nstderr %q\nstdout %.300q", r.code, r.stderr, r.stdout)
	}
}

// TestCorpusThroughChain runs every real report message of the corpus
// through tlsrpt filter against the test DNS server: each gets its header
// as expected, and none is trusted, since their reporters' real DKIM keys
// are not in this DNS.
func TestCorpusThroughChain(t *testing.T) {
	testenv.MustHaveExec(t, "dnsmasq", "dnsmasq-base")
	dns := dnstest.Start(t, chainRecords(t))
	db := filepath.Join(t.TempDir(), "tlsrpt.db")
	// The TLS-Report-Has-Failures value of each message; "" for none. A
	// new corpus message fails the test until it has its entry here.
	want := map[string]string{
		"01-mox-microsoft-2023.eml":               "",
		"02-mox-google-2022.eml":                  "",
		"03-parsedmarc-google-2024.eml":           "",
		"12-mailtlsrpt-google-2020.eml":           "",
		"13-tlsrptdigest-microsoft-html-2026.eml": "",
		"14-tlsrptdigest-google-failure.eml":      "2",
		"15-mailauth-wrong-ctype-plainjson.eml":   "1",
	}
	files, err := filepath.Glob("../../testdata/corpus/*.eml")
	if err != nil || len(files) == 0 {
		t.Fatalf("no corpus messages: %v", err)
	}
	facts := map[string]func(*testing.T, result){}
	for name, header := range want {
		facts[name] = func(t *testing.T, r result) { checkCorpusFiltered(t, header, r) }
	}
	golden.Facts(t, files, func(t *testing.T, path string) result {
		msg, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		return tlsrptOK(t, nil, msg, "filter", "--db", db, "--resolver", dns)
	}, facts)
	rows := reviewJSON(t, nil, "--db", db, "--resolver", dns, "--no-bans")
	if len(rows) == 0 {
		t.Fatal("review lists no address from the corpus")
	}
	var ips []string
	for ip, row := range rows {
		ips = append(ips, ip)
		if row.Trusted || row.Why == "" {
			t.Errorf("%s: trusted %v, why %q", ip, row.Trusted, row.Why)
		}
	}
	slices.Sort(ips)
	if !slices.Equal(ips, []string{"123.123.123.123", "192.0.2.1"}) {
		t.Errorf("review lists %v", ips)
	}
}

// checkCorpusFiltered checks what the filter made of a corpus message
// against the test DNS: header is its TLS-Report-Has-Failures value, ""
// for none; the summary is there and says it is not authenticated.
func checkCorpusFiltered(t *testing.T, header string, r result) {
	t.Helper()
	first, _, _ := strings.Cut(r.stdout, "\n")
	first = strings.TrimSuffix(first, "\r")
	switch {
	case header == "" && strings.HasPrefix(first, "TLS-Report-Has-Failures"):
		t.Errorf("unexpected %s", first)
	case header != "" && first != "TLS-Report-Has-Failures: "+header:
		t.Errorf("first line %q, want TLS-Report-Has-Failures: %s", first, header)
	}
	if !strings.Contains(r.stdout, "SMTP TLS report summary") {
		t.Errorf("no summary")
	}
	// The summary may be quoted-printable inside a QP text part.
	unfolded := strings.NewReplacer("=\r\n", "", "=\n", "", "=3D", "=").Replace(r.stdout)
	if !strings.Contains(unfolded, "Authentication: not authenticated: ") || strings.Contains(unfolded, ": trusted, ") {
		t.Errorf("authenticated or trusted against a DNS without its keys:\n%s", unfolded)
	}
	if strings.Contains(r.stderr, "tlsrpt:") && header != "" && !strings.Contains(r.stderr, "not recorded") {
		// problems go to stderr only for messages whose header is a problem
		t.Errorf("stderr %q", r.stderr)
	}
}

// lf turns CRLF line ends into LF, for matching lines of a CRLF message.
func lf(s string) string { return strings.ReplaceAll(s, "\r\n", "\n") }

// TestRedeemChain is the whole chain of a redemption with a real
// fail2ban-server: an address banned by our fail2ban and named by a report
// signed by google.com is shown, planned (nothing changes), redeemed
// (unbanned, ignored now and after a reload, through the drop-in), and a
// second run does nothing; the address named only by a forged report
// stays banned until the operator names it.
func TestRedeemChain(t *testing.T) {
	testenv.MustHaveExec(t, "dnsmasq", "dnsmasq-base")
	s := startF2B(t, nil)
	s.Client("set", mailJail, "banip", googleIP)
	s.Client("set", mailJail, "banip", forgedIP)
	actionsLog := s.ActionsPath
	f2btest.WaitFor(t, "the dummy action to ban both", func() bool {
		b, _ := os.ReadFile(actionsLog)
		return strings.Contains(string(b), "ban "+googleIP+"\n") && strings.Contains(string(b), "ban "+forgedIP+"\n")
	})
	w := newChainWorld(t)
	jaild := filepath.Join(s.Dir, "jail.d")
	dropIn := filepath.Join(jaild, "tlsrpt-redeemed.local")
	f2bFlags := []string{"--backend", "fail2ban", "--fail2ban-socket", s.Socket}
	redeemFlags := append(append(append([]string{"redeem"}, w.flags()...), f2bFlags...), "--fail2ban-jaild", jaild)

	// review shows where each address is banned.
	rows := reviewJSON(t, nil, append(w.flags(), f2bFlags...)...)
	wantRow(t, rows, googleIP, true, "google.com: DKIM-authenticated report", "passes SPF for _spf.google.com")
	wantRow(t, rows, forgedIP, false, "no authenticated report", "no DKIM signature")
	for _, ip := range []string{googleIP, forgedIP} {
		if b := rows[ip].Banned; len(b) != 1 || b[0].Backend != "fail2ban" || b[0].Where != mailJail || len(rows[ip].BannedUnknown) != 0 {
			t.Errorf("review: %s banned %+v (unknown %q), want in fail2ban jail %s", ip, b, rows[ip].BannedUnknown, mailJail)
		}
	}

	// The plan, without --apply: exact commands, and nothing changes.
	client := "fail2ban-client -s " + s.Socket
	r := tlsrptOK(t, nil, nil, redeemFlags...)
	wantPlan := googleIP + " (trusted: " + rows[googleIP].Why + ")\n" +
		"  fail2ban: banned in " + mailJail + "\n" +
		"  keep fail2ban: ignore " + googleIP + " in jail mailjail now (runtime ignoreip)\n" +
		"      " + client + " set mailjail addignoreip " + googleIP + "\n" +
		"  keep fail2ban: add " + googleIP + " to [mailjail] ignoreip in " + dropIn + ", so a reload keeps ignoring it\n" +
		"  unban fail2ban: unban " + googleIP + " in jail mailjail\n" +
		"      " + client + " set mailjail unbanip " + googleIP + "\n" +
		"\n3 actions planned; nothing changed. Run again with --apply to carry them out.\n"
	if r.stdout != wantPlan {
		t.Errorf("plan:\n%s\nwant:\n%s", r.stdout, wantPlan)
	}
	if got := s.Banned(mailJail); !sameSet(got, googleIP, forgedIP) {
		t.Errorf("after the plan, banned %v; want both still banned", got)
	}
	if slices.Contains(s.Ignored(mailJail), googleIP) {
		t.Error("the plan added the address to ignoreip")
	}
	if _, err := os.Stat(dropIn); !os.IsNotExist(err) {
		t.Errorf("the plan wrote the drop-in: %v", err)
	}

	// --apply carries it out.
	r = tlsrptOK(t, nil, nil, append(redeemFlags, "--apply")...)
	if !strings.HasSuffix(r.stdout, "\napplied:\n"+
		"  fail2ban: ignore "+googleIP+" in jail mailjail now (runtime ignoreip): ok\n"+
		"  fail2ban: add "+googleIP+" to [mailjail] ignoreip in "+dropIn+", so a reload keeps ignoring it: ok\n"+
		"  fail2ban: unban "+googleIP+" in jail mailjail: ok\n") {
		t.Errorf("apply:\n%s", r.stdout)
	}
	if got := s.Banned(mailJail); !sameSet(got, forgedIP) {
		t.Errorf("after apply, banned %v; want only the forged report's %s", got, forgedIP)
	}
	if got := s.Ignored(mailJail); !sameSet(got, "127.0.0.0/8", "192.0.2.200", googleIP) {
		t.Errorf("after apply, ignoreip %v", got)
	}
	if b, _ := os.ReadFile(actionsLog); !strings.Contains(string(b), "unban "+googleIP+"\n") {
		t.Errorf("fail2ban's action did not unban: %s", b)
	}
	data, err := os.ReadFile(dropIn)
	if err != nil {
		t.Fatalf("drop-in: %v", err)
	}
	if !strings.HasSuffix(string(data), "\n[mailjail]\nignoreip = %(known/ignoreip)s "+googleIP+"\n") {
		t.Errorf("drop-in:\n%s", data)
	}

	// A reload reads the drop-in: still ignored, the operator's ignoreip
	// kept, the forged report's address still banned.
	s.Client("reload")
	if got := s.Ignored(mailJail); !sameSet(got, "127.0.0.0/8", "192.0.2.200", googleIP) {
		t.Errorf("after reload, ignoreip %v", got)
	}
	if got := s.Banned(mailJail); !sameSet(got, forgedIP) {
		t.Errorf("after reload, banned %v", got)
	}

	// The ignore works: a log line bans a bystander, not the redeemed
	// address.
	const bystander = "203.0.113.99"
	s.LogLine("fail from " + googleIP)
	s.LogLine("fail from " + bystander)
	f2btest.WaitFor(t, "the log line to ban "+bystander, func() bool { return slices.Contains(s.Banned(mailJail), bystander) })
	if got := s.Banned(mailJail); !sameSet(got, forgedIP, bystander) {
		t.Errorf("after the log lines, banned %v", got)
	}

	// A second run does nothing.
	r = tlsrptOK(t, nil, nil, append(redeemFlags, "--apply")...)
	if !strings.Contains(r.stdout, "nothing to do\n") || strings.Contains(r.stdout, "applied:") {
		t.Errorf("second run:\n%s", r.stdout)
	}
	rows = reviewJSON(t, nil, append(w.flags(), f2bFlags...)...)
	if len(rows[googleIP].Banned) != 0 || len(rows[forgedIP].Banned) != 1 {
		t.Errorf("review after redeem: %s banned %+v, %s banned %+v", googleIP, rows[googleIP].Banned, forgedIP, rows[forgedIP].Banned)
	}

	// A manual ban ignores ignoreip: the next run unbans again, and only
	// that.
	s.Client("set", mailJail, "banip", googleIP)
	r = tlsrptOK(t, nil, nil, append(redeemFlags, "--apply")...)
	if !strings.HasSuffix(r.stdout, "\napplied:\n  fail2ban: unban "+googleIP+" in jail mailjail: ok\n") {
		t.Errorf("redeem after a manual ban:\n%s", r.stdout)
	}
	if got := s.Banned(mailJail); slices.Contains(got, googleIP) {
		t.Errorf("after the manual ban and redeem, banned %v", got)
	}

	// The audit log: the three actions planned, then applied.
	logOut := tlsrptOK(t, nil, nil, "redeem", "log", "--db", w.db).stdout
	if strings.Contains(logOut, forgedIP) ||
		strings.Count(logOut, " planned ") != 3 || strings.Count(logOut, " applied ok ") != 4 ||
		!regexp.MustCompile(`(?m)^\S+ applied ok +\S+ +fail2ban unban +`+regexp.QuoteMeta(googleIP)+` +`+regexp.QuoteMeta(client)+` set mailjail unbanip `+regexp.QuoteMeta(googleIP)+` -> 1$`).MatchString(logOut) {
		t.Errorf("redeem log:\n%s", logOut)
	}

	// Named with --ip, the forged report's address is redeemed too.
	r = tlsrptOK(t, nil, nil, append(redeemFlags, "--apply", "--ip", forgedIP)...)
	if !strings.HasPrefix(r.stdout, forgedIP+" (named with --ip)\n") || strings.Contains(r.stdout, "FAILED") {
		t.Errorf("redeem --ip %s:\n%s", forgedIP, r.stdout)
	}
	if got := s.Banned(mailJail); !sameSet(got, bystander) {
		t.Errorf("after redeem --ip, banned %v; want only the bystander", got)
	}
	if data, _ := os.ReadFile(dropIn); !strings.Contains(string(data), "ignoreip = %(known/ignoreip)s "+forgedIP+" "+googleIP+"\n") {
		t.Errorf("drop-in after the second address:\n%s", data)
	}

	// An applied action that fails makes the exit status non-zero: the
	// drop-in's directory is a dangling symbolic link, so it can be read
	// (as missing) but not written. The runtime actions still help.
	const third = "203.0.113.77"
	s.Client("set", mailJail, "banip", third)
	dangling := filepath.Join(s.Dir, "jail.d-dangling")
	if err := os.Symlink(filepath.Join(s.Dir, "nowhere"), dangling); err != nil {
		t.Fatal(err)
	}
	r = tlsrpt(t, nil, nil, append(append(append([]string{"redeem", "--apply", "--ip", third}, w.flags()...), f2bFlags...), "--fail2ban-jaild", dangling)...)
	if r.code != 1 || !regexp.MustCompile(`(?m)^  fail2ban: add `+third+` to \[mailjail\] ignoreip in .*: FAILED: .*$`).MatchString(r.stdout) ||
		!strings.Contains(r.stdout, "  fail2ban: unban "+third+" in jail mailjail: ok\n") {
		t.Errorf("redeem with an unwritable drop-in: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	if got := s.Banned(mailJail); slices.Contains(got, third) {
		t.Errorf("%s still banned", third)
	}
	if logOut := tlsrptOK(t, nil, nil, "redeem", "log", "--db", w.db).stdout; !regexp.MustCompile(` applied FAILED +\S+ +fail2ban keep `).MatchString(logOut) {
		t.Errorf("the failure is not in the audit log:\n%s", logOut)
	}

	// A drop-in directory under a regular file cannot even be read: the
	// plan fails for fail2ban, nothing is done, and the status says so.
	s.Client("set", mailJail, "banip", third)
	plain := writeFile(t, s.Dir, "plainfile", "")
	r = tlsrpt(t, nil, nil, append(append(append([]string{"redeem", "--apply", "--ip", third}, w.flags()...), f2bFlags...), "--fail2ban-jaild", filepath.Join(plain, "jail.d"))...)
	if r.code == 0 || !strings.Contains(r.stdout, "fail2ban: cannot consult: ") || !strings.Contains(r.stderr, "not a directory") {
		t.Errorf("redeem with the drop-in under a file: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	if got := s.Banned(mailJail); !slices.Contains(got, third) {
		t.Errorf("a failed plan unbanned %s", third)
	}
	// Each error is a line of its own in the tool's voice.
	for _, line := range strings.Split(strings.TrimSuffix(r.stderr, "\n"), "\n") {
		if !strings.HasPrefix(line, "tlsrpt: redeem: ") {
			t.Errorf("stderr line without the tlsrpt: prefix: %q", line)
		}
	}
}

// sameSet reports whether got holds exactly want, in any order.
func sameSet(got []string, want ...string) bool {
	g, w := slices.Clone(got), slices.Clone(want)
	slices.Sort(g)
	slices.Sort(w)
	return slices.Equal(g, w)
}

// chainBinEnv names, for the child test process inside a network
// namespace, the tlsrpt binary the parent built.
const chainBinEnv = "TLSRPT_CHAIN_NETNS_BIN"

// inChainNetns re-runs the test named name inside a fresh network
// namespace with netnstest.Run, handing the child the parent's build of
// tlsrpt, and reports whether the caller is that child and should run the
// body.
func inChainNetns(t *testing.T, name string) bool {
	t.Helper()
	if netnstest.Inside() {
		bin := os.Getenv(chainBinEnv)
		buildOnce.Do(func() { binPath = bin }) // the parent's build
		return netnstest.Run(t, name)
	}
	testenv.MustHaveExec(t, "dnsmasq", "dnsmasq-base")
	return netnstest.Run(t, name, chainBinEnv+"="+tlsrptBinary(t))
}

// TestRedeemChainIPTables is the chain of TestRedeemChain with fail2ban's
// iptables rules instead of fail2ban, in a network namespace of its own.
func TestRedeemChainIPTables(t *testing.T) {
	if !inChainNetns(t, "TestRedeemChainIPTables") {
		return
	}
	w := newChainWorld(t)
	for _, args := range [][]string{
		{"-N", "f2b-sshd"},
		{"-A", "f2b-sshd", "-s", forgedIP + "/32", "-j", "REJECT", "--reject-with", "icmp-port-unreachable"},
		{"-A", "f2b-sshd", "-s", googleIP + "/32", "-j", "REJECT", "--reject-with", "icmp-port-unreachable"},
		{"-A", "f2b-sshd", "-j", "RETURN"},
		{"-I", "INPUT", "-p", "tcp", "-m", "multiport", "--dports", "22,25", "-j", "f2b-sshd"},
	} {
		netnstest.IPTables(t, "iptables", args...)
	}
	ipt := []string{"--backend", "iptables"}
	redeemArgs := append(append([]string{"redeem"}, w.flags()...), ipt...)

	rows := reviewJSON(t, nil, append(w.flags(), ipt...)...)
	wantRow(t, rows, googleIP, true, "google.com: DKIM-authenticated report")
	wantRow(t, rows, forgedIP, false, "no DKIM signature")
	if b := rows[googleIP].Banned; len(b) != 1 || b[0].Backend != "iptables" || b[0].Where != "filter/f2b-sshd rule 2" {
		t.Errorf("review: %s banned %+v", googleIP, b)
	}
	if b := rows[forgedIP].Banned; len(b) != 1 || b[0].Where != "filter/f2b-sshd rule 1" {
		t.Errorf("review: %s banned %+v", forgedIP, b)
	}

	before := netnstest.IPTables(t, "iptables", "-S")
	r := tlsrptOK(t, nil, nil, redeemArgs...)
	for _, want := range []string{
		"      iptables -t filter -N TLSRPT-REDEEMED\n",
		"      iptables -t filter -A TLSRPT-REDEEMED -s " + googleIP + "/32 -j ACCEPT\n",
		"      iptables -t filter -I INPUT 1 -j TLSRPT-REDEEMED\n",
		"      iptables -t filter -D f2b-sshd -s " + googleIP + "/32 -j REJECT --reject-with icmp-port-unreachable\n",
		"4 actions planned; nothing changed.",
	} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("plan lacks %q:\n%s", want, r.stdout)
		}
	}
	if strings.Contains(r.stdout, forgedIP) {
		t.Errorf("plan names the forged report's address:\n%s", r.stdout)
	}
	if after := netnstest.IPTables(t, "iptables", "-S"); after != before {
		t.Errorf("the plan changed the rules:\n%s\nwas:\n%s", after, before)
	}

	r = tlsrptOK(t, nil, nil, append(redeemArgs, "--apply")...)
	if strings.Count(r.stdout, ": ok\n") != 4 || strings.Contains(r.stdout, "FAILED") {
		t.Errorf("apply:\n%s", r.stdout)
	}
	got := netnstest.IPTables(t, "iptables", "-S")
	for _, want := range []string{
		"-N TLSRPT-REDEEMED\n",
		"-A INPUT -j TLSRPT-REDEEMED\n-A INPUT -p tcp -m multiport --dports 22,25 -j f2b-sshd\n",
		"-A f2b-sshd -s " + forgedIP + "/32 -j REJECT --reject-with icmp-port-unreachable\n-A f2b-sshd -j RETURN\n",
		"-A TLSRPT-REDEEMED -s " + googleIP + "/32 -j ACCEPT\n",
	} {
		if !strings.Contains(got, want) {
			t.Errorf("after apply, rules lack %q:\n%s", want, got)
		}
	}
	if strings.Contains(got, "-s "+googleIP+"/32 -j REJECT") {
		t.Errorf("after apply, %s still rejected:\n%s", googleIP, got)
	}

	r = tlsrptOK(t, nil, nil, append(redeemArgs, "--apply")...)
	if !strings.Contains(r.stdout, "nothing to do\n") {
		t.Errorf("second run:\n%s", r.stdout)
	}
	if again := netnstest.IPTables(t, "iptables", "-S"); again != got {
		t.Errorf("the second run changed the rules:\n%s\nwas:\n%s", again, got)
	}
}

// TestRedeemChainIPQBDB is the chain with ipqbdb, through the stand-in
// scripts of contrib/ipqbdb-standin (ipqbdb is not packaged for Debian).
func TestRedeemChainIPQBDB(t *testing.T) {
	testenv.MustHaveExec(t, "dnsmasq", "dnsmasq-base")
	standins := repoPath(t, "contrib/ipqbdb-standin")
	state := t.TempDir()
	env := []string{"IPQBDB_STANDIN_DIR=" + state}
	for _, ip := range []string{googleIP, forgedIP} {
		ban := exec.Command(filepath.Join(standins, "ibd-ban"), "-i", ip, "--reason=smtp abuse")
		ban.Env = append(os.Environ(), env...)
		if out, err := ban.CombinedOutput(); err != nil {
			t.Fatalf("ibd-ban: %v: %s", err, out)
		}
	}
	read := func(name string) string {
		b, _ := os.ReadFile(filepath.Join(state, name))
		return string(b)
	}
	calls := func() []string {
		b, _ := os.ReadFile(filepath.Join(state, "calls.log"))
		return strings.Split(strings.TrimSpace(string(b)), "\n")
	}
	w := newChainWorld(t)
	q := []string{"--backend", "ipqbdb", "--ipqbdb-bin", standins}
	redeemArgs := append(append([]string{"redeem"}, w.flags()...), q...)

	rows := reviewJSON(t, env, append(w.flags(), q...)...)
	for _, ip := range []string{googleIP, forgedIP} {
		if b := rows[ip].Banned; len(b) != 1 || b[0].Backend != "ipqbdb" || b[0].Detail != ip+"\t25.00%\t1\tsmtp abuse" {
			t.Errorf("review: %s banned %+v", ip, b)
		}
	}
	wantRow(t, rows, googleIP, true, "google.com")
	wantRow(t, rows, forgedIP, false, "no DKIM signature")

	block := read("block.tsv")
	r := tlsrptOK(t, env, nil, redeemArgs...)
	for _, want := range []string{
		"      " + standins + "/ibd-white -i " + googleIP + "\n",
		"      " + standins + "/ibd-del -i " + googleIP + "\n",
		"2 actions planned; nothing changed.",
	} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("plan lacks %q:\n%s", want, r.stdout)
		}
	}
	if read("block.tsv") != block || read("white.tsv") != "" {
		t.Errorf("the plan changed the databases: block %q white %q", read("block.tsv"), read("white.tsv"))
	}
	for _, c := range calls() {
		if !strings.HasSuffix(c, " --list") && !strings.HasSuffix(c, " --help") && !strings.HasPrefix(c, "ibd-ban ") {
			t.Errorf("the plan ran %q", c)
		}
	}

	r = tlsrptOK(t, env, nil, append(redeemArgs, "--apply")...)
	if strings.Count(r.stdout, ": ok\n") != 2 {
		t.Errorf("apply:\n%s", r.stdout)
	}
	if got := read("block.tsv"); got != forgedIP+"\t0.250000\t1\tsmtp abuse\n" {
		t.Errorf("after apply, block records %q; want only the forged report's address", got)
	}
	if got := read("white.tsv"); got != googleIP+"\t3600\n" {
		t.Errorf("after apply, whitelist %q", got)
	}
	n := len(calls())
	r = tlsrptOK(t, env, nil, append(redeemArgs, "--apply")...)
	if !strings.Contains(r.stdout, "nothing to do\n") {
		t.Errorf("second run:\n%s", r.stdout)
	}
	for _, c := range calls()[n:] {
		if !strings.HasSuffix(c, " --list") && !strings.HasSuffix(c, " --help") {
			t.Errorf("the second run ran %q", c)
		}
	}
}

// TestFilterSilentDNS runs the filter against a DNS server that never
// answers: the message is delivered annotated, and the report is not
// authenticated because the key lookup timed out. What bounds the wait is
// counted, not timed: within the 2 s DNS budget at most two 1 s queries
// can follow one another, so the silent server must receive one or two (a
// slow machine sends fewer, never more), and the annotation must show the
// query's own time-out firing.
func TestFilterSilentDNS(t *testing.T) {
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer pc.Close()
	tcp, err := net.Listen("tcp", pc.LocalAddr().String()) // accepts, never answers
	if err != nil {
		t.Fatal(err)
	}
	defer tcp.Close()
	var queries atomic.Int32
	go func() {
		buf := make([]byte, 4096)
		for {
			if _, _, err := pc.ReadFrom(buf); err != nil {
				return
			}
			queries.Add(1)
		}
	}()
	genuine := dkimSign(t, reportMessage("google.com", "2026-11-21T00:00:00Z_silent", []failure{{googleIP, 3, "certificate-expired"}}), "google.com")
	r := tlsrptOK(t, nil, genuine, "filter", "--db", filepath.Join(t.TempDir(), "tlsrpt.db"), "--resolver", pc.LocalAddr().String())
	out := lf(r.stdout)
	if !strings.HasPrefix(out, "TLS-Report-Has-Failures: 3\n") ||
		!strings.Contains(out, "\nAuthentication: not authenticated: dkim fail d=google.com: key unavailable: ") ||
		!strings.Contains(out, "i/o timeout") ||
		!strings.Contains(out, "\n  "+googleIP+": not trusted: ") {
		t.Errorf("filter with a silent DNS server:\n%s", out)
	}
	n := queries.Load()
	if n < 1 || n > 2 {
		t.Errorf("the silent DNS server got %d queries, want 1 or 2: the 2 s budget ends the lookups", n)
	}
	t.Logf("the silent DNS server got %d queries", n)
}

// TestFail2banIgnoreCommand installs contrib/fail2ban/tlsrpt.local in a
// real fail2ban-server: tlsrpt allowlist check, as fail2ban's
// ignorecommand, keeps an address of Apple's range from being banned while
// another address in the same log is banned.
func TestFail2banIgnoreCommand(t *testing.T) {
	bin := tlsrptBinary(t)
	example, err := os.ReadFile("../../contrib/fail2ban/tlsrpt.local")
	if err != nil {
		t.Fatal(err)
	}
	const line = "ignorecommand = /usr/bin/tlsrpt allowlist check <ip>"
	if !bytes.Contains(example, []byte(line+"\n")) {
		t.Fatalf("contrib/fail2ban/tlsrpt.local changed: update this test's replacement of %q", line)
	}
	dead := deadResolver(t)
	s := startF2B(t, func(dir string) map[string]string {
		local := strings.Replace(string(example), line,
			fmt.Sprintf("ignorecommand = %s --no-config allowlist check --db %s/tlsrpt.db --resolver %s <ip>", bin, dir, dead), 1)
		return map[string]string{"jail.d/tlsrpt.local": local}
	})
	const apple, other = "17.1.2.3", "192.0.2.1"
	s.LogLine("fail from " + apple)
	s.LogLine("fail from " + other)
	s.WaitFor("the log line to ban "+other, func() bool { return slices.Contains(s.Banned(mailJail), other) })
	if got := s.Banned(mailJail); !sameSet(got, other) {
		t.Errorf("banned %v; want only %s", got, other)
	}
	if log, _ := os.ReadFile(s.ServerLog); !strings.Contains(string(log), "Ignore "+apple+" by command") {
		t.Errorf("fail2ban's log does not say it ignored %s by command:\n%s", apple, log)
	}
}

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

// TestForgedCopyBeforeGenuine: a forger who guesses the report-id of a
// coming report (Google's are the date and the policy domain) mails an
// unsigned copy first, naming addresses of their choice. When the genuine,
// signed report arrives, its authentication must not vouch for the
// forger's failure details: the addresses the forged copy alone names stay
// untrusted, and the genuine report's addresses are the ones recorded.
func TestForgedCopyBeforeGenuine(t *testing.T) {
	testenv.MustHaveExec(t, "dnsmasq", "dnsmasq-base")
	dns := dnstest.Start(t, chainRecords(t))
	db := filepath.Join(t.TempDir(), "tlsrpt.db")
	const id = "2026-11-21T00:00:00Z_example.net"
	const planted = "209.85.220.99" // passes Google's SPF, named only by the forged copy
	forged := reportMessage("google.com", id, []failure{{planted, 7, "validation-failure"}})
	genuine := dkimSign(t, reportMessage("google.com", id, []failure{{googleIP, 3, "certificate-expired"}}), "google.com")
	tlsrptOK(t, nil, forged, "filter", "--db", db, "--resolver", dns)
	tlsrptOK(t, nil, genuine, "filter", "--db", db, "--resolver", dns)
	rows := reviewJSON(t, nil, "--db", db, "--resolver", dns, "--no-bans")
	if row, ok := rows[planted]; ok && row.Trusted {
		t.Errorf("%s, named only by an unsigned forged copy, is trusted: %s", planted, row.Why)
	}
	wantRow(t, rows, googleIP, true, "google.com: DKIM-authenticated report")

	// A forged copy after the genuine report is a duplicate, ignored.
	const late = "209.85.220.98"
	tlsrptOK(t, nil, reportMessage("google.com", id, []failure{{late, 5, "validation-failure"}}), "filter", "--db", db, "--resolver", dns)
	rows = reviewJSON(t, nil, "--db", db, "--resolver", dns, "--no-bans")
	if row, ok := rows[late]; ok {
		t.Errorf("%s, named by a forged copy of a stored report, is listed: trusted %v, %s", late, row.Trusted, row.Why)
	}
}

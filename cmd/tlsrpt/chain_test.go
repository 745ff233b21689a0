package main

import (
	"bytes"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/tlsrpt/tlsrpt/allowlist/dnstest"
)

// TestTrustChain runs report messages through the real tlsrpt filter and
// review against a real DNS server (dnsmasq) holding the reporters' DKIM
// keys, Google's SPF record and reverse DNS: a report signed by google.com
// makes its Google address trusted; every forged report leaves its address
// untrusted, with a why that says what is missing.
func TestTrustChain(t *testing.T) {
	needBinary(t, "dnsmasq", "dnsmasq-base")
	dns := dnstest.Start(t, chainRecords(t))
	dir := t.TempDir()
	db := filepath.Join(dir, "tlsrpt.db")
	bigmail := writeFile(t, dir, "bigmail.list", "# a sender proven by reverse DNS only\n"+bigmailDomain+" rdns:mail."+bigmailDomain+"\n")
	base := []string{"--db", db, "--resolver", dns, "--allowlist", bigmail}
	filter := func(msg []byte, extra ...string) result {
		t.Helper()
		r := tlsrptOK(t, nil, msg, append(append([]string{"filter"}, base...), extra...)...)
		if r.stderr != "" {
			t.Errorf("filter wrote to stderr: %s", r.stderr)
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

	rows := reviewJSON(t, nil, append(base, "--no-bans")...)
	wantRow(t, rows, googleIP, true, "google.com", "DKIM-authenticated report", "passes SPF for _spf.google.com")
	wantRow(t, rows, outsideIP, false, outsideIP+" is not google.com's", "fails SPF for _spf.google.com", "no forward-confirmed rDNS under google.com")
	wantRow(t, rows, "209.85.220.50", false, "no authenticated report", "no DKIM signature")
	wantRow(t, rows, "209.85.220.51", false, "no authenticated report", "dkim pass d=evil.example does not match reporter google.com")
	wantRow(t, rows, "209.85.220.52", false, "no authenticated report", "dkim fail d=google.com: body hash did not verify")
	wantRow(t, rows, "209.85.220.53", false, "no authenticated report", "authres from untrusted authserv-id mx.evil.example ignored")
	wantRow(t, rows, rdnsBadIP, false, "no forward-confirmed rDNS under mail."+bigmailDomain,
		"out1.mail."+bigmailDomain+" does not resolve to "+rdnsBadIP)
	wantRow(t, rows, rdnsGoodIP, true, bigmailDomain+": DKIM-authenticated report",
		rdnsGoodIP+" has forward-confirmed rDNS out2.mail."+bigmailDomain+" under mail."+bigmailDomain)
	if len(rows) != 8 {
		t.Errorf("review lists %d addresses, want 8", len(rows))
	}

	// The table has the trust columns too.
	table := tlsrptOK(t, nil, nil, append([]string{"review", "--no-bans"}, base...)...).stdout
	if !regexp.MustCompile(`(?m)^IP .* TRUSTED +BANNED +WHY$`).MatchString(table) ||
		!regexp.MustCompile(`(?m)^`+regexp.QuoteMeta(googleIP)+` .* yes +\? +google\.com: DKIM`).MatchString(table) ||
		!regexp.MustCompile(`(?m)^209\.85\.220\.50 .* no +\? +no authenticated report`).MatchString(table) {
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

	// The same Authentication-Results field counts once its authserv-id
	// is ours: filtering the message again upgrades the stored verdict.
	r = filter(authres, "--trust-authserv-id", "mx.evil.example")
	if !strings.Contains(lf(r.stdout), "Authentication: authres pass for google.com: authres mx.evil.example: dkim=pass d=google.com matches reporter google.com\n") {
		t.Errorf("trusted authserv-id: filter says\n%s", r.stdout)
	}
	rows = reviewJSON(t, nil, append(base, "--no-bans")...)
	wantRow(t, rows, "209.85.220.53", true, "google.com: report authenticated by our Authentication-Results", "passes SPF for _spf.google.com")
	wantRow(t, rows, "209.85.220.50", false, "no DKIM signature")

	// Without the built-in list Google is nobody.
	rows = reviewJSON(t, nil, "--db", db, "--resolver", dns, "--no-default-allowlist", "--no-bans")
	wantRow(t, rows, googleIP, false, "reporter google.com is not on the allowlist")
	wantRow(t, rows, rdnsGoodIP, false, "reporter "+bigmailDomain+" is not on the allowlist")

	// A malformed allowlist file is refused with file, line and reason.
	bad := writeFile(t, dir, "bad.list", "# ok so far\ngoogle.com spf:_spf.google.com\ncorp.example ip:300.1.2.0/24\n")
	wantLine := regexp.MustCompile(`^tlsrpt: review: allowlist: ` + regexp.QuoteMeta(bad) + `:3: bad ip: "300\.1\.2\.0/24": .*\(fix the file or drop --allowlist\)\n$`)
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
	needBinary(t, "dnsmasq", "dnsmasq-base")
	dns := dnstest.Start(t, chainRecords(t))
	db := filepath.Join(t.TempDir(), "tlsrpt.db")
	// The TLS-Report-Has-Failures value of each message; "" for none.
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
	for _, f := range files {
		name := filepath.Base(f)
		header, ok := want[name]
		if !ok {
			t.Errorf("%s: new corpus message; add its expected header to this test", name)
			continue
		}
		msg, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		r := tlsrptOK(t, nil, msg, "filter", "--db", db, "--resolver", dns)
		first, _, _ := strings.Cut(r.stdout, "\n")
		first = strings.TrimSuffix(first, "\r")
		switch {
		case header == "" && strings.HasPrefix(first, "TLS-Report-Has-Failures"):
			t.Errorf("%s: unexpected %s", name, first)
		case header != "" && first != "TLS-Report-Has-Failures: "+header:
			t.Errorf("%s: first line %q, want TLS-Report-Has-Failures: %s", name, first, header)
		}
		if !strings.Contains(r.stdout, "SMTP TLS report summary") {
			t.Errorf("%s: no summary", name)
		}
		// The summary may be quoted-printable inside a QP text part.
		unfolded := strings.NewReplacer("=\r\n", "", "=\n", "", "=3D", "=").Replace(r.stdout)
		if !strings.Contains(unfolded, "Authentication: not authenticated: ") || strings.Contains(unfolded, ": trusted, ") {
			t.Errorf("%s: authenticated or trusted against a DNS without its keys:\n%s", name, unfolded)
		}
		if strings.Contains(r.stderr, "tlsrpt:") && header != "" && !strings.Contains(r.stderr, "not recorded") {
			// problems go to stderr only for messages whose header is a problem
			t.Errorf("%s: stderr %q", name, r.stderr)
		}
	}
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

// lf turns CRLF line ends into LF, for matching lines of a CRLF message.
func lf(s string) string { return strings.ReplaceAll(s, "\r\n", "\n") }

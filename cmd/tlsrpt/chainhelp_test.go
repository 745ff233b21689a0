package main

import (
	"bytes"
	"compress/gzip"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/tlsrpt/tlsrpt/assess"

	"github.com/emersion/go-msgauth/dkim"

	"github.com/tlsrpt/tlsrpt/internal/dnstest"
	"github.com/tlsrpt/tlsrpt/internal/f2btest"
	"github.com/tlsrpt/tlsrpt/internal/reporttest"
)

// The DKIM key of every reporter in the chain tests, made once per run.
var (
	chainKeyOnce sync.Once
	chainKey     *rsa.PrivateKey
)

func dkimKey(t testing.TB) *rsa.PrivateKey {
	t.Helper()
	chainKeyOnce.Do(func() {
		k, err := rsa.GenerateKey(rand.Reader, 2048)
		if err != nil {
			panic(err)
		}
		chainKey = k
	})
	return chainKey
}

// dkimRecord is the key record of dkimKey, restricted to the tlsrpt
// service as RFC 8460 section 3 asks.
func dkimRecord(t testing.TB) string {
	der, err := x509.MarshalPKIXPublicKey(&dkimKey(t).PublicKey)
	if err != nil {
		t.Fatal(err)
	}
	return "v=DKIM1; k=rsa; s=tlsrpt; p=" + base64.StdEncoding.EncodeToString(der)
}

// Addresses of the chain tests.
const (
	googleIP      = "209.85.220.41" // in Google's SPF range: trusted when a signed report names it
	outsideIP     = "192.0.2.77"    // outside Google's ranges, in a signed report
	forgedIP      = "198.51.100.9"  // named only by an unsigned report
	rdnsBadIP     = "203.0.113.50"  // PTR out1.mail.example-bigmail.net, whose A is another address
	rdnsGoodIP    = "203.0.113.60"  // PTR and A agree under mail.example-bigmail.net
	mailruIP      = "217.69.139.10" // in Mail.ru's SPF range, reported by mail.ru, signed by corp.mail.ru
	bigmailDomain = "example-bigmail.net"
)

// chainRecords is the DNS world of the chain tests: DKIM keys of google.com,
// evil.example and example-bigmail.net (selector "sel"), Google's SPF
// record, and reverse DNS with and without forward confirmation.
func chainRecords(t testing.TB) dnstest.Records {
	key := dkimRecord(t)
	return dnstest.Records{
		TXT: map[string][]string{
			"sel._domainkey.google.com":       {key},
			"sel._domainkey.evil.example":     {key},
			"sel._domainkey." + bigmailDomain: {key},
			"sel._domainkey.corp.mail.ru":     {key},
			"sel._domainkey.comcast.net":      {key},
			"comcast.net":                     {"v=spf1 ip4:96.114.154.0/24 -all"},
			"_spf.mail.ru":                    {"v=spf1 ip4:217.69.128.0/20 -all"},
			"_spf.google.com":                 {"v=spf1 ip4:209.85.128.0/17 ~all"},
			"google.com":                      {"v=spf1 include:_spf.google.com ~all"},
		},
		PTR: map[string][]string{
			rdnsBadIP: {"out1.mail." + bigmailDomain},
			// a Comcast residential line, forward-confirmed under comcast.net
			residentialIP: {"c-73-1-2-3.hsd1.il.comcast.net"},
		},
		Host: map[string][]string{
			"out1.mail." + bigmailDomain:     {"203.0.113.51"},
			"out2.mail." + bigmailDomain:     {rdnsGoodIP},
			"c-73-1-2-3.hsd1.il.comcast.net": {residentialIP},
		},
	}
}

// residentialIP is a customer line of a freemail provider.
const residentialIP = "73.1.2.3"

// failure is one failure-details entry of a test report.
type failure struct {
	ip       string
	sessions int
	result   string
}

// reportJSON renders a Google-style RFC 8460 report with one STS policy
// whose failure details name fails.
func reportJSON(org, contact, reportID string, fails []failure) []byte {
	return reportJSONAt(org, contact, reportID, "2026-11-21T00:00:00Z", "2026-11-21T23:59:59Z", fails)
}

// reportJSONAt is reportJSON with the date-range start and end given.
func reportJSONAt(org, contact, reportID, start, end string, fails []failure) []byte {
	type detail struct {
		ResultType  string `json:"result-type"`
		SendingIP   string `json:"sending-mta-ip"`
		MX          string `json:"receiving-mx-hostname"`
		ReceivingIP string `json:"receiving-ip"`
		Failed      int    `json:"failed-session-count"`
	}
	var details []detail
	total := 0
	for _, f := range fails {
		details = append(details, detail{f.result, f.ip, "mx.example.net", "192.0.2.25", f.sessions})
		total += f.sessions
	}
	r := map[string]any{
		"organization-name": org,
		"date-range": map[string]string{
			"start-datetime": start,
			"end-datetime":   end,
		},
		"contact-info": contact,
		"report-id":    reportID,
		"policies": []any{map[string]any{
			"policy": map[string]any{
				"policy-type":   "sts",
				"policy-string": []string{"version: STSv1", "mode: enforce", "mx: mx.example.net", "max_age: 86400"},
				"policy-domain": "example.net",
				"mx-host":       []string{"mx.example.net"},
			},
			"summary": map[string]int{
				"total-successful-session-count": 120,
				"total-failure-session-count":    total,
			},
			"failure-details": details,
		}},
	}
	data, err := json.Marshal(r)
	if err != nil {
		panic(err)
	}
	return data
}

// reportMessage is a report message as Google sends them: multipart/report
// with a text part and the gzipped JSON attached, CRLF line ends.
func reportMessage(submitter, reportID string, fails []failure) []byte {
	return reportMessageAt(submitter, reportID, "2026-11-21T00:00:00Z", "2026-11-21T23:59:59Z", fails)
}

// reportMessageAt is reportMessage with the date-range start and end given.
func reportMessageAt(submitter, reportID, start, end string, fails []failure) []byte {
	var gz bytes.Buffer
	w := gzip.NewWriter(&gz)
	w.Write(reportJSONAt(orgName(submitter), "smtp-tls-reporting@"+submitter, reportID, start, end, fails))
	w.Close()
	file := fmt.Sprintf("%s!example.net!1795219200!1795305599!%s.json.gz", submitter, strings.ReplaceAll(reportID, " ", ""))
	msg := fmt.Sprintf(`From: noreply-smtp-tls-reporting@%[1]s
To: tlsrpt@example.net
Subject: Report Domain: example.net Submitter: %[1]s Report-ID: <%[2]s>
Date: Sun, 22 Nov 2026 10:11:12 -0800
Message-ID: <%[3]s@%[1]s>
TLS-Report-Domain: example.net
TLS-Report-Submitter: %[1]s
MIME-Version: 1.0
Content-Type: multipart/report; boundary="000000000000f00dfeed"; report-type=tlsrpt

--000000000000f00dfeed
Content-Type: text/plain; charset="UTF-8"; format=flowed; delsp=yes

This is an aggregate TLS report from %[1]s

--000000000000f00dfeed
Content-Type: application/tlsrpt+gzip; name="%[4]s"
Content-Disposition: attachment; filename="%[4]s"
Content-Transfer-Encoding: base64

%[5]s--000000000000f00dfeed--
`, submitter, reportID, strings.NewReplacer("@", ".", " ", "", ":", "").Replace(reportID), file, reporttest.Base64Lines(gz.Bytes(), "\n"))
	return []byte(strings.ReplaceAll(msg, "\n", "\r\n"))
}

func orgName(submitter string) string {
	if submitter == "google.com" {
		return "Google Inc."
	}
	return submitter
}

// dkimSign signs msg as domain with selector "sel", relaxed/relaxed, over
// the header fields Google signs.
func dkimSign(t testing.TB, msg []byte, domain string) []byte {
	t.Helper()
	var out bytes.Buffer
	err := dkim.Sign(&out, bytes.NewReader(msg), &dkim.SignOptions{
		Domain: domain, Selector: "sel", Signer: dkimKey(t),
		HeaderCanonicalization: dkim.CanonicalizationRelaxed,
		BodyCanonicalization:   dkim.CanonicalizationRelaxed,
		HeaderKeys: []string{"from", "to", "subject", "date", "message-id", "mime-version",
			"content-type", "tls-report-domain", "tls-report-submitter"},
	})
	if err != nil {
		t.Fatalf("signing as %s: %v", domain, err)
	}
	return out.Bytes()
}

// result is what a run of the tlsrpt binary gave.
type result struct {
	stdout, stderr string
	code           int
}

// tlsrpt runs the real binary with stdin and args, its state kept under
// the test's temporary directory, with extra environment variables.
func tlsrpt(t *testing.T, env []string, stdin []byte, args ...string) result {
	t.Helper()
	cmd := exec.Command(tlsrptBinary(t), args...)
	cmd.Env = append(os.Environ(), "XDG_STATE_HOME="+filepath.Join(t.TempDir(), "state"), "TLSRPT_DB=", "TLSRPT_RESOLVER=")
	cmd.Env = append(cmd.Env, env...)
	return runResult(t, cmd, stdin)
}

// runResult runs cmd with stdin and returns what it gave; a command that
// does not start fails t, one that exits non-zero gives its code.
func runResult(t *testing.T, cmd *exec.Cmd, stdin []byte) result {
	t.Helper()
	if stdin != nil {
		cmd.Stdin = bytes.NewReader(stdin)
	}
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	r := result{stdout: stdout.String(), stderr: stderr.String()}
	var ee *exec.ExitError
	switch {
	case errors.As(err, &ee):
		r.code = ee.ExitCode()
	case err != nil:
		t.Fatalf("running %s: %v", strings.Join(cmd.Args, " "), err)
	}
	return r
}

// tlsrptOK runs the binary and fails the test unless it exits 0.
func tlsrptOK(t *testing.T, env []string, stdin []byte, args ...string) result {
	t.Helper()
	r := tlsrpt(t, env, stdin, args...)
	if r.code != 0 {
		t.Fatalf("tlsrpt %s: exit %d\nstdout:\n%s\nstderr:\n%s", strings.Join(args, " "), r.code, r.stdout, r.stderr)
	}
	return r
}

// reviewed is one row of review --json, as the tests read it.
type reviewed struct {
	IP             string             `json:"ip"`
	FailedSessions int64              `json:"failed_sessions"`
	Reports        int                `json:"reports"`
	Trusted        bool               `json:"trusted"`
	Why            string             `json:"why"`
	Banned         []assess.BanRecord `json:"banned"`
	BannedUnknown  []string           `json:"banned_unknown"`
}

// reviewJSON runs review --json and returns its rows by address.
func reviewJSON(t *testing.T, env []string, args ...string) map[string]reviewed {
	t.Helper()
	r := tlsrptOK(t, env, nil, append([]string{"review", "--json"}, args...)...)
	var rows []reviewed
	if err := json.Unmarshal([]byte(r.stdout), &rows); err != nil {
		t.Fatalf("review --json: %v\n%s", err, r.stdout)
	}
	out := make(map[string]reviewed, len(rows))
	for _, row := range rows {
		out[row.IP] = row
	}
	return out
}

// wantRow checks one address's trust verdict in review rows: trusted as
// given, and a why containing every one of whys.
func wantRow(t *testing.T, rows map[string]reviewed, ip string, trusted bool, whys ...string) {
	t.Helper()
	row, ok := rows[ip]
	if !ok {
		t.Errorf("review does not list %s", ip)
		return
	}
	if row.Trusted != trusted {
		t.Errorf("%s: trusted %v, want %v (why: %s)", ip, row.Trusted, trusted, row.Why)
	}
	for _, w := range whys {
		if !strings.Contains(row.Why, w) {
			t.Errorf("%s: why %q lacks %q", ip, row.Why, w)
		}
	}
}

// deadResolver is a loopback address where no DNS server answers.
func deadResolver(t testing.TB) string {
	port, err := dnstest.FreePort()
	if err != nil {
		t.Fatal(err)
	}
	return fmt.Sprintf("127.0.0.1:%d", port)
}

// writeFile writes content to dir/name and returns the path.
func writeFile(t testing.TB, dir, name, content string) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// chainWorld is a DNS server and a database with two reports filtered
// into it: a Google report signed by google.com naming googleIP, and a
// forged unsigned one naming forgedIP.
type chainWorld struct {
	dns, db string
}

// newChainWorld starts dnsmasq and files the two reports through tlsrpt
// filter.
func newChainWorld(t *testing.T) *chainWorld {
	t.Helper()
	w := &chainWorld{dns: dnstest.Start(t, chainRecords(t)), db: filepath.Join(t.TempDir(), "tlsrpt.db")}
	signed := dkimSign(t, reportMessage("google.com", "2026-11-21T00:00:00Z_redeem-signed", []failure{
		{googleIP, 4, "certificate-expired"}}), "google.com")
	forged := reportMessage("google.com", "2026-11-21T00:00:00Z_redeem-forged", []failure{
		{forgedIP, 9, "validation-failure"}})
	for _, msg := range [][]byte{signed, forged} {
		tlsrptOK(t, nil, msg, "filter", "--db", w.db, "--resolver", w.dns)
	}
	return w
}

// flags are the database and resolver flags for the world.
func (w *chainWorld) flags() []string { return []string{"--db", w.db, "--resolver", w.dns} }

// mailJail is the one jail of startF2B's server.
const mailJail = "mailjail"

// startF2B starts a real fail2ban-server with one jail, mailjail, ignoring
// 127.0.0.1/8 and 192.0.2.200, and the extra files files returns (given the
// configuration directory) when files is not nil.
func startF2B(t *testing.T, files func(dir string) map[string]string) *f2btest.Server {
	t.Helper()
	return f2btest.Start(t, f2btest.Options{
		Jails: []f2btest.Jail{{Name: mailJail, IgnoreIP: "127.0.0.1/8 192.0.2.200"}},
		Files: files,
	})
}

// startStockF2B starts a fail2ban-server on the copy of Debian's stock
// /etc/fail2ban in redeem/testdata, where nothing sets ignoreip.
func startStockF2B(t *testing.T) *f2btest.Server {
	t.Helper()
	return f2btest.Start(t, f2btest.Options{Base: repoPath(t, "redeem/testdata/fail2ban-debian")})
}

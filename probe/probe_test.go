package probe

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tlsrpt/tlsrpt/internal/dnstest"
	"github.com/tlsrpt/tlsrpt/internal/probetest"
)

// TestHealthy: a domain with everything right gives every check, all ok,
// when the resolver validates (the AD bit).
func TestHealthy(t *testing.T) {
	w := healthy(t, "healthy.test")
	p := w.proberVia(w.ValidatingResolver())
	fs := w.diagnose(p, Request{All: true})
	wantAllOK(t, fs)
	var checks []string
	for _, f := range fs {
		checks = append(checks, f.Check)
	}
	wantChecks := []string{CheckTLSRPT, CheckMX, CheckSTSRecord, CheckSTSPolicy, CheckSTSSyntax, CheckSTSMX,
		CheckSMTP, CheckTLS, CheckCertExpiry, CheckCertTrust, CheckCertNames, CheckDANETLSA, CheckDANEMatch}
	if !slices.Equal(checks, wantChecks) {
		t.Errorf("checks %v, want %v", checks, wantChecks)
	}
	want(t, fs, CheckTLS, "mx1.healthy.test", OK, "TLS 1.3")
	want(t, fs, CheckDANEMatch, "mx1.healthy.test", OK, "3 1 1")
}

func TestExpiredCertificate(t *testing.T) {
	w := healthy(t, "expired.test")
	cert := w.CA.Issue(t, []string{"mx1.expired.test"}, probetest.CertOpts{NotBefore: time.Now().Add(-100 * 24 * time.Hour), NotAfter: time.Now().Add(-24 * time.Hour)})
	w.Rec.MX = map[string][]string{}
	w.AddMX("mx1.expired.test", probetest.StartSMTP(t, probetest.SMTPStartTLS, cert))
	fs := w.diagnose(w.prober(), Request{ResultTypes: []string{CertificateExpired}})
	f := want(t, fs, CheckCertExpiry, "mx1.expired.test", Fail, "expired on "+cert.Leaf.NotAfter.UTC().Format(time.DateOnly))
	if !slices.Equal(f.ResultTypes, []string{CertificateExpired}) {
		t.Errorf("result types %v", f.ResultTypes)
	}
	// Trust is judged apart from expiry.
	want(t, fs, CheckCertTrust, "mx1.expired.test", OK, "trusted root")
}

func TestExpiringSoon(t *testing.T) {
	w := healthy(t, "soon.test")
	cert := w.CA.Issue(t, []string{"mx1.soon.test"}, probetest.CertOpts{NotAfter: time.Now().Add(5*24*time.Hour + time.Hour)})
	w.Rec.MX = map[string][]string{}
	w.AddMX("mx1.soon.test", probetest.StartSMTP(t, probetest.SMTPStartTLS, cert))
	p := w.prober()
	want(t, w.diagnose(p, Request{All: true}), CheckCertExpiry, "mx1.soon.test", Warn, "in 5 days")
	p.ExpiryWarning = 24 * time.Hour
	want(t, w.diagnose(p, Request{All: true}), CheckCertExpiry, "mx1.soon.test", OK, "valid until")
}

func TestCertificateForAnotherName(t *testing.T) {
	w := healthy(t, "mismatch.test")
	w.Rec.MX = map[string][]string{}
	w.AddMX("mx1.mismatch.test", probetest.StartSMTP(t, probetest.SMTPStartTLS, w.CA.Issue(t, []string{"mail.other.test"}, probetest.CertOpts{})))
	fs := w.diagnose(w.prober(), Request{ResultTypes: []string{CertificateHostMismatch}})
	want(t, fs, CheckCertNames, "mx1.mismatch.test", Fail, "names mail.other.test, not mx1.mismatch.test")
}

func TestSelfSigned(t *testing.T) {
	w := healthy(t, "self.test")
	w.Rec.MX = map[string][]string{}
	w.AddMX("mx1.self.test", probetest.StartSMTP(t, probetest.SMTPStartTLS, w.CA.Issue(t, []string{"mx1.self.test"}, probetest.CertOpts{SelfSigned: true})))
	fs := w.diagnose(w.prober(), Request{ResultTypes: []string{CertificateNotTrusted}})
	want(t, fs, CheckCertTrust, "mx1.self.test", Fail, "self-signed")
	want(t, fs, CheckCertNames, "mx1.self.test", OK, "names mx1.self.test")
}

// TestUntrustedCA: a certificate of a CA the prober is not given.
func TestUntrustedCA(t *testing.T) {
	w := healthy(t, "private.test")
	p := w.prober()
	p.Roots = probetest.NewCA(t).Pool()
	fs := w.diagnose(p, Request{ResultTypes: []string{CertificateNotTrusted}})
	want(t, fs, CheckCertTrust, "mx1.private.test", Fail, "does not lead to a trusted root")
}

func TestNoSTARTTLS(t *testing.T) {
	w := healthy(t, "plain.test")
	w.Rec.MX = map[string][]string{}
	w.AddMX("mx1.plain.test", probetest.StartSMTP(t, probetest.SMTPPlain, w.CA.Issue(t, []string{"mx1.plain.test"}, probetest.CertOpts{})))
	fs := w.diagnose(w.prober(), Request{ResultTypes: []string{StartTLSNotSupported}})
	f := want(t, fs, CheckSMTP, "mx1.plain.test", Fail, "does not offer STARTTLS")
	if !slices.Equal(f.ResultTypes, []string{StartTLSNotSupported}) || f.Advice == "" {
		t.Errorf("finding %+v", f)
	}
	for _, f := range fs {
		if f.Check == CheckTLS || f.Check == CheckSTSPolicy {
			t.Errorf("unexpected finding %+v: no handshake, and no MTA-STS failure reported", f)
		}
	}
}

func TestNoPolicy(t *testing.T) {
	w := healthy(t, "nopolicy.test")
	w.ServePolicy(w.CA.Issue(t, []string{"mta-sts.nopolicy.test"}, probetest.CertOpts{}), http.NotFoundHandler())
	fs := w.diagnose(w.prober(), Request{ResultTypes: []string{STSPolicyFetchError}})
	want(t, fs, CheckSTSPolicy, "mta-sts.nopolicy.test", Fail, "404")
	for _, f := range fs {
		if f.Check == CheckSMTP {
			t.Errorf("sts-policy-fetch-error alone called for an SMTP probe: %+v", f)
		}
	}
}

func TestPolicyResponses(t *testing.T) {
	for _, tc := range []struct {
		name    string
		handler http.HandlerFunc
		detail  string
	}{
		{"redirect", func(rw http.ResponseWriter, r *http.Request) {
			http.Redirect(rw, r, "https://elsewhere.test/.well-known/mta-sts.txt", http.StatusMovedPermanently)
		}, `redirecting to "https://elsewhere.test/.well-known/mta-sts.txt"`},
		{"html", func(rw http.ResponseWriter, r *http.Request) {
			rw.Header().Set("Content-Type", "text/html")
			fmt.Fprint(rw, "<p>version: STSv1</p>")
		}, `Content-Type "text/html"`},
		{"large", func(rw http.ResponseWriter, r *http.Request) {
			rw.Header().Set("Content-Type", "text/plain")
			fmt.Fprint(rw, "version: STSv1\nmode: testing\nmx: mx1.policy.test\nmax_age: 86400\n", strings.Repeat("x: y\n", 14000))
		}, "larger than 64 KiB"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			w := healthy(t, "policy.test")
			w.ServePolicy(w.CA.Issue(t, []string{"mta-sts.policy.test"}, probetest.CertOpts{}), tc.handler)
			fs := w.diagnose(w.prober(), Request{ResultTypes: []string{STSPolicyFetchError}})
			want(t, fs, CheckSTSPolicy, "mta-sts.policy.test", Fail, tc.detail)
			for _, a := range w.Dialed {
				if !strings.HasSuffix(a, ":443") {
					t.Errorf("dialed %s", a)
				}
			}
		})
	}
}

// TestPolicyCertificate: the policy host's certificate names another
// host: sts-webpki-invalid.
func TestPolicyCertificate(t *testing.T) {
	w := healthy(t, "webpki.test")
	w.ServePolicy(w.CA.Issue(t, []string{"www.webpki.test"}, probetest.CertOpts{}), probetest.PolicyText(fmt.Sprintf(probetest.Policy, "webpki.test")))
	fs := w.diagnose(w.prober(), Request{ResultTypes: []string{STSWebPKIInvalid}})
	f := want(t, fs, CheckSTSPolicy, "mta-sts.webpki.test", Fail, "certificate")
	if !slices.Equal(f.ResultTypes, []string{STSWebPKIInvalid}) {
		t.Errorf("result types %v", f.ResultTypes)
	}
}

func TestBadPolicySyntax(t *testing.T) {
	w := healthy(t, "syntax.test")
	w.ServePolicy(w.CA.Issue(t, []string{"mta-sts.syntax.test"}, probetest.CertOpts{}), probetest.PolicyText("version: STSv1\nmode: enforcing\nmx: mx1.syntax.test\nmax_age: 86400\n"))
	fs := w.diagnose(w.prober(), Request{ResultTypes: []string{STSPolicyInvalid}})
	want(t, fs, CheckSTSSyntax, "mta-sts.syntax.test", Fail, `mode "enforcing"`)
}

func TestMXNotCovered(t *testing.T) {
	w := healthy(t, "cover.test")
	w.AddMX("mx9.cover.test", probetest.StartSMTP(t, probetest.SMTPStartTLS, w.CA.Issue(t, []string{"mx9.cover.test"}, probetest.CertOpts{})))
	w.AddMX("a.backup.cover.test", probetest.StartSMTP(t, probetest.SMTPStartTLS, w.CA.Issue(t, []string{"a.backup.cover.test"}, probetest.CertOpts{})))
	fs := w.diagnose(w.prober(), Request{ResultTypes: []string{STSPolicyInvalid}})
	want(t, fs, CheckSTSMX, "mx9.cover.test", Fail, "matches none of the policy's mx patterns")
	want(t, fs, CheckSTSMX, "mx1.cover.test", OK, "")
	want(t, fs, CheckSTSMX, "a.backup.cover.test", OK, "")
}

// TestTLSA: records that do not match, with and without validation.
func TestTLSA(t *testing.T) {
	w := healthy(t, "tlsa.test")
	other := w.CA.Issue(t, []string{"mx1.tlsa.test"}, probetest.CertOpts{})
	w.Rec.RR = []string{"_25._tcp.mx1.tlsa.test. 300 IN TLSA " + probetest.TLSA311(other)}
	p := w.prober()
	plain := p.Resolver
	t.Run("without DNSSEC", func(t *testing.T) {
		p.Resolver = plain
		fs := w.diagnose(p, Request{ResultTypes: []string{TLSAInvalid}})
		want(t, fs, CheckDANETLSA, "_25._tcp.mx1.tlsa.test", Warn, "did not validate them (no AD bit)")
		want(t, fs, CheckDANEMatch, "mx1.tlsa.test", Warn, "senders ignore them today")
	})
	t.Run("validated", func(t *testing.T) {
		p.Resolver = w.ValidatingResolver()
		fs := w.diagnose(p, Request{ResultTypes: []string{TLSAInvalid}})
		want(t, fs, CheckDANETLSA, "_25._tcp.mx1.tlsa.test", OK, "validated by DNSSEC")
		want(t, fs, CheckDANEMatch, "mx1.tlsa.test", Fail, "none of the TLSA records")
	})
}

// TestTLSAWithoutDNSSEC: matching records from a resolver that does not
// validate (dnsmasq serving an unsigned zone): a warning, said why.
func TestTLSAWithoutDNSSEC(t *testing.T) {
	w := healthy(t, "nodnssec.test")
	fs := w.diagnose(w.prober(), Request{ResultTypes: []string{DNSSECInvalid}})
	f := want(t, fs, CheckDANETLSA, "_25._tcp.mx1.nodnssec.test", Warn, "no AD bit")
	if !strings.Contains(f.Advice, "senders ignore these records") {
		t.Errorf("advice %q", f.Advice)
	}
	want(t, fs, CheckDANEMatch, "mx1.nodnssec.test", OK, "3 1 1")
}

// TestDANETA: a DANE-TA record of the issuing CA matches.
func TestDANETA(t *testing.T) {
	w := healthy(t, "ta.test")
	ca2 := probetest.NewCA(t)
	cert := ca2.Issue(t, []string{"mx1.ta.test"}, probetest.CertOpts{})
	cert.Certificate = append(cert.Certificate, ca2.Cert.Raw)
	w.Rec.MX = map[string][]string{}
	w.AddMX("mx1.ta.test", probetest.StartSMTP(t, probetest.SMTPStartTLS, cert))
	w.Rec.RR = []string{"_25._tcp.mx1.ta.test. 300 IN TLSA 2 0 2 " + probetest.SHA512Hex(ca2.Cert.Raw)}
	p := w.proberVia(w.ValidatingResolver())
	want(t, w.diagnose(p, Request{ResultTypes: []string{TLSAInvalid}}), CheckDANEMatch, "mx1.ta.test", OK, "2 0 2")
}

// TestReportedMXNeverProbed attacks the rule that a report never chooses
// a target: a receiving-mx-hostname that is not an MX record has an
// address and a listening SMTP server, and no connection reaches it.
func TestReportedMXNeverProbed(t *testing.T) {
	w := healthy(t, "ours.test")
	evil := probetest.StartSMTP(t, probetest.SMTPStartTLS, w.CA.Issue(t, []string{"victim.example"}, probetest.CertOpts{}))
	w.Route("victim.example", 25, evil.Listener.Addr().String())
	w.Route("victim.example", 443, evil.Listener.Addr().String())
	fs := w.diagnose(w.prober(), Request{All: true, ReportedMX: []string{"victim.example", "MX1.OURS.TEST.", "victim.example."}})
	want(t, fs, CheckReportedMX, "victim.example", Warn, "not an MX record of ours.test: not probed")
	n := 0
	for _, f := range fs {
		if f.Check == CheckReportedMX {
			n++
		}
	}
	if n != 1 {
		t.Errorf("%d reported-mx findings, want 1 (mx1.ours.test is an MX record):\n%s", n, dump(fs))
	}
	if c := evil.Connections(); c != 0 {
		t.Errorf("%d connections reached the reported host", c)
	}
	for _, a := range w.Dialed {
		if strings.HasPrefix(a, w.Rec.Host["victim.example"][0]+":") {
			t.Errorf("dialed %s, the reported host", a)
		}
	}
}

// TestSilentHost: a host that accepts TCP and never answers gives an
// error finding once the timeout ends.
func TestSilentHost(t *testing.T) {
	w := healthy(t, "silent.test")
	w.Rec.MX = map[string][]string{}
	silent := probetest.StartSMTP(t, probetest.SMTPSilent, probetest.NoCert())
	w.AddMX("mx1.silent.test", silent)
	p := w.prober()
	p.Timeout = 300 * time.Millisecond
	fs := w.diagnose(p, Request{ResultTypes: []string{StartTLSNotSupported}})
	want(t, fs, CheckSMTP, "mx1.silent.test", Error, "no SMTP greeting")
	if silent.Connections() != 1 {
		t.Errorf("%d connections, want 1", silent.Connections())
	}
}

func TestPolicyChanged(t *testing.T) {
	w := healthy(t, "changed.test")
	p := w.prober()
	live := strings.Split(strings.TrimSpace(strings.ReplaceAll(fmt.Sprintf(probetest.Policy, "changed.test"), "\r", "")), "\n")
	old := []string{"version: STSv1", "mode: enforce", "mx: mail.changed.test", "max_age: 604800"}
	fs := w.diagnose(p, Request{ResultTypes: []string{STSPolicyInvalid}, PolicyStrings: [][]string{old}})
	want(t, fs, CheckSTSChanged, "mta-sts.changed.test", Warn, "differs")
	slices.Reverse(live)
	fs = w.diagnose(p, Request{ResultTypes: []string{STSPolicyInvalid}, PolicyStrings: [][]string{old, live}})
	want(t, fs, CheckSTSChanged, "mta-sts.changed.test", OK, "the one the reports carried")
}

func TestTLSRPTRecord(t *testing.T) {
	for _, tc := range []struct {
		name   string
		recs   []string
		status Status
		detail string
		advice string
	}{
		{"missing", nil, Fail, "no TXT record", "publish"},
		{"two", []string{"v=TLSRPTv1; rua=mailto:a@x.test", "v=TLSRPTv1; rua=mailto:b@x.test"}, Fail, "2 TLSRPT records", "keep one"},
		{"bad rua", []string{"v=TLSRPTv1; rua=ftp://x.test/"}, Fail, "", "neither a mailto: nor an https: URI"},
		{"no rua", []string{"v=TLSRPTv1;"}, Fail, "", "no rua field"},
		{"https", []string{"v=TLSRPTv1; rua=https://reports.x.test/tlsrpt,mailto:r@x.test"}, OK, "https://reports.x.test", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			w := healthy(t, "rpt.test")
			w.Rec.TXT["_smtp._tls.rpt.test"] = append(tc.recs, "unrelated")
			fs := w.diagnose(w.prober(), Request{ResultTypes: []string{STSPolicyFetchError}})
			f := want(t, fs, CheckTLSRPT, "_smtp._tls.rpt.test", tc.status, tc.detail)
			if !strings.Contains(f.Advice, tc.advice) {
				t.Errorf("advice %q, want %q", f.Advice, tc.advice)
			}
		})
	}
}

// TestDNSFailure: no DNS server answers: error findings, which the
// command turns into exit 3.
func TestDNSFailure(t *testing.T) {
	p := &Prober{Resolver: dnstest.Down(t), Timeout: 300 * time.Millisecond}
	fs, err := p.Diagnose(t.Context(), Request{Domain: "dead.test", All: true})
	if err != nil {
		t.Fatal(err)
	}
	want(t, fs, CheckTLSRPT, "_smtp._tls.dead.test", Error, "looking up")
	want(t, fs, CheckMX, "dead.test", Error, "looking up")
}

func TestBadDomain(t *testing.T) {
	for _, d := range []string{"", "localhost", "192.0.2.1", "a..b", "-x.test", "x.test\n", "x.test:25"} {
		if _, err := (&Prober{Resolver: "127.0.0.1:1"}).Diagnose(t.Context(), Request{Domain: d}); err == nil {
			t.Errorf("domain %q accepted", d)
		}
	}
}

func TestParsePolicy(t *testing.T) {
	for _, tc := range []struct{ in, err string }{
		{"version: STSv1\nmode: testing\nmx: a.x.test\nmax_age: 86400\n", ""},
		{"version: STSv1\r\nmode: none\r\nmax_age: 0\r\n", ""},
		{"version: STSv2\nmode: testing\nmx: a.x.test\nmax_age: 86400\n", "version"},
		{"version: STSv1\nmode: testing\nmx: a.x.test\nmax_age: 31557601\n", "max_age"},
		{"version: STSv1\nmode: testing\nmx: a.x.test\n", "no max_age"},
		{"version: STSv1\nmode: testing\nmax_age: 5\n", "no mx"},
		{"version: STSv1\nmode: testing\nmode: enforce\nmx: a.x.test\nmax_age: 5\n", "repeats"},
		{"version: STSv1\nmode testing\n", "not key: value"},
		{"version: STSv1\nmode: testing\nmx: *.*.x.test\nmax_age: 5\n", "mx"},
	} {
		_, err := parsePolicy(tc.in)
		if (err == nil) != (tc.err == "") || err != nil && !strings.Contains(err.Error(), tc.err) {
			t.Errorf("%q: error %v, want %q", tc.in, err, tc.err)
		}
	}
	p := &policy{mx: []string{"mx.x.test", "*.y.test"}}
	for host, ok := range map[string]bool{"mx.x.test": true, "a.y.test": true, "y.test": false, "a.b.y.test": false, "mx.z.test": false} {
		if p.matches(host) != ok {
			t.Errorf("matches(%q) = %v", host, !ok)
		}
	}
}

// TestBounds: at most MaxHosts MX hosts are probed, said in a finding,
// and at most Concurrency at once.
func TestBounds(t *testing.T) {
	w := healthy(t, "many.test")
	w.Rec.MX = map[string][]string{}
	for i := range 5 {
		w.AddMX(fmt.Sprintf("mx%d.many.test", i), probetest.StartSMTP(t, probetest.SMTPSilent, probetest.NoCert()))
	}
	p := w.prober()
	p.MaxHosts, p.Concurrency, p.Timeout = 4, 2, 200*time.Millisecond
	var (
		mu         sync.Mutex
		open, most int
	)
	p.Dial = func(ctx context.Context, network, addr string) (net.Conn, error) {
		c, err := w.Dial(ctx, network, addr)
		if err != nil || strings.HasSuffix(addr, ":443") {
			return c, err
		}
		mu.Lock()
		open++
		most = max(most, open)
		mu.Unlock()
		return &countedConn{Conn: c, close: func() { mu.Lock(); open--; mu.Unlock() }}, nil
	}
	fs := w.diagnose(p, Request{ResultTypes: []string{StartTLSNotSupported}})
	n, said := 0, false
	for _, f := range fs {
		if f.Check == CheckSMTP {
			n++
		}
		said = said || f.Check == CheckMX && f.Status == Warn && f.Detail == "5 MX hosts, only the first 4 probed"
	}
	if !said {
		t.Errorf("no finding says the bound:\n%s", dump(fs))
	}
	if n != 4 {
		t.Errorf("%d hosts probed, want 4", n)
	}
	if most > 2 {
		t.Errorf("%d sessions at once, want at most 2", most)
	}
}

// countedConn calls close once when closed.
type countedConn struct {
	net.Conn
	once  sync.Once
	close func()
}

func (c *countedConn) Close() error {
	c.once.Do(c.close)
	return c.Conn.Close()
}

// TestTLSHandshake: a server that hangs up after "220 go ahead" fails the
// tls check; one that speaks TLS 1.1 at most is a warning.
func TestTLSHandshake(t *testing.T) {
	for _, tc := range []struct {
		name   string
		mode   probetest.SMTPMode
		status Status
		detail string
	}{
		{"broken", probetest.SMTPBrokenTLS, Fail, "STARTTLS handshake with"},
		{"old", probetest.SMTPOldTLS, Warn, "TLS 1.1"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			w := healthy(t, "handshake.test")
			w.Rec.MX = map[string][]string{}
			w.AddMX("mx1.handshake.test", probetest.StartSMTP(t, tc.mode, w.CA.Issue(t, []string{"mx1.handshake.test"}, probetest.CertOpts{})))
			fs := w.diagnose(w.prober(), Request{ResultTypes: []string{StartTLSNotSupported}})
			want(t, fs, CheckTLS, "mx1.handshake.test", tc.status, tc.detail)
		})
	}
}

// TestNonPublicNotProbed attacks the probes through DNS: a domain from
// the reports whose MX and policy host resolve to this host's loopback
// (where the test servers listen) is not connected to; named by the
// operator, it is.
func TestNonPublicNotProbed(t *testing.T) {
	w := healthy(t, "internal.test")
	p := w.prober()
	fs, err := p.Diagnose(t.Context(), Request{Domain: "internal.test", All: true})
	if err != nil {
		t.Fatal(err)
	}
	want(t, fs, CheckSMTP, "mx1.internal.test", Error, "non-public addresses")
	want(t, fs, CheckSTSPolicy, "mta-sts.internal.test", Error, "non-public addresses")
	if len(w.Dialed) != 0 {
		t.Errorf("dialed %v", w.Dialed)
	}
}

func TestPublic(t *testing.T) {
	for s, ok := range map[string]bool{
		"192.0.2.25": true, "8.8.8.8": true, "2001:4860::8888": true,
		"127.0.0.1": false, "127.0.1.1": false, "10.1.2.3": false, "172.16.0.1": false, "192.168.1.1": false,
		"169.254.1.1": false, "100.64.1.1": false, "0.0.0.0": false, "224.0.0.1": false, "255.255.255.255": false,
		"::1": false, "::": false, "fe80::1": false, "fd00::1": false, "::ffff:127.0.0.1": false, "::ffff:10.0.0.1": false,
	} {
		if public(netip.MustParseAddr(s)) != ok {
			t.Errorf("public(%s) = %v", s, !ok)
		}
	}
}

package digest

import (
	"context"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/tlsrpt/tlsrpt/arrival"
	"github.com/tlsrpt/tlsrpt/internal/cmd/cmdtest"
	"github.com/tlsrpt/tlsrpt/internal/dnstest"
	"github.com/tlsrpt/tlsrpt/internal/probetest"
	"github.com/tlsrpt/tlsrpt/internal/storetest"
	"github.com/tlsrpt/tlsrpt/probe"
)

// fixture is a test domain whose MX host presents an expired certificate,
// its DNS server, and a store.
type fixture struct {
	w        *probetest.World
	mx       *probetest.SMTPServer
	resolver string
	db       string
	base     time.Time
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	w := probetest.HealthyPublic(t, "ours.test")
	cert := w.CA.Issue(t, []string{"mx1.ours.test"}, probetest.CertOpts{
		NotBefore: time.Now().Add(-48 * time.Hour), NotAfter: time.Now().Add(-24 * time.Hour)})
	w.Rec.MX = map[string][]string{}
	mx := probetest.StartSMTP(t, probetest.SMTPStartTLS, cert)
	w.AddMX("mx1.ours.test", mx)
	return &fixture{w: w, mx: mx, db: filepath.Join(t.TempDir(), "tlsrpt.db"), base: time.Now().UTC().Truncate(time.Second)}
}

// add stores a report of domain failing with typ at the given time.
func (x *fixture) add(t *testing.T, id, domain, typ string, auth arrival.Auth, at time.Time) {
	t.Helper()
	storetest.AddFailing(t, x.db, storetest.Failing{ID: id, Domain: domain, ResultType: typ, Auth: auth, At: at})
}

// run runs tlsrpt digest at now against the fixture's world.
func (x *fixture) run(t *testing.T, now time.Time, args ...string) string {
	t.Helper()
	if x.resolver == "" {
		x.resolver = dnstest.Start(t, x.w.Rec)
	}
	e := cmdtest.New(t)
	e.F.Trust.Resolver, e.F.DB, e.F.Now = x.resolver, x.db, func() time.Time { return now }
	cmd := NewCmdDigest(e.F, func(o *Options) error {
		o.Dial = x.w.Dial
		return Run(context.Background(), o)
	})
	if err := cmdtest.Execute(cmd, append([]string{"--host", "mx", "--no-plan", "--ca-file", cmdtest.CAFile(t, x.w.CA.Cert)}, args...)...); err != nil {
		t.Fatalf("digest: %v; stderr %q; stdout:\n%s", err, e.Err.String(), e.Out.String())
	}
	return e.Out.String()
}

const checksHeading = "Checks of the result types new since the last digest"

// TestDigestProbesNewType: a new authenticated report of
// certificate-expired gets the failing certificate finding and its fix;
// the next digest, with the same type again, probes nothing.
func TestDigestProbesNewType(t *testing.T) {
	x := newFixture(t)
	x.add(t, "1", "ours.test", probe.CertificateExpired, storetest.Signed, x.base.Add(-time.Hour))
	out := x.run(t, x.base)
	for _, s := range []string{checksHeading, "ours.test (certificate-expired)", "ours.test (certificate-expired): 1 failing check", "fail cert-expiry mx1.ours.test: the certificate expired on",
		"fix: renew the certificate", "all checks: tlsrpt diagnose ours.test"} {
		if !strings.Contains(out, s) {
			t.Errorf("no %q in:\n%s", s, out)
		}
	}
	if x.mx.Connections() == 0 {
		t.Fatalf("the MX host was not probed:\n%s", out)
	}
	before := x.mx.Connections()
	// The same type again, in a report of the next span: not new.
	x.add(t, "2", "ours.test", probe.CertificateExpired, storetest.Signed, x.base.Add(time.Hour))
	out = x.run(t, x.base.Add(2*time.Hour))
	if strings.Contains(out, checksHeading) || x.mx.Connections() != before {
		t.Errorf("a type of the last digest was probed again (%d connections, %d before):\n%s", x.mx.Connections(), before, out)
	}
}

// TestDigestNoProbe: --no-probe connects to nothing and says nothing of
// checks.
func TestDigestNoProbe(t *testing.T) {
	x := newFixture(t)
	x.add(t, "1", "ours.test", probe.CertificateExpired, storetest.Signed, x.base.Add(-time.Hour))
	out := x.run(t, x.base, "--no-probe", "--always")
	if strings.Contains(out, checksHeading) || strings.Contains(out, "cert-expiry") || x.w.Dialed != nil {
		t.Errorf("--no-probe probed (dialed %v):\n%s", x.w.Dialed, out)
	}
}

// TestDigestForgedNotProbed attacks the probe with a forged report: its
// domain's MX host is a server of the attacker's choosing, which must
// never be connected to.
func TestDigestForgedNotProbed(t *testing.T) {
	x := newFixture(t)
	victim := probetest.StartSMTP(t, probetest.SMTPStartTLS, probetest.NoCert())
	x.w.Route("mx.victim.test", 25, victim.Listener.Addr().String())
	x.w.Rec.MX["victim.test"] = []string{"mx.victim.test"}
	x.add(t, "1", "victim.test", probe.StartTLSNotSupported, arrival.Auth{}, x.base.Add(-time.Hour))
	out := x.run(t, x.base, "--always")
	if victim.Connections() != 0 || x.w.Dialed != nil || strings.Contains(out, checksHeading) {
		t.Errorf("the domain of a forged report was probed (%d connections, dialed %v):\n%s", victim.Connections(), x.w.Dialed, out)
	}
}

// TestDigestProbeCannotRun: a host that never answers and a DNS server
// that is not there are each one line in the digest, which still exits 0.
func TestDigestProbeCannotRun(t *testing.T) {
	x := newFixture(t)
	x.w.Rec.MX = map[string][]string{}
	x.w.AddMX("mx1.ours.test", probetest.StartSMTP(t, probetest.SMTPSilent, probetest.NoCert()))
	x.add(t, "1", "ours.test", probe.StartTLSNotSupported, storetest.Signed, x.base.Add(-time.Hour))
	out := x.run(t, x.base, "--probe-timeout", "300ms", "--no-record")
	if !strings.Contains(out, "1 check could not run, first smtp mx1.ours.test: no SMTP greeting") {
		t.Errorf("no line for the silent host:\n%s", out)
	}
	x.resolver = "127.0.0.1:9"
	out = x.run(t, x.base, "--probe-timeout", "300ms", "--no-record")
	if !strings.Contains(out, "ours.test (starttls-not-supported): ") || !strings.Contains(out, "2 checks could not run, first tlsrpt-record") {
		t.Errorf("no line for the missing DNS server:\n%s", out)
	}
}

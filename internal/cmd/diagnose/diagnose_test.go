package diagnose

import (
	"context"
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/tlsrpt/tlsrpt/arrival"
	"github.com/tlsrpt/tlsrpt/internal/cmd/cmdtest"
	"github.com/tlsrpt/tlsrpt/internal/cmd/cmdutil"
	"github.com/tlsrpt/tlsrpt/internal/dnstest"
	"github.com/tlsrpt/tlsrpt/internal/probetest"
	"github.com/tlsrpt/tlsrpt/internal/storetest"
	"github.com/tlsrpt/tlsrpt/probe"
)

// result is one run of the command.
type result struct {
	code        int
	out, errOut string
}

// runCmd runs tlsrpt diagnose in-process against w, with its DNS server
// as --resolver and its CA as --ca-file; db is the store, "" for none.
func runCmd(t *testing.T, w *probetest.World, resolver, db string, args ...string) result {
	t.Helper()
	e := cmdtest.New(t)
	e.F.Trust.Resolver, e.F.Now = resolver, time.Now
	if db != "" {
		e.F.DB = db
	} else { // no --db, and the default names no database
		e.F.DB, e.F.DBSet = "", false
		t.Setenv("TLSRPT_DB", e.DB)
	}
	cmd := NewCmdDiagnose(e.F, func(o *Options) error {
		o.Dial = w.Dial
		return Run(context.Background(), o)
	})
	err := cmdtest.Execute(cmd, append([]string{"--ca-file", cmdtest.CAFile(t, w.CA.Cert)}, args...)...)
	return result{code: cmdutil.ExitCode(err), out: e.Out.String(), errOut: e.Err.String()}
}

func decode(t *testing.T, s string) []Record {
	t.Helper()
	var recs []Record
	if err := json.Unmarshal([]byte(s), &recs); err != nil {
		t.Fatalf("%v in:\n%s", err, s)
	}
	return recs
}

// TestHealthyExit0: all ok, exit 0, and the JSON has every field.
func TestHealthyExit0(t *testing.T) {
	w := probetest.Healthy(t, "healthy.test")
	res := w.ValidatingResolver()
	r := runCmd(t, w, res, "", "healthy.test", "--json")
	if r.code != 0 {
		t.Fatalf("exit %d, stderr %q, stdout:\n%s", r.code, r.errOut, r.out)
	}
	recs := decode(t, r.out)
	if len(recs) < 10 {
		t.Fatalf("%d findings:\n%s", len(recs), r.out)
	}
	for _, rec := range recs {
		if rec.Domain != "healthy.test" || rec.Status != probe.OK || rec.Check == "" || rec.Host == "" || rec.Detail == "" {
			t.Errorf("record %+v", rec)
		}
	}
	for _, field := range []string{`"domain"`, `"check"`, `"host"`, `"status"`, `"detail"`, `"advice"`, `"result_types": []`} {
		if !strings.Contains(r.out, field) {
			t.Errorf("no %s in the JSON:\n%s", field, r.out)
		}
	}
}

// TestFailExit1: no STARTTLS fails: exit 1, the table says the fix.
func TestFailExit1(t *testing.T) {
	w := probetest.Healthy(t, "plain.test")
	w.Rec.MX = map[string][]string{}
	w.AddMX("mx1.plain.test", probetest.StartSMTP(t, probetest.SMTPPlain, probetest.NoCert()))
	r := runCmd(t, w, dnstest.Start(t, w.Rec), "", "plain.test")
	if r.code != 1 {
		t.Fatalf("exit %d, stderr %q, stdout:\n%s", r.code, r.errOut, r.out)
	}
	if !strings.Contains(r.out, "does not offer STARTTLS") || !strings.Contains(r.out, "fix: enable STARTTLS") {
		t.Errorf("table:\n%s", r.out)
	}
}

// TestTimeoutExit3: a host that never answers and nothing failing: exit 3.
func TestTimeoutExit3(t *testing.T) {
	w := probetest.Healthy(t, "silent.test")
	w.Rec.MX = map[string][]string{}
	w.AddMX("mx1.silent.test", probetest.StartSMTP(t, probetest.SMTPSilent, probetest.NoCert()))
	r := runCmd(t, w, dnstest.Start(t, w.Rec), "", "silent.test", "--timeout", "300ms", "--json")
	if r.code != ExitProbe {
		t.Fatalf("exit %d, want %d; stderr %q, stdout:\n%s", r.code, ExitProbe, r.errOut, r.out)
	}
	found := false
	for _, rec := range decode(t, r.out) {
		found = found || rec.Check == probe.CheckSMTP && rec.Status == probe.Error
	}
	if !found {
		t.Errorf("no smtp error finding:\n%s", r.out)
	}
}

// TestFromReports: without a domain, the domains of authenticated reports
// only; the host a report names that is no MX record is listed, never
// connected to, and its name reaches the terminal neutralised.
func TestFromReports(t *testing.T) {
	w := probetest.Healthy(t, "ours.test")
	victim := probetest.StartSMTP(t, probetest.SMTPStartTLS, probetest.NoCert())
	w.Route("victim.test", 25, victim.Listener.Addr().String())
	w.Rec.MX["victim.test"] = []string{"mx1.ours.test"}
	db := filepath.Join(t.TempDir(), "tlsrpt.db")
	end := time.Now().Add(-24 * time.Hour)
	add := func(id, domain, mx string, auth arrival.Auth) {
		storetest.AddFailing(t, db, storetest.Failing{ID: id, Domain: domain, ResultType: probe.StartTLSNotSupported, MX: mx, Sessions: 1,
			Start: end.Add(-24 * time.Hour), End: end, Auth: auth})
	}
	add("1", "ours.test", "victim.test\x1b[2J", storetest.Signed)
	add("2", "victim.test", "victim.test", arrival.Auth{})

	r := runCmd(t, w, dnstest.Start(t, w.Rec), db)
	if strings.Contains(r.out, "\x1b") {
		t.Errorf("an escape sequence reached the terminal:\n%q", r.out)
	}
	if !strings.Contains(r.out, `victim.test\x1b[2j`) || !strings.Contains(r.out, "not probed") {
		t.Errorf("table:\n%s", r.out)
	}
	// The domain came from a report and its MX is on loopback: not probed.
	if !strings.Contains(r.out, "resolves only to non-public addresses") || w.Dialed != nil {
		t.Errorf("dialed %v; table:\n%s", w.Dialed, r.out)
	}
	r = runCmd(t, w, dnstest.Start(t, w.Rec), db, "--json")
	for _, rec := range decode(t, r.out) {
		if rec.Domain != "ours.test" {
			t.Errorf("probed %s, named only by a forged report: %+v", rec.Domain, rec)
		}
		if rec.Check == probe.CheckSTSPolicy {
			t.Errorf("starttls-not-supported alone called for an MTA-STS check: %+v", rec)
		}
	}
	if victim.Connections() != 0 {
		t.Errorf("%d connections to the host only a report names", victim.Connections())
	}
}

func TestUsage(t *testing.T) {
	w := probetest.Healthy(t, "usage.test")
	for _, args := range [][]string{{"not a domain"}, {"192.0.2.1"}, {"x.test", "--expiry-warning", "soon"}, {"x.test", "--timeout", "0s"}} {
		if r := runCmd(t, w, "127.0.0.1:9", "", args...); r.code != cmdutil.ExitUsage {
			t.Errorf("%q: exit %d (%v), want 2", args, r.code, r.errOut)
		}
	}
}

// TestOurDomains: --domain adds our domains to the failing domains of the
// authenticated reports (probed as if named: on loopback too), once each;
// a DOMAIN argument replaces both; without a store --domain alone works.
func TestOurDomains(t *testing.T) {
	w := probetest.Healthy(t, "ours.test")
	db := filepath.Join(t.TempDir(), "tlsrpt.db")
	end := time.Now().Add(-24 * time.Hour)
	storetest.AddFailing(t, db, storetest.Failing{ID: "1", Domain: "reported.test", ResultType: probe.StartTLSNotSupported, Sessions: 1,
		Start: end.Add(-24 * time.Hour), End: end, Auth: storetest.Signed})
	resolver := dnstest.Start(t, w.Rec)
	domains := func(r result) map[string]int {
		n := map[string]int{}
		for _, rec := range decode(t, r.out) {
			n[rec.Domain]++
		}
		return n
	}

	r := runCmd(t, w, resolver, db, "--json", "--domain", "ours.test", "--domain", "OURS.test.")
	n := domains(r)
	if n["ours.test"] == 0 || n["reported.test"] == 0 || len(n) != 2 {
		t.Errorf("domains probed %v, want ours.test and reported.test; stdout:\n%s", n, r.out)
	}
	if n["ours.test"] != len(decode(t, runCmd(t, w, resolver, "", "--json", "ours.test").out)) {
		t.Errorf("ours.test probed %d times over, not once:\n%s", n["ours.test"], r.out)
	}
	for _, rec := range decode(t, r.out) {
		if rec.Domain == "ours.test" && (rec.Status == probe.Error || rec.Status == probe.Fail) {
			t.Errorf("our domain, on loopback, not probed as named: %+v", rec)
		}
	}

	r = runCmd(t, w, resolver, db, "--json", "--domain", "ours.test", "reported.test")
	if n := domains(r); n["ours.test"] != 0 || n["reported.test"] == 0 {
		t.Errorf("with a DOMAIN argument, probed %v", n)
	}

	r = runCmd(t, w, resolver, "", "--json", "--domain", "ours.test")
	if n := domains(r); r.code != 0 || n["ours.test"] == 0 || len(n) != 1 {
		t.Errorf("--domain without a store: exit %d, probed %v, stderr %q", r.code, n, r.errOut)
	}

	for _, bad := range []string{"not a domain", "192.0.2.1", "-x.test"} {
		if r := runCmd(t, w, resolver, "", "--domain", bad); r.code != cmdutil.ExitUsage {
			t.Errorf("--domain %q: exit %d, stderr %q", bad, r.code, r.errOut)
		}
	}
}

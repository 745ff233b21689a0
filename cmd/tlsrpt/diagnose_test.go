package main

import (
	"bytes"
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/tlsrpt/tlsrpt/internal/cmd/root"
	"github.com/tlsrpt/tlsrpt/internal/netnstest"
	"github.com/tlsrpt/tlsrpt/internal/probetest"
	"github.com/tlsrpt/tlsrpt/internal/storetest"
)

// TestDiagnoseEndToEnd runs tlsrpt diagnose as the command line does, in a
// network namespace of its own where an MX host listens on port 25, the
// policy host on 443, a validating dnsmasq answers, and the store holds
// an authenticated report: the reports' result types choose the checks
// when the operator names the domain or gives it with --domain (exit 0),
// --all finds the MX without
// STARTTLS (exit 1); without a name, the domain from the report resolves
// to loopback and is not probed (exit 3); the host only the report names
// is never connected to.
func TestDiagnoseEndToEnd(t *testing.T) {
	if !netnstest.Run(t, "TestDiagnoseEndToEnd") {
		return
	}
	w := probetest.HealthyReal(t, "e2e.test")
	w.AddMX("a.backup.e2e.test", probetest.StartSMTPOn(t, w.ListenFor("a.backup.e2e.test", 25), probetest.SMTPPlain, probetest.NoCert()))
	victim := probetest.StartSMTPOn(t, w.ListenFor("victim.test", 25), probetest.SMTPStartTLS, probetest.NoCert())
	resolver := w.ValidatingResolver()
	ca := w.CA.File(t)
	db := filepath.Join(t.TempDir(), "tlsrpt.db")
	storetest.AddFailing(t, db, storetest.Failing{ID: "1", Domain: "e2e.test", ResultType: "sts-policy-fetch-error",
		MX: "victim.test", Auth: storetest.Signed, At: time.Now().Add(-23 * time.Hour)})

	run := func(args ...string) (int, []map[string]any) {
		var out, errOut bytes.Buffer
		code := root.Main(append([]string{"diagnose", "--db", db, "--resolver", resolver, "--ca-file", ca, "--json"}, args...),
			strings.NewReader(""), &out, &errOut)
		var recs []map[string]any
		if err := json.Unmarshal(out.Bytes(), &recs); err != nil {
			t.Fatalf("diagnose %q: %v; stdout %q, stderr %q", args, err, out.String(), errOut.String())
		}
		return code, recs
	}
	// The domain from the report resolves to loopback: not probed, exit 3.
	code, recs := run()
	if code != 3 {
		t.Errorf("domain from the reports on loopback: exit %d, want 3: %v", code, recs)
	}
	for _, r := range recs {
		if r["check"] == "sts-policy" && (r["status"] != "error" || !strings.Contains(r["detail"].(string), "non-public")) {
			t.Errorf("policy host on loopback, domain from a report: %v", r)
		}
	}
	// Named by the operator, it is probed: the reported type's checks pass.
	code, recs = run("e2e.test")
	if code != 0 {
		t.Errorf("reports name only sts-policy-fetch-error: exit %d, want 0: %v", code, recs)
	}
	for _, r := range recs {
		if r["check"] == "smtp" {
			t.Errorf("sts-policy-fetch-error alone called for an SMTP probe: %v", r)
		}
	}
	// Given as ours with --domain (as [diagnose] domain in the
	// configuration file gives it), it is probed as if named: exit 0.
	code, recs = run("--domain", "e2e.test")
	if code != 0 {
		t.Errorf("--domain e2e.test: exit %d, want 0: %v", code, recs)
	}
	for _, r := range recs {
		if r["domain"] != "e2e.test" || r["status"] == "error" {
			t.Errorf("--domain e2e.test: %v", r)
		}
	}
	code, recs = run("e2e.test", "--all")
	if code != 1 {
		t.Errorf("--all: exit %d, want 1", code)
	}
	fails := 0
	for _, r := range recs {
		if r["status"] == "fail" {
			fails++
			if r["check"] != "smtp" || r["host"] != "a.backup.e2e.test" {
				t.Errorf("unexpected failure %v", r)
			}
		}
	}
	if fails != 1 {
		t.Errorf("%d failures, want 1 (a.backup offers no STARTTLS): %v", fails, recs)
	}
	if victim.Connections() != 0 {
		t.Errorf("%d connections to the host only the report names", victim.Connections())
	}
}

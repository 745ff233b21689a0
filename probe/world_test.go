package probe

import (
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/tlsrpt/tlsrpt/internal/dnstest"
	"github.com/tlsrpt/tlsrpt/internal/probetest"
)

// world is a test domain (see probetest) and its test.
type world struct {
	*probetest.World
	t *testing.T
}

// healthy is a world with everything right.
func healthy(t *testing.T, domain string) *world {
	return &world{World: probetest.Healthy(t, domain), t: t}
}

// prober starts the DNS server and returns a prober of this world.
func (w *world) prober() *Prober {
	return w.proberVia(dnstest.Start(w.t, w.Rec))
}

// proberVia returns a prober of this world asking the DNS server at
// resolver (a validating one, say).
func (w *world) proberVia(resolver string) *Prober {
	return &Prober{Resolver: resolver, Roots: w.CA.Pool(), Dial: w.Dial, Timeout: 5 * time.Second, HelloName: "probe.test"}
}

// diagnose runs every check of the world's domain.
func (w *world) diagnose(p *Prober, req Request) []Finding {
	w.t.Helper()
	if req.Domain == "" {
		req.Domain = w.Domain
	}
	req.AllowNonPublic = true // the test servers are on loopback
	fs, err := p.Diagnose(w.t.Context(), req)
	if err != nil {
		w.t.Fatal(err)
	}
	return fs
}

// find returns the finding of check for host, failing the test when there
// is none.
func find(t *testing.T, fs []Finding, check, host string) Finding {
	t.Helper()
	for _, f := range fs {
		if f.Check == check && f.Host == host {
			return f
		}
	}
	t.Fatalf("no %s finding for %s in:\n%s", check, host, dump(fs))
	return Finding{}
}

// want checks a finding's status and that its detail holds substr.
func want(t *testing.T, fs []Finding, check, host string, status Status, substr string) Finding {
	t.Helper()
	f := find(t, fs, check, host)
	if f.Status != status || !strings.Contains(f.Detail, substr) {
		t.Errorf("%s %s: got %s %q, want %s with %q\nall findings:\n%s", check, host, f.Status, f.Detail, status, substr, dump(fs))
	}
	return f
}

// wantAllOK reports each finding that is not ok, but for the checks
// named in except.
func wantAllOK(t *testing.T, fs []Finding, except ...string) {
	t.Helper()
	for _, f := range fs {
		if f.Status != OK && !slices.Contains(except, f.Check) {
			t.Errorf("%s %s: %s %q (%s)", f.Check, f.Host, f.Status, f.Detail, f.Advice)
		}
	}
}

func dump(fs []Finding) string {
	var b strings.Builder
	for _, f := range fs {
		fmt.Fprintf(&b, "  %-13s %-28s %-5s %s | %s %v\n", f.Check, f.Host, f.Status, f.Detail, f.Advice, f.ResultTypes)
	}
	return b.String()
}

package digest

import (
	"bytes"
	"context"
	"errors"
	"net"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/tlsrpt/tlsrpt/arrival"
	"github.com/tlsrpt/tlsrpt/probe"
	"github.com/tlsrpt/tlsrpt/report"
	"github.com/tlsrpt/tlsrpt/store"
)

// TestProbeBudget: when the digest's time for probes has run out, each
// domain left is one line of the text, nothing is connected to, and the
// digest is made all the same.
func TestProbeBudget(t *testing.T) {
	st, err := store.Open(filepath.Join(t.TempDir(), "t.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	ctx := context.Background()
	at := time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC)
	st.SetClock(func() time.Time { return at })
	for _, domain := range []string{"a.test", "b.test"} {
		r := &report.Report{OrganizationName: "R", ReportID: domain, Start: at.Add(-24 * time.Hour), End: at.Add(-time.Hour),
			Policies: []report.Policy{{Type: "sts", Domain: domain, Failed: 1,
				Details: []report.FailureDetail{{ResultType: probe.CertificateExpired, FailedSessions: 1}}}}}
		src := arrival.Source{Transport: "mail", Auth: arrival.Auth{Authenticated: true, Method: "dkim", Domain: "r.test"}}
		if _, _, err := st.AddReport(ctx, r, src); err != nil {
			t.Fatal(err)
		}
	}
	p := &probe.Prober{Resolver: "127.0.0.1:9", Dial: func(ctx context.Context, network, address string) (net.Conn, error) {
		t.Errorf("dialed %s", address)
		return nil, errors.New("test: no dialing")
	}}
	d, err := Compute(ctx, st, Options{Now: at.Add(time.Hour), Host: "mx", Prober: p, ProbeBudget: time.Nanosecond})
	if err != nil {
		t.Fatal(err)
	}
	var b bytes.Buffer
	if err := d.WriteText(&b); err != nil {
		t.Fatal(err)
	}
	for _, domain := range []string{"a.test", "b.test"} {
		if !strings.Contains(b.String(), domain+" (certificate-expired): the probe could not run: the digest's time for probes ran out") {
			t.Errorf("no line for %s:\n%s", domain, b.String())
		}
	}
}

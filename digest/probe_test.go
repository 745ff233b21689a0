package digest

import (
	"context"
	"errors"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/tlsrpt/tlsrpt/arrival"
	"github.com/tlsrpt/tlsrpt/internal/storetest"
	"github.com/tlsrpt/tlsrpt/probe"
)

// TestProbeBudget: when the digest's time for probes has run out, each
// domain left is one line of the text, nothing is connected to, and the
// digest is made all the same.
func TestProbeBudget(t *testing.T) {
	st := storetest.Open(t)
	at := now.Add(-time.Hour)
	for _, domain := range []string{"a.test", "b.test"} {
		r := storetest.TLS("R", domain, at.Add(-24*time.Hour),
			storetest.Policy(domain, 0, storetest.Failure{Type: probe.CertificateExpired, Sessions: 1}))
		r.End = at.Add(-time.Hour)
		src := arrival.Source{Transport: "mail", Auth: arrival.Auth{Authenticated: true, Method: "dkim", Domain: "r.test"}}
		storetest.AddTLS(t, st, at, r, src)
	}
	st.SetClock(func() time.Time { return at })
	p := &probe.Prober{Resolver: "127.0.0.1:9", Dial: func(ctx context.Context, network, address string) (net.Conn, error) {
		t.Errorf("dialed %s", address)
		return nil, errors.New("test: no dialing")
	}}
	d := compute(t, st, Options{Now: at.Add(time.Hour), Host: "mx", Prober: p, ProbeBudget: time.Nanosecond})
	txt := mailText(t, d)
	for _, domain := range []string{"a.test", "b.test"} {
		if !strings.Contains(txt, domain+" (certificate-expired): the probe could not run: the digest's time for probes ran out") {
			t.Errorf("no line for %s:\n%s", domain, txt)
		}
	}
}

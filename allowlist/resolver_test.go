package allowlist

import (
	"errors"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/tlsrpt/tlsrpt/internal/dnstest"
	"github.com/tlsrpt/tlsrpt/internal/testenv"
)

func TestResolverAgainstDnsmasq(t *testing.T) {
	long := "v=DKIM1; p=" + strings.Repeat("A", 600)
	addr := dnstest.Start(t, dnstest.Records{
		TXT:  map[string][]string{"_spf.google.com": {"v=spf1 ip4:209.85.128.0/17 ~all"}, "long.example": {long}},
		PTR:  map[string][]string{"209.85.220.41": {"mail-sor-f41.google.com"}},
		Host: map[string][]string{"mail-sor-f41.google.com": {"209.85.220.41", "2607:f8b0::41"}},
		MX:   map[string][]string{"google.com": {"smtp.google.com"}},
	})
	r := &Resolver{Server: addr}
	ctx := t.Context()

	txt, err := r.LookupTXT(ctx, "_spf.google.com")
	if err != nil || len(txt) != 1 || txt[0] != "v=spf1 ip4:209.85.128.0/17 ~all" {
		t.Errorf("LookupTXT(_spf.google.com) = %q, %v", txt, err)
	}
	txt, err = r.LookupTXT(ctx, "long.example")
	if err != nil || len(txt) != 1 || txt[0] != long {
		t.Errorf("LookupTXT(long.example) = %d records, %v; want the 611-byte record joined", len(txt), err)
	}
	names, err := r.LookupAddr(ctx, "209.85.220.41")
	if err != nil || len(names) == 0 || names[0] != "mail-sor-f41.google.com." {
		t.Errorf("LookupAddr = %q, %v", names, err)
	}
	ips, err := r.LookupIPAddr(ctx, "mail-sor-f41.google.com")
	if err != nil || len(ips) != 2 {
		t.Errorf("LookupIPAddr = %v, %v; want an A and an AAAA", ips, err)
	}
	mx, err := r.LookupMX(ctx, "google.com")
	if err != nil || len(mx) != 1 || mx[0].Host != "smtp.google.com." {
		t.Errorf("LookupMX = %v, %v", mx, err)
	}
	_, err = r.LookupTXT(ctx, "nothing.example")
	var dnsErr *net.DNSError
	if !errors.As(err, &dnsErr) || !dnsErr.IsNotFound {
		t.Errorf("LookupTXT(nothing.example) error = %v; want not found", err)
	}
}

// TestResolverServerDownIsQuick: a server whose port refuses fails the
// lookup at once with a temporary error, without waiting for a time-out:
// the query time-out and the budget are an hour, the error must not be a
// time-out, and the budget must be left unspent.
func TestResolverServerDownIsQuick(t *testing.T) {
	r := &Resolver{Server: dnstest.Down(t), Timeout: time.Hour, Budget: time.Hour}
	var err error
	ctx, cancel := r.WithBudget(t.Context())
	defer cancel()
	testenv.Returns(t, "LookupTXT with no server", func() { _, err = r.LookupTXT(ctx, "_spf.google.com") })
	var dnsErr *net.DNSError
	if !errors.As(err, &dnsErr) || !dnsErr.Temporary() || dnsErr.IsTimeout {
		t.Errorf("LookupTXT with no server: error %v; want a temporary DNS error that is no time-out", err)
	}
	if ctx.Err() != nil {
		t.Errorf("LookupTXT with no server spent the budget: %v", ctx.Err())
	}
}

func TestResolverCacheServesStale(t *testing.T) {
	now := time.Date(2026, 11, 23, 19, 0, 0, 0, time.UTC)
	clock := func() time.Time { return now }
	cache := &MemCache{Now: clock}
	addr := dnstest.Start(t, dnstest.Records{TXT: map[string][]string{"_spf.google.com": {"v=spf1 ip4:209.85.128.0/17 ~all"}}})
	r := &Resolver{Server: addr, Cache: cache, Now: clock}
	ctx := t.Context()
	if _, err := r.LookupTXT(ctx, "_spf.google.com"); err != nil {
		t.Fatal(err)
	}
	if _, err := r.LookupTXT(ctx, "nothing.example"); err == nil {
		t.Fatal("nothing.example resolved")
	}
	if cache.Len() != 2 {
		t.Fatalf("cache holds %d entries, want 2 (one answer, one NXDOMAIN)", cache.Len())
	}
	value, expires, ok, _ := cache.CacheGet(ctx, "dns TXT _spf.google.com.")
	if !ok || len(value) == 0 || !expires.Equal(now.Add(dnstest.TTL*time.Second)) {
		t.Errorf("cached entry expires %v, want %v (the server's TTL)", expires, now.Add(dnstest.TTL*time.Second))
	}

	// The same cache behind a server where nothing answers, long after the
	// TTL: the stale answer is served.
	now = now.Add(24 * time.Hour)
	down := &Resolver{Server: dnstest.Down(t), Cache: cache, Now: clock}
	txt, err := down.LookupTXT(ctx, "_spf.google.com")
	if err != nil || len(txt) != 1 {
		t.Errorf("stale LookupTXT = %q, %v; want the cached record", txt, err)
	}
	var dnsErr *net.DNSError
	if _, err := down.LookupTXT(ctx, "nothing.example"); !errors.As(err, &dnsErr) || !dnsErr.IsNotFound {
		t.Errorf("stale NXDOMAIN: error %v; want not found", err)
	}
	if _, err := down.LookupTXT(ctx, "uncached.example"); !errors.As(err, &dnsErr) || !dnsErr.Temporary() {
		t.Errorf("uncached name with no server: error %v; want temporary", err)
	}
}

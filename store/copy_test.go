package store

import (
	"errors"
	"net/netip"
	"path/filepath"
	"reflect"
	"testing"
	"time"

	"github.com/tlsrpt/tlsrpt/arrival"
)

// TestCopy copies a SQLite store into a fresh store (a PostgreSQL database
// in the PostgreSQL run): the same review rows, evidence, audit log and
// counts come out, and the copy takes new reports after the copied keys.
func TestCopy(t *testing.T) {
	ctx := t.Context()
	src := openAt(t, filepath.Join(t.TempDir(), "src.db"))
	signed := arrival.Source{Transport: "mail", Submitter: "google.com", Auth: arrival.Auth{Authenticated: true, Method: "dkim", Domain: "google.com", Detail: "ok"}}
	for i, r := range []struct {
		org, id string
		src     arrival.Source
		ip      string
	}{
		{"Google Inc.", "g1", signed, "209.85.220.41"},
		{"Google Inc.", "g2", signed, "209.85.220.42"},
		{"Microsoft Corporation", "m1", arrival.Source{Transport: "https"}, "40.107.1.1"},
		{"Evil \x1b[2J\n", "e1", arrival.Source{Transport: "mail", Submitter: "evil.example"}, "203.0.113.9"},
	} {
		rep := mkReport(r.org, r.id, 1+i, detail(r.ip, "certificate-expired", int64(3+i)), detail("", "sts-policy-fetch-error", 1))
		if _, _, err := src.AddReport(ctx, rep, r.src); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := src.LogAction(ctx, Action{Time: time.Unix(1700000000, 0), IP: netip.MustParseAddr("209.85.220.41"),
		Host: "mx1.example.com", Backend: "fail2ban", Kind: "unban", Applied: true, OK: true}); err != nil {
		t.Fatal(err)
	}
	if err := src.CachePut(ctx, "txt:example.com", []byte{0, 1, 2, 0xff}, time.Hour); err != nil {
		t.Fatal(err)
	}

	dst := openTemp(t)
	c, err := Copy(ctx, dst, src)
	if err != nil {
		t.Fatal(err)
	}
	counts := c.Rows
	want, _ := src.Count(ctx)
	if len(c.Skipped) != 0 || !reflect.DeepEqual(counts, want) || want["reports"] != 4 || want["failure_details"] != 8 {
		t.Errorf("copied %v, source holds %v", counts, want)
	}
	for _, since := range []time.Time{{}, day(2)} {
		a, err1 := src.Failing(ctx, since)
		b, err2 := dst.Failing(ctx, since)
		if err1 != nil || err2 != nil || !reflect.DeepEqual(a, b) {
			t.Errorf("Failing(%v) differs after the copy:\n src %+v (%v)\n dst %+v (%v)", since, a, err1, b, err2)
		}
		ea, err1 := src.EvidenceAll(ctx, since)
		eb, err2 := dst.EvidenceAll(ctx, since)
		if err1 != nil || err2 != nil || !reflect.DeepEqual(ea, eb) {
			t.Errorf("EvidenceAll(%v) differs after the copy:\n src %+v\n dst %+v", since, ea, eb)
		}
	}
	aa, _ := src.Actions(ctx, 0)
	ab, _ := dst.Actions(ctx, 0)
	if !reflect.DeepEqual(aa, ab) || len(ab) != 1 || ab[0].Host != "mx1.example.com" {
		t.Errorf("audit log after the copy: %+v, want %+v", ab, aa)
	}
	if v, _, ok, err := dst.CacheGet(ctx, "txt:example.com"); err != nil || !ok || string(v) != "\x00\x01\x02\xff" {
		t.Errorf("DNS cache after the copy: %q, %v, %v", v, ok, err)
	}
	// New rows get keys after the copied ones.
	if _, dup, err := dst.AddReport(ctx, mkReport("Google Inc.", "g3", 9, detail("209.85.220.41", "validation-failure", 1)), signed); err != nil || dup {
		t.Fatalf("adding to the copy: dup %v, %v", dup, err)
	}
	if _, err := dst.LogAction(ctx, Action{Backend: "iptables", Kind: "unban"}); err != nil {
		t.Fatalf("logging to the copy: %v", err)
	}
	// A second copy into a store that is not empty is refused.
	if _, err := Copy(ctx, dst, src); !errors.Is(err, ErrNotEmpty) {
		t.Errorf("copy into a full store: %v, want ErrNotEmpty", err)
	}
}

package store

import (
	"errors"
	"net/netip"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/tlsrpt/tlsrpt/arrival"
	"github.com/tlsrpt/tlsrpt/dmarc"
	"github.com/tlsrpt/tlsrpt/internal/reporttest"
	"github.com/tlsrpt/tlsrpt/report"
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

// TestCopyLeavesOutUnindexable copies an older SQLite store that took
// reports with a 20 KB report-id, organization-name and result-type and
// a DNS cache entry with a 20 KB key: the copy (into PostgreSQL in the
// PostgreSQL run) leaves those out, each with its reason, and copies the
// rest, where it once failed as a whole.
func TestCopyLeavesOutUnindexable(t *testing.T) {
	ctx := t.Context()
	src := openAt(t, filepath.Join(t.TempDir(), "old.db"))
	add := func(r *report.Report) {
		t.Helper()
		// Past AddReport's check, as an older tlsrpt stored them.
		if _, _, err := src.addChecked(ctx, r, arrival.Source{Transport: "mail"}, normName(r.OrganizationName)); err != nil {
			t.Fatal(err)
		}
	}
	long := reporttest.Noise(20000)
	add(mkReport("Google Inc.", "g1", 1, detail("192.0.2.1", "certificate-expired", 2)))
	add(mkReport("Org", long, 1, detail("192.0.2.2", "certificate-expired", 1)))
	add(mkReport(long[:1000], "o1", 1, detail("192.0.2.3", "certificate-expired", 1)))
	add(mkReport("Org", "t1", 1, detail("192.0.2.1", "validation-failure", 1), detail("192.0.2.4", long, 1)))
	add(mkReport("Microsoft Corporation", "m1", 2, detail("192.0.2.5", "starttls-not-supported", 4)))
	if err := src.CachePut(ctx, "txt:"+long, []byte("x"), 3600e9); err != nil {
		t.Fatal(err)
	}
	if err := src.CachePut(ctx, "txt:example.com", []byte("y"), 3600e9); err != nil {
		t.Fatal(err)
	}

	dst := openTemp(t)
	c, err := Copy(ctx, dst, src)
	if err != nil {
		t.Fatalf("copy of a store holding unindexable reports: %v", err)
	}
	want := []string{"report-id of 20000 bytes", "organization-name of 1000 bytes", "result-type of 20000 bytes"}
	if len(c.Skipped) != len(want) {
		t.Fatalf("left out %+v", c.Skipped)
	}
	for i, s := range c.Skipped {
		if !strings.HasPrefix(s.Why, want[i]) {
			t.Errorf("left out report %d: %q, want %q", s.ID, s.Why, want[i])
		}
	}
	if c.Rows["reports"] != 2 || c.Left["reports"] != 3 || c.Rows["failure_details"] != 2 || c.Left["failure_details"] != 4 ||
		c.Rows["dns_cache"] != 1 || c.Left["dns_cache"] != 1 {
		t.Errorf("copied %v, left out %v", c.Rows, c.Left)
	}
	rows, err := dst.Failing(ctx, day(1))
	if err != nil || len(rows) != 2 || rows[0].FailedSessions+rows[1].FailedSessions != 6 {
		t.Errorf("Failing after the copy: %+v, %v", rows, err)
	}
}

// TestCopyDMARC: Copy (migrate-db) carries the DMARC reports with their
// records, keys and sources, and the copy takes new ones after them.
func TestCopyDMARC(t *testing.T) {
	ctx := t.Context()
	src := openAt(t, filepath.Join(t.TempDir(), "src.db"))
	var ids []int64
	for i, r := range []*dmarc.Report{
		mkDMARC("google.com", "c-1", 3, dmarcRec{"192.0.2.1", 4, true}, dmarcRec{"2001:db8::1", 2, false}),
		mkDMARC("Yahoo", "c-2", 4, dmarcRec{"198.51.100.7", 9, false}),
	} {
		r.Records[0].Reasons = []dmarc.Reason{{Type: "forwarded", Comment: "list"}}
		id, _, err := src.AddDMARC(ctx, r, []arrival.Source{dsigned("google.com"), dunsigned("yahoo.com")}[i])
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, id)
	}
	dst := openTemp(t)
	c, err := Copy(ctx, dst, src)
	if err != nil {
		t.Fatal(err)
	}
	if c.Rows["dmarc_reports"] != 2 || c.Rows["dmarc_records"] != 3 {
		t.Errorf("copied %v; want 2 DMARC reports, 3 records", c.Rows)
	}
	for _, id := range ids {
		a, asrc, err1 := src.DMARCReport(ctx, id)
		b, bsrc, err2 := dst.DMARCReport(ctx, id)
		if err1 != nil || err2 != nil || !reflect.DeepEqual(a, b) || asrc != bsrc {
			t.Errorf("report %d: copy differs: %+v %v\n%+v %v", id, a, err1, b, err2)
		}
	}
	id, dup, err := dst.AddDMARC(ctx, mkDMARC("google.com", "c-3", 5), dsigned("google.com"))
	if err != nil || dup || id <= ids[1] {
		t.Errorf("a new report in the copy: %d, %v, %v; want a key after %d", id, dup, err, ids[1])
	}
}

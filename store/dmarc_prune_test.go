package store

import (
	"path/filepath"
	"reflect"
	"testing"

	"github.com/tlsrpt/tlsrpt/arrival"
	"github.com/tlsrpt/tlsrpt/dmarc"
)

// TestDMARCPrune: PrunePlan counts and Prune removes the DMARC reports
// whose range ended before the cutoff, with their records, by the rule
// TLS reports are pruned by, and nothing younger.
func TestDMARCPrune(t *testing.T) {
	s := openTemp(t)
	ctx := t.Context()
	for d := 1; d <= 10; d++ {
		r := mkDMARC("google.com", "p-"+string(rune('a'+d)), d, dmarcRec{"192.0.2.1", 1, true}, dmarcRec{"192.0.2.2", 2, false})
		if _, _, err := s.AddDMARC(ctx, r, dsigned("google.com")); err != nil {
			t.Fatal(err)
		}
	}
	if _, _, err := s.AddReport(ctx, mkReport("Google Inc.", "tls-1", 2), arrival.Source{}); err != nil {
		t.Fatal(err)
	}
	// Reports of days 1 to 4 end before day 5.
	plan, err := s.PrunePlan(ctx, day(5))
	if err != nil {
		t.Fatal(err)
	}
	if plan.DMARCReports != 4 || plan.DMARCRecords != 8 || plan.Reports != 1 {
		t.Errorf("plan: %+v; want 4 DMARC reports, 8 records, 1 TLS report", plan)
	}
	if reports, records := dmarcRows(t, s); reports != 10 || records != 20 {
		t.Fatalf("the plan removed something: %d reports, %d records", reports, records)
	}
	got, err := s.Prune(ctx, day(5))
	if err != nil {
		t.Fatal(err)
	}
	if got != plan {
		t.Errorf("Prune = %+v; plan was %+v", got, plan)
	}
	if reports, records := dmarcRows(t, s); reports != 6 || records != 12 {
		t.Errorf("after the prune: %d reports, %d records; want 6 and 12", reports, records)
	}
	var orphans int64
	if err := s.db.QueryRow(`SELECT COUNT(*) FROM dmarc_records c WHERE NOT EXISTS
		(SELECT 1 FROM dmarc_reports r WHERE r.id = c.report_id)`).Scan(&orphans); err != nil || orphans != 0 {
		t.Errorf("%d records without their report (%v)", orphans, err)
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

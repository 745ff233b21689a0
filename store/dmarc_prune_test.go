package store

import (
	"context"
	"testing"
)

// TestDMARCPrune: PrunePlan counts and Prune removes the DMARC reports
// whose range ended before the cutoff, with their records, by the rule
// TLS reports are pruned by, and nothing younger.
func TestDMARCPrune(t *testing.T) {
	s := openTemp(t)
	ctx := context.Background()
	for d := 1; d <= 10; d++ {
		r := mkDMARC("google.com", "p-"+string(rune('a'+d)), d, dmarcRec{"192.0.2.1", 1, true}, dmarcRec{"192.0.2.2", 2, false})
		if _, _, err := s.AddDMARC(ctx, r, dsigned("google.com")); err != nil {
			t.Fatal(err)
		}
	}
	if _, _, err := s.AddReport(ctx, mkReport("Google Inc.", "tls-1", 2), Source{}); err != nil {
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

package store

import (
	"errors"
	"net/netip"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/tlsrpt/tlsrpt/arrival"
	"github.com/tlsrpt/tlsrpt/dmarc"
)

// mkDMARC builds a DMARC report of reporter (its org_name) for the UTC
// day of 2026-11-d with one record per rec: a source address, a count and
// whether it passes DMARC (aligned DKIM pass; SPF fails either way).
func mkDMARC(reporter, id string, d int, recs ...dmarcRec) *dmarc.Report {
	r := &dmarc.Report{
		Version: "1.0",
		Metadata: dmarc.Metadata{Reporter: reporter, OrgName: reporter, Email: "noreply-dmarc@" + reporter,
			ReportID: id, Begin: day(d), End: day(d + 1).Add(-time.Second)},
		Policy: dmarc.PolicyPublished{Domain: "example.net", ADKIM: "r", ASPF: "r", P: "reject", SP: "reject", Pct: 100},
	}
	for _, x := range recs {
		dk := "fail"
		if x.pass {
			dk = "pass"
		}
		r.Records = append(r.Records, dmarc.Record{SourceIP: netip.MustParseAddr(x.ip), Count: x.n,
			Disposition: "none", DKIM: dk, SPF: "fail", HeaderFrom: "example.net", EnvelopeFrom: "example.net",
			DKIMResults: []dmarc.DKIMResult{{Domain: "example.net", Selector: "s1", Result: dk}},
			SPFResults:  []dmarc.SPFResult{{Domain: "example.net", Scope: "mfrom", Result: "softfail"}}})
	}
	return r
}

type dmarcRec struct {
	ip   string
	n    int64
	pass bool
}

// dsigned is a Source authenticated by domain.
func dsigned(domain string) arrival.Source {
	return arrival.Source{Transport: "mail", FromDomain: domain, MessageID: "<m@" + domain + ">",
		Received: day(28), Auth: arrival.Auth{Authenticated: true, Method: "dkim", Domain: domain, Detail: "dkim=pass d=" + domain}}
}

// dunsigned is a Source that claims domain as its From domain, unsigned.
func dunsigned(domain string) arrival.Source {
	return arrival.Source{Transport: "mail", FromDomain: domain, Auth: arrival.Auth{Detail: "no signature"}}
}

// TestDMARCCorpusRoundTrip stores every report of the shared corpus and
// reads each back as it was parsed, with its Source; storing it again is
// a duplicate.
func TestDMARCCorpusRoundTrip(t *testing.T) {
	s := openTemp(t)
	ctx := t.Context()
	files, _ := filepath.Glob("../dmarc/testdata/corpus/*")
	n := 0
	for _, f := range files {
		if strings.HasSuffix(f, ".md") || strings.HasSuffix(f, ".eml") || strings.Contains(f, "invalid") {
			continue
		}
		b, err := os.Open(f)
		if err != nil {
			t.Fatal(err)
		}
		r, err := dmarc.Parse(b, dmarc.Limits{})
		b.Close()
		if err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		n++
		src := dsigned(r.Metadata.Reporter)
		id, dup, err := s.AddDMARC(ctx, r, src)
		if err != nil || dup {
			t.Fatalf("%s: AddDMARC = %d, %v, %v", f, id, dup, err)
		}
		got, gotSrc, err := s.DMARCReport(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(got, r) {
			t.Errorf("%s: read back\n%+v\nwant\n%+v", f, got, r)
		}
		if !reflect.DeepEqual(gotSrc, src) {
			t.Errorf("%s: source read back %+v, want %+v", f, gotSrc, src)
		}
		if id2, dup, err := s.AddDMARC(ctx, r, src); err != nil || !dup || id2 != id {
			t.Errorf("%s: storing again = %d, %v, %v; want %d, dup", f, id2, dup, err, id)
		}
	}
	if n < 4 {
		t.Fatalf("read %d corpus files; want at least 4", n)
	}
}

// dmarcRows counts the stored DMARC reports and records.
func dmarcRows(t *testing.T, s *Store) (reports, records int64) {
	t.Helper()
	if err := s.db.QueryRow(`SELECT (SELECT COUNT(*) FROM dmarc_reports), (SELECT COUNT(*) FROM dmarc_records)`).Scan(&reports, &records); err != nil {
		t.Fatal(err)
	}
	return reports, records
}

// TestDMARCDedupAttacks stores a genuine report signed by google.com and
// a forger's copy with the same reporter and report_id naming the
// forger's address, in both orders: the stored report of google.com's
// key is always the genuine one, and an unauthenticated copy never
// replaces nor hides it.
func TestDMARCDedupAttacks(t *testing.T) {
	genuine := func() *dmarc.Report { return mkDMARC("google.com", "g-1", 20, dmarcRec{"209.85.220.41", 10, true}) }
	forgedR := func() *dmarc.Report { return mkDMARC("google.com", "g-1", 20, dmarcRec{"203.0.113.66", 500, false}) }
	for _, tc := range []struct {
		name  string
		src   arrival.Source
		apart bool // the forged copy is stored beside the genuine one, under its own key
	}{
		{"unsigned, From google.com", dunsigned("google.com"), false},
		{"unsigned, no From", arrival.Source{Transport: "import"}, false},
		{"unsigned, From evil.example", dunsigned("evil.example"), true},
		{"signed by evil.example", dsigned("evil.example"), true},
	} {
		for _, forgerFirst := range []bool{true, false} {
			t.Run(tc.name+map[bool]string{true: "/forger first", false: "/genuine first"}[forgerFirst], func(t *testing.T) {
				s := openTemp(t)
				ctx := t.Context()
				add := func(r *dmarc.Report, src arrival.Source) {
					if _, _, err := s.AddDMARC(ctx, r, src); err != nil {
						t.Fatal(err)
					}
				}
				if forgerFirst {
					add(forgedR(), tc.src)
					add(genuine(), dsigned("google.com"))
				} else {
					add(genuine(), dsigned("google.com"))
					add(forgedR(), tc.src)
				}
				var ip string
				var authed bool
				err := s.db.QueryRow(`SELECT c.source_ip, r.auth_authenticated FROM dmarc_reports r
					JOIN dmarc_records c ON c.report_id = r.id WHERE r.reporter = 'google.com' AND r.report_id = 'g-1'`).Scan(&ip, &authed)
				if err != nil {
					t.Fatal(err)
				}
				if ip != "209.85.220.41" || !authed {
					t.Errorf("google.com's report names %s, authenticated %v; want the genuine 209.85.220.41, authenticated", ip, authed)
				}
				reports, _ := dmarcRows(t, s)
				want := int64(1)
				if tc.apart {
					want = 2
				}
				if reports != want {
					t.Errorf("%d reports stored, want %d", reports, want)
				}
			})
		}
	}
}

// TestDMARCUpgradeAndCopies: an authenticated copy replaces the same
// reporter's unauthenticated copy (arrival.Upgraded) and word-for-word copies
// from anyone unauthenticated; word-for-word copies are one report.
func TestDMARCUpgradeAndCopies(t *testing.T) {
	s := openTemp(t)
	ctx := t.Context()
	r := mkDMARC("google.com", "g-2", 20, dmarcRec{"209.85.220.41", 10, true}, dmarcRec{"192.0.2.1", 3, false})
	id1, added, err := s.AddDMARCResult(ctx, r, arrival.Source{Transport: "import"})
	if err != nil || added != arrival.New {
		t.Fatalf("first copy: %v, %v", added, err)
	}
	// The same words under another claimed From: one report.
	if id, added, err := s.AddDMARCResult(ctx, r, dunsigned("mail.example")); err != nil || added != arrival.Duplicate || id != id1 {
		t.Fatalf("word-for-word copy: %d, %v, %v; want %d, Duplicate", id, added, err, id1)
	}
	id2, added, err := s.AddDMARCResult(ctx, r, dsigned("google.com"))
	if err != nil || added != arrival.Upgraded {
		t.Fatalf("signed copy: %d, %v, %v; want Upgraded", id2, added, err)
	}
	if reports, records := dmarcRows(t, s); reports != 1 || records != 2 {
		t.Errorf("%d reports, %d records stored; want 1 and 2", reports, records)
	}
	if _, src, err := s.DMARCReport(ctx, id2); err != nil || !src.Auth.Authenticated {
		t.Errorf("the stored copy: %+v, %v; want the signed one", src, err)
	}
	// Later unauthenticated copies are duplicates of the signed one.
	if id, added, err := s.AddDMARCResult(ctx, r, dunsigned("google.com")); err != nil || added != arrival.Duplicate || id != id2 {
		t.Errorf("unsigned copy after the signed one: %d, %v, %v; want %d, Duplicate", id, added, err, id2)
	}
}

// TestDMARCRefused attacks the bounds: over-long indexed strings, counts
// out of range and an authenticated source without a domain are refused
// before any statement, with errors Refused recognises.
func TestDMARCRefused(t *testing.T) {
	s := openTemp(t)
	ctx := t.Context()
	long := strings.Repeat("x", MaxIndexed+1)
	nul := strings.Repeat("\x00", MaxIndexed/3+1) // 3 bytes each in PostgreSQL
	for _, tc := range []struct {
		name string
		r    func() *dmarc.Report
		src  arrival.Source
		kind error
	}{
		{"long report_id", func() *dmarc.Report { return mkDMARC("google.com", long, 20) }, dsigned("google.com"), ErrTooLong},
		{"NULs in report_id", func() *dmarc.Report { return mkDMARC("google.com", nul, 20) }, dsigned("google.com"), ErrTooLong},
		{"long reporter", func() *dmarc.Report { return mkDMARC(long, "x", 20) }, arrival.Source{}, ErrTooLong},
		{"long From domain", func() *dmarc.Report { return mkDMARC("google.com", "x", 20) }, dunsigned(long), ErrTooLong},
		{"negative count", func() *dmarc.Report { return mkDMARC("google.com", "x", 20, dmarcRec{"192.0.2.1", -1, true}) }, dsigned("google.com"), ErrCount},
		{"count over MaxCount", func() *dmarc.Report {
			return mkDMARC("google.com", "x", 20, dmarcRec{"192.0.2.1", MaxCount + 1, true})
		}, dsigned("google.com"), ErrCount},
		{"authenticated without domain", func() *dmarc.Report { return mkDMARC("google.com", "x", 20) },
			arrival.Source{Auth: arrival.Auth{Authenticated: true, Method: "dkim"}}, ErrAuth},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, _, err := s.AddDMARC(ctx, tc.r(), tc.src)
			if !errors.Is(err, tc.kind) || !Refused(err) {
				t.Fatalf("AddDMARC: %v; want %v, refused", err, tc.kind)
			}
			if strings.Contains(err.Error(), long) || len(err.Error()) > 1000 {
				t.Errorf("error quotes the whole value: %.200s...", err)
			}
		})
	}
	if reports, _ := dmarcRows(t, s); reports != 0 {
		t.Errorf("%d reports stored; want none", reports)
	}
	// At the bound, stored on both engines.
	edge := strings.Repeat("y", MaxIndexed)
	if _, _, err := s.AddDMARC(ctx, mkDMARC(edge, edge, 20), dunsigned(edge)); err != nil {
		t.Errorf("strings of MaxIndexed bytes: %v", err)
	}
}

// TestDMARCTotals: the report row carries its messages and DMARC
// failures, counted from the records.
func TestDMARCTotals(t *testing.T) {
	s := openTemp(t)
	ctx := t.Context()
	id, _, err := s.AddDMARC(ctx, mkDMARC("google.com", "t", 20,
		dmarcRec{"192.0.2.1", 7, true}, dmarcRec{"192.0.2.2", 5, false}, dmarcRec{"192.0.2.3", 1, false}), dsigned("google.com"))
	if err != nil {
		t.Fatal(err)
	}
	var messages, failed int64
	if err := s.db.QueryRow(`SELECT messages, failed FROM dmarc_reports WHERE id = ?`, id).Scan(&messages, &failed); err != nil {
		t.Fatal(err)
	}
	if messages != 13 || failed != 6 {
		t.Errorf("messages %d, failed %d; want 13 and 6", messages, failed)
	}
}

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

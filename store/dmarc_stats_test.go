package store

import (
	"net/netip"
	"reflect"
	"testing"
	"time"

	"github.com/tlsrpt/tlsrpt/arrival"
	"github.com/tlsrpt/tlsrpt/dmarc"
)

// sideFixture stores, hand-counted:
//
//	google.com, signed:   DMARC day 20: 10 pass, 4 fail (192.0.2.9); day 21: 5 pass
//	                      TLS day 20: 100 successful, 3 failed
//	google.com, unsigned: DMARC day 20: 100 fail (203.0.113.66), From google.com
//	"Yahoo ", unsigned:   DMARC day 20: 3 pass
//	"Google Inc.", unsigned TLS day 21: 100 successful, 7 failed
func sideFixture(t *testing.T) *Store {
	t.Helper()
	s := openTemp(t)
	ctx := t.Context()
	for _, x := range []struct {
		r   *dmarc.Report
		src arrival.Source
	}{
		{mkDMARC("google.com", "g20", 20, dmarcRec{"209.85.220.41", 10, true}, dmarcRec{"192.0.2.9", 4, false}), dsigned("google.com")},
		{mkDMARC("google.com", "g21", 21, dmarcRec{"209.85.220.41", 5, true}), dsigned("google.com")},
		{mkDMARC("google.com", "forged", 20, dmarcRec{"203.0.113.66", 100, false}), dunsigned("google.com")},
		{mkDMARC("Yahoo ", "y20", 20, dmarcRec{"98.136.1.1", 3, true}), dunsigned("yahoo.com")},
	} {
		if _, _, err := s.AddDMARC(ctx, x.r, x.src); err != nil {
			t.Fatal(err)
		}
	}
	g := arrival.Source{Transport: "mail", Auth: arrival.Auth{Authenticated: true, Method: "dkim", Domain: "google.com"}}
	if _, _, err := s.AddReport(ctx, mkReport("Google Inc.", "t20", 20, detail("192.0.2.1", "certificate-expired", 3)), g); err != nil {
		t.Fatal(err)
	}
	if _, _, err := s.AddReport(ctx, mkReport("Google Inc.", "t21", 21, detail("192.0.2.1", "certificate-expired", 7)), arrival.Source{Transport: "https"}); err != nil {
		t.Fatal(err)
	}
	return s
}

func TestDMARCStats(t *testing.T) {
	s := sideFixture(t)
	ctx := t.Context()
	for _, tc := range []struct {
		name  string
		since time.Time
		by    Period
		group Group
		want  []DMARCRow
	}{
		{"day by reporter", time.Time{}, Day, ByReporter, []DMARCRow{
			{Start: day(20), Key: "Yahoo", Messages: 3, Pass: 3, Unauthenticated: true},
			{Start: day(20), Key: "google.com", Messages: 14, Pass: 10, Fail: 4},
			{Start: day(20), Key: "google.com", Messages: 100, Fail: 100, Unauthenticated: true},
			{Start: day(21), Key: "google.com", Messages: 5, Pass: 5},
		}},
		{"week by reporter", time.Time{}, Week, ByReporter, []DMARCRow{
			{Start: day(16), Key: "Yahoo", Messages: 3, Pass: 3, Unauthenticated: true},
			{Start: day(16), Key: "google.com", Messages: 19, Pass: 15, Fail: 4},
			{Start: day(16), Key: "google.com", Messages: 100, Fail: 100, Unauthenticated: true},
		}},
		{"day, no group", time.Time{}, Day, NoGroup, []DMARCRow{
			{Start: day(20), Messages: 117, Pass: 13, Fail: 104},
			{Start: day(21), Messages: 5, Pass: 5},
		}},
		{"month by domain since day 21", day(21), Month, ByDomain, []DMARCRow{
			{Start: day(1), Key: "example.net", Messages: 5, Pass: 5},
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := s.DMARCStats(ctx, tc.since, tc.by, tc.group)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, tc.want) {
				t.Errorf("got\n%+v\nwant\n%+v", got, tc.want)
			}
		})
	}
	if _, err := s.DMARCStats(ctx, time.Time{}, Day, ByMX); err == nil {
		t.Error("DMARCStats by mx: no error")
	}
}

// TestSideBySide checks the hand-counted fixture side by side: the
// signed google.com is one row for its TLS and DMARC reports; the
// unsigned claims stay apart under the names they claim.
func TestSideBySide(t *testing.T) {
	s := sideFixture(t)
	got, err := s.SideBySide(t.Context(), time.Time{}, Day, ByReporter)
	wantEqual(t, got, err, []SideRow{
		{Start: day(20), Key: "Yahoo", Messages: 3, DMARCPass: 3, Unauthenticated: true},
		{Start: day(20), Key: "google.com", Successful: 100, Failed: 3, Messages: 14, DMARCPass: 10, DMARCFail: 4},
		{Start: day(20), Key: "google.com", Messages: 100, DMARCFail: 100, Unauthenticated: true},
		{Start: day(21), Key: "Google Inc.", Successful: 100, Failed: 7, Unauthenticated: true},
		{Start: day(21), Key: "google.com", Messages: 5, DMARCPass: 5},
	})
	month, err := s.SideBySide(t.Context(), time.Time{}, Month, NoGroup)
	if err != nil {
		t.Fatal(err)
	}
	if want := []SideRow{{Start: day(1), Successful: 200, Failed: 10, Messages: 122, DMARCPass: 18, DMARCFail: 104}}; !reflect.DeepEqual(month, want) {
		t.Errorf("by month: %+v, want %+v", month, want)
	}
}

func TestDMARCFailingSources(t *testing.T) {
	s := sideFixture(t)
	ctx := t.Context()
	if _, _, err := s.AddDMARC(ctx, mkDMARC("google.com", "g22", 22, dmarcRec{"192.0.2.9", 1, false}, dmarcRec{"192.0.2.10", 2, false}), dsigned("google.com")); err != nil {
		t.Fatal(err)
	}
	got, err := s.DMARCFailingSources(ctx, time.Time{}, 0)
	if err != nil {
		t.Fatal(err)
	}
	type short struct {
		reporter string
		unauth   bool
		ip       string
		messages int64
		reports  int64
	}
	var gs []short
	for _, f := range got {
		gs = append(gs, short{f.Reporter, f.Unauthenticated, f.SourceIP.String(), f.Messages, f.Reports})
		if f.WhatFailed() != "dkim=fail spf=fail" || f.Disposition != "none" || f.HeaderFrom != "example.net" {
			t.Errorf("%+v: what failed %q", f, f.WhatFailed())
		}
	}
	want := []short{
		{"google.com", false, "192.0.2.9", 5, 2},
		{"google.com", false, "192.0.2.10", 2, 1},
		{"google.com", true, "203.0.113.66", 100, 1},
	}
	if !reflect.DeepEqual(gs, want) {
		t.Errorf("got %+v\nwant %+v", gs, want)
	}
	top, err := s.DMARCFailingSources(ctx, time.Time{}, 1)
	if err != nil || len(top) != 2 || top[0].SourceIP.String() != "192.0.2.9" || !top[1].Unauthenticated {
		t.Errorf("one per reporter: %+v, %v", top, err)
	}
	if f := got[0]; !f.First.Equal(day(20)) || !f.Last.Equal(day(23).Add(-time.Second)) {
		t.Errorf("range %v to %v", f.First, f.Last)
	}
}

// TestNewDMARCFailingSources: a source failing in the period that failed
// in the baseline is not new; one that did not is; a forger's unsigned
// reports neither add a source nor hide one.
func TestNewDMARCFailingSources(t *testing.T) {
	s := sideFixture(t) // 192.0.2.9 failed on day 20, signed; 203.0.113.66 unsigned
	ctx := t.Context()
	add := func(r *dmarc.Report, src arrival.Source) {
		if _, _, err := s.AddDMARC(ctx, r, src); err != nil {
			t.Fatal(err)
		}
	}
	// The forger "saw" 192.0.2.77 failing in the baseline: that must not hide it.
	add(mkDMARC("google.com", "forged-2", 21, dmarcRec{"192.0.2.77", 1, false}), dunsigned("google.com"))
	add(mkDMARC("google.com", "g23", 23, dmarcRec{"192.0.2.9", 1, false}, dmarcRec{"192.0.2.77", 6, false}), dsigned("google.com"))
	// A forger's new source in the period is not named.
	add(mkDMARC("google.com", "forged-3", 23, dmarcRec{"203.0.113.99", 50, false}), dunsigned("google.com"))
	// Another domain's From.
	other := mkDMARC("google.com", "g23b", 23, dmarcRec{"192.0.2.88", 2, false})
	other.Records[0].HeaderFrom = "other.example"
	add(other, dsigned("google.com"))

	got, err := s.NewDMARCFailingSources(ctx, day(23), day(1), []string{"EXAMPLE.net."})
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 1 || got[0].SourceIP != netip.MustParseAddr("192.0.2.77") || got[0].Messages != 6 || got[0].Reporter != "google.com" {
		t.Errorf("new failing sources: %+v; want 192.0.2.77 (6 messages) only", got)
	}
	all, err := s.NewDMARCFailingSources(ctx, day(23), day(1), nil)
	if err != nil || len(all) != 2 {
		t.Errorf("any domain: %+v, %v; want 192.0.2.77 and 192.0.2.88", all, err)
	}
}

// TestDMARCFailuresPerDay: the forged 100 failures never count under
// google.com.
func TestDMARCFailuresPerDay(t *testing.T) {
	got, err := sideFixture(t).DMARCFailuresPerDay(t.Context(), time.Time{})
	wantEqual(t, got, err, []DMARCRow{
		{Start: day(20), Key: "google.com", Messages: 14, Pass: 10, Fail: 4},
		{Start: day(21), Key: "google.com", Messages: 5, Pass: 5},
	})
}

// TestDMARCStoredSince: authenticated reporters by name and domain, the
// unauthenticated reports as one nameless row: a forged name never
// reaches a metric label.
func TestDMARCStoredSince(t *testing.T) {
	got, err := sideFixture(t).DMARCStoredSince(t.Context(), time.Time{})
	wantEqual(t, got, err, []RecentDMARC{
		{Reporter: "google.com", Domain: "example.net", Authenticated: true, Messages: 19, Pass: 15, Fail: 4},
		{Messages: 103, Pass: 3, Fail: 100},
	})
}

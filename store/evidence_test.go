package store

import (
	"errors"
	"fmt"
	"net/netip"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/tlsrpt/tlsrpt/arrival"
	"github.com/tlsrpt/tlsrpt/report"
)

// manyAddresses stores n addresses, each named by two reports of its own
// (days 1 and 5) and one shared report (day 9), and returns them.
func manyAddresses(t *testing.T, s *Store, n int) []netip.Addr {
	t.Helper()
	ctx := t.Context()
	ips := make([]netip.Addr, n)
	var shared []report.FailureDetail
	for i := range ips {
		ips[i] = netip.AddrFrom4([4]byte{10, 1, byte(i >> 8), byte(i)})
		for _, d := range []int{1, 5} {
			r := mkReport("Org", fmt.Sprintf("r%d-%d", i, d), d, detail(ips[i].String(), "validation-failure", int64(i+1)))
			if _, _, err := s.AddReport(ctx, r, arrival.Source{Transport: "mail", Submitter: "org.example"}); err != nil {
				t.Fatal(err)
			}
		}
		shared = append(shared, detail(ips[i].String(), "certificate-expired", 1))
	}
	auth := arrival.Source{Transport: "mail", Submitter: "big.example", Auth: arrival.Auth{Authenticated: true, Method: "dkim", Domain: "big.example"}}
	if _, _, err := s.AddReport(ctx, mkReport("Big", "shared", 9, shared...), auth); err != nil {
		t.Fatal(err)
	}
	return ips
}

func TestEvidenceForBatches(t *testing.T) {
	s := openTemp(t)
	ctx := t.Context()
	n := 2*EvidenceBatch + 7 // three batches, the last one short
	ips := manyAddresses(t, s, n)
	all, err := s.EvidenceAll(ctx, time.Time{})
	if err != nil {
		t.Fatal(err)
	}
	if len(all) != n {
		t.Fatalf("EvidenceAll: %d addresses, want %d", len(all), n)
	}
	// Mapped forms, duplicates, an address nobody names and an invalid
	// one are asked for too.
	ask := append([]netip.Addr{netip.MustParseAddr("::ffff:10.1.0.0"), ips[3], {}, netip.MustParseAddr("192.0.2.99")}, ips...)
	got, err := s.EvidenceFor(ctx, ask)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, all) {
		t.Errorf("EvidenceFor(all addresses) differs from EvidenceAll (%d and %d addresses)", len(got), len(all))
	}
	ev := all[ips[7]]
	if len(ev) != 3 || ev[0].ReportID != "shared" || ev[1].ReportID != "r7-5" || ev[2].ReportID != "r7-1" ||
		!ev[0].Auth.Authenticated || ev[1].FailedSessions != 8 {
		t.Errorf("evidence for %s, newest first: %+v", ips[7], ev)
	}
	// since: the addresses failing since day 9 all have evidence from
	// every report, old ones too.
	recent, err := s.EvidenceAll(ctx, day(9))
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(recent, all) {
		t.Errorf("EvidenceAll(day 9) differs from EvidenceAll(all)")
	}
	if none, err := s.EvidenceAll(ctx, day(11)); err != nil || len(none) != 0 {
		t.Errorf("EvidenceAll(after every report) = %d addresses, %v", len(none), err)
	}
	if m, err := s.EvidenceFor(ctx, nil); err != nil || len(m) != 0 {
		t.Errorf("EvidenceFor(nil) = %v, %v", m, err)
	}
}

func TestEvidenceEach(t *testing.T) {
	s := openTemp(t)
	ctx := t.Context()
	ips := manyAddresses(t, s, 20)
	var seen []netip.Addr
	err := s.EvidenceEach(ctx, time.Time{}, func(ip netip.Addr, ev []Evidence) error {
		if len(ev) != 3 {
			t.Errorf("%s: %d evidence, want 3", ip, len(ev))
		}
		seen = append(seen, ip)
		return nil
	})
	slices.SortFunc(seen, netip.Addr.Compare)
	if err != nil || !reflect.DeepEqual(seen, ips) {
		t.Errorf("EvidenceEach walked %v, %v; want each of %v once", seen, err, ips)
	}
	stop := errors.New("enough")
	calls := 0
	err = s.EvidenceEach(ctx, time.Time{}, func(netip.Addr, []Evidence) error { calls++; return stop })
	if err != stop || calls != 1 {
		t.Errorf("EvidenceEach with fn failing: %v after %d calls; want fn's error as is, after 1", err, calls)
	}
}

// TestQueryPlans checks with EXPLAIN QUERY PLAN that Failing with a since
// finds the reports through the index on their end time, and that the
// evidence queries read the covering index only.
func TestQueryPlans(t *testing.T) {
	sqliteOnly(t, "SQLite's query planner (EXPLAIN QUERY PLAN)")
	s := openTemp(t)
	manyAddresses(t, s, 3)
	for _, tc := range []struct {
		name, query string
		args        []any
		want        []string
		not         []string
	}{
		{"Failing since", failingSQL, []any{day(5).Unix()},
			[]string{"SEARCH r USING INDEX reports_time (end_time>?)", "failure_details_report_id"},
			[]string{"SCAN", "TEMP B-TREE"}},
		{"EvidenceAll", evidenceSQL + ` WHERE sending_ip IS NOT NULL ORDER BY sending_ip`, nil,
			[]string{"COVERING INDEX failure_details_ip"}, []string{"TEMP B-TREE"}},
		{"EvidenceAll since", evidenceSQL + ` WHERE sending_ip IN (
			SELECT d.sending_ip FROM reports r JOIN failure_details d ON d.report_id = r.id
			WHERE r.end_time >= ? AND d.sending_ip IS NOT NULL) ORDER BY sending_ip`, []any{day(5).Unix()},
			[]string{"COVERING INDEX failure_details_ip", "reports_time"}, nil},
		{"EvidenceFor", evidenceSQL + ` WHERE sending_ip IN (?, ?) ORDER BY sending_ip`, []any{"10.1.0.1", "10.1.0.2"},
			[]string{"SEARCH failure_details USING COVERING INDEX failure_details_ip (sending_ip=?)"}, []string{"SCAN"}},
	} {
		rows, err := s.db.Query(`EXPLAIN QUERY PLAN `+tc.query, tc.args...)
		if err != nil {
			t.Fatal(err)
		}
		var plan []string
		for rows.Next() {
			var id, parent, notused int
			var detail string
			if err := rows.Scan(&id, &parent, &notused, &detail); err != nil {
				t.Fatal(err)
			}
			plan = append(plan, detail)
		}
		rows.Close()
		text := strings.Join(plan, "\n")
		for _, w := range tc.want {
			if !strings.Contains(text, w) {
				t.Errorf("%s: plan lacks %q:\n%s", tc.name, w, text)
			}
		}
		for _, w := range tc.not {
			if strings.Contains(text, w) {
				t.Errorf("%s: plan has %q:\n%s", tc.name, w, text)
			}
		}
	}
}

func TestEvidence(t *testing.T) {
	s := openTemp(t)
	ctx := t.Context()
	g := arrival.Source{Transport: "mail", Submitter: "google.com", FromDomain: "google.com",
		Auth: arrival.Auth{Authenticated: true, Method: "dkim", Domain: "google.com", Detail: "dkim=pass"}}
	m := arrival.Source{Transport: "https", Submitter: "microsoft.com", Auth: arrival.Auth{Detail: "https, not authenticated"}}
	old, _, err := s.AddReport(ctx, mkReport("Google Inc.", "g-old", 1,
		detail("192.0.2.10", "certificate-expired", 5), detail("192.0.2.99", "validation-failure", 1)), g)
	if err != nil {
		t.Fatal(err)
	}
	newer, _, err := s.AddReport(ctx, mkReport("Microsoft Corporation", "m-new", 8,
		detail("::ffff:192.0.2.10", "starttls-not-supported", 3)), m)
	if err != nil {
		t.Fatal(err)
	}
	es, err := s.Evidence(ctx, netip.MustParseAddr("192.0.2.10"))
	if err != nil {
		t.Fatal(err)
	}
	want := []Evidence{
		{ReportKey: newer, Organization: "Microsoft Corporation", ReportID: "m-new",
			ContactInfo: "smtp-tls-reporting@microsoft.example", Submitter: "microsoft.com",
			Transport: "https", Auth: m.Auth, ResultType: "starttls-not-supported", FailedSessions: 3,
			Start: day(8), End: day(9).Add(-time.Second)},
		{ReportKey: old, Organization: "Google Inc.", ReportID: "g-old",
			ContactInfo: "smtp-tls-reporting@google.example", Submitter: "google.com", FromDomain: "google.com",
			Transport: "mail", Auth: g.Auth, ResultType: "certificate-expired", FailedSessions: 5,
			Start: day(1), End: day(2).Add(-time.Second)},
	}
	if !reflect.DeepEqual(es, want) {
		t.Errorf("Evidence:\n got %+v\nwant %+v", es, want)
	}
	// The mapped form finds the same rows.
	es2, err := s.Evidence(ctx, netip.MustParseAddr("::ffff:192.0.2.10"))
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(es2, want) {
		t.Errorf("Evidence(mapped form) = %+v, want the same rows", es2)
	}
	for _, ip := range []netip.Addr{netip.MustParseAddr("192.0.2.11"), {}} {
		es, err := s.Evidence(ctx, ip)
		if err != nil || len(es) != 0 {
			t.Errorf("Evidence(%v) = %+v, %v; want nothing", ip, es, err)
		}
	}
}

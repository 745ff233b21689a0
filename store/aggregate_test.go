package store

import (
	"fmt"
	"math/rand/v2"
	"net/netip"
	"reflect"
	"slices"
	"testing"
	"time"

	"github.com/tlsrpt/tlsrpt/arrival"
	"github.com/tlsrpt/tlsrpt/report"
)

// TestAggregateMatchesDetails drives a store through random reports
// (more organizations and result-types than there are label bits,
// unsigned copies later replaced by signed ones, word-for-word copies) and
// deletes behind its back (as a prune would), and checks after each step
// that Failing from the aggregate equals Failing computed from the
// details, and that both agree with the evidence.
func TestAggregateMatchesDetails(t *testing.T) {
	s := openTemp(t)
	ctx := t.Context()
	rnd := rand.New(rand.NewPCG(1, 2))
	orgs := make([]string, maxLabels+8)
	for i := range orgs {
		orgs[i] = fmt.Sprintf("Org %d", i)
	}
	types := append(slices.Clone(rfc8460Types), make([]string, maxLabels)...)
	for i := len(rfc8460Types); i < len(types); i++ {
		types[i] = fmt.Sprintf("made-up-%d", i)
	}
	ips := make([]string, 40)
	for i := range ips {
		ips[i] = fmt.Sprintf("192.0.2.%d", i+1)
	}
	ips[0], ips[1] = "2001:db8::1", "::ffff:192.0.2.200"
	var added []*report.Report
	for step := range 300 {
		op := rnd.IntN(10)
		wrote := op < 8 || len(added) == 0
		switch {
		case op < 6 || len(added) == 0: // a new report
			org := orgs[rnd.IntN(len(orgs))]
			var ds []report.FailureDetail
			for range 1 + rnd.IntN(6) {
				ip := ips[rnd.IntN(len(ips))]
				if rnd.IntN(8) == 0 {
					ip = ""
				}
				ds = append(ds, detail(ip, types[rnd.IntN(len(types))], int64(rnd.IntN(1000))))
			}
			r := mkReport(org, fmt.Sprintf("r%d", step), 1+rnd.IntN(25), ds...)
			if _, _, err := s.AddReport(ctx, r, randomSource(rnd, org)); err != nil {
				t.Fatal(err)
			}
			added = append(added, r)
		case op < 8: // another copy of an earlier report
			r := added[rnd.IntN(len(added))]
			if _, _, err := s.AddReport(ctx, r, randomSource(rnd, r.OrganizationName)); err != nil {
				t.Fatal(err)
			}
		default: // deleted behind the store's back, as a prune would
			if _, err := s.db.Exec(`DELETE FROM reports WHERE id IN (SELECT id FROM reports ORDER BY random() LIMIT 2)`); err != nil {
				t.Fatal(err)
			}
		}
		if wrote {
			// Every write recomputes what deletes left stale.
			var stale int
			s.db.QueryRow(`SELECT COUNT(*) FROM addresses_stale`).Scan(&stale)
			if stale != 0 {
				t.Errorf("step %d: %d addresses still stale after a write", step, stale)
			}
		}
		checkAggregate(t, s, step)
		if t.Failed() {
			return
		}
	}
	var overflowOrgs, overflowTypes int
	s.db.QueryRow(`SELECT COUNT(*) FROM address_orgs`).Scan(&overflowOrgs)
	s.db.QueryRow(`SELECT COUNT(*) FROM address_types`).Scan(&overflowTypes)
	if overflowOrgs == 0 || overflowTypes == 0 {
		t.Errorf("the test never ran out of label bits: %d organizations and %d result-types kept per address", overflowOrgs, overflowTypes)
	}
}

func randomSource(rnd *rand.Rand, org string) arrival.Source {
	dom := fmt.Sprintf("d%d.example", len(org)%3)
	switch rnd.IntN(3) {
	case 0:
		return arrival.Source{Transport: "https"}
	case 1:
		return arrival.Source{Transport: "mail", Submitter: dom}
	}
	return arrival.Source{Transport: "mail", Submitter: dom, Auth: arrival.Auth{Authenticated: true, Method: "dkim", Domain: dom}}
}

// failingDirect is review's rows computed from the failure details
// alone, without the aggregate tables.
func failingDirect(t *testing.T, s *Store) []FailingAddress {
	t.Helper()
	conn, done, err := s.read(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	defer done()
	direct, err := failingFromDetails(t.Context(), conn, -1<<62)
	if err != nil {
		t.Fatal(err)
	}
	return direct
}

// checkAggregate compares the ways of computing review's rows.
func checkAggregate(t *testing.T, s *Store, step int) {
	t.Helper()
	ctx := t.Context()
	direct := failingDirect(t, s)
	sortFailing(direct)
	var stale int
	s.db.QueryRow(`SELECT COUNT(*) FROM addresses_stale`).Scan(&stale)
	fs := mustFailing(t, s, time.Time{})
	sortFailing(fs)
	if !reflect.DeepEqual(fs, direct) {
		t.Errorf("step %d (%d addresses stale): Failing differs from the details:\n got %+v\nwant %+v", step, stale, fs, direct)
	}
	if stale == 0 {
		// The aggregate itself, not the fallback, was read: compare once
		// more after marking nothing.
		agg, err := s.failingAggregate(ctx)
		if err != nil {
			t.Fatal(err)
		}
		sortFailing(agg)
		if !reflect.DeepEqual(agg, direct) {
			t.Errorf("step %d: aggregate differs from the details:\n got %+v\nwant %+v", step, agg, direct)
		}
	}
	// Failing(since) from the details of recent reports equals what the
	// evidence of the same addresses says about those reports.
	since := day(1 + step%25)
	recent := mustFailing(t, s, since)
	ev, err := s.EvidenceAll(ctx, since)
	if err != nil {
		t.Fatal(err)
	}
	if len(ev) != len(recent) {
		t.Errorf("step %d: EvidenceAll(since) has %d addresses, Failing(since) %d", step, len(ev), len(recent))
	}
	for _, f := range recent {
		if got := fromEvidence(f.IP, ev[f.IP], since); !reflect.DeepEqual(got, f) {
			t.Errorf("step %d: Failing(since) row %+v, from its evidence %+v", step, f, got)
		}
		one, err := s.Evidence(ctx, f.IP)
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(one, ev[f.IP]) {
			t.Errorf("step %d: Evidence(%s) = %+v, EvidenceAll has %+v", step, f.IP, one, ev[f.IP])
		}
	}
}

func sortFailing(fs []FailingAddress) {
	slices.SortFunc(fs, func(a, b FailingAddress) int { return a.IP.Compare(b.IP) })
}

// fromEvidence computes a Failing row from evidence, counting the reports
// ending at or after since.
func fromEvidence(ip netip.Addr, ev []Evidence, since time.Time) FailingAddress {
	f := FailingAddress{IP: ip}
	reports := map[int64]bool{}
	signed := map[string]bool{} // organization-name → given by an authenticated report
	for _, e := range ev {
		if e.End.Before(since) {
			continue
		}
		f.FailedSessions += e.FailedSessions
		reports[e.ReportKey] = true
		signed[e.Organization] = signed[e.Organization] || e.Auth.Authenticated
		if !slices.Contains(f.ResultTypes, e.ResultType) {
			f.ResultTypes = append(f.ResultTypes, e.ResultType)
		}
		if f.FirstSeen.IsZero() || e.Start.Before(f.FirstSeen) {
			f.FirstSeen = e.Start
		}
		if e.End.After(f.LastSeen) {
			f.LastSeen = e.End
		}
	}
	f.Reports = len(reports)
	for org, authed := range signed {
		shown := org
		if authed {
			f.AuthenticatedOrganizations = append(f.AuthenticatedOrganizations, org)
		} else {
			shown = ReporterName(false, "", org)
		}
		if !slices.Contains(f.Organizations, shown) {
			f.Organizations = append(f.Organizations, shown)
		}
	}
	slices.Sort(f.Organizations)
	slices.Sort(f.AuthenticatedOrganizations)
	slices.Sort(f.ResultTypes)
	return f
}

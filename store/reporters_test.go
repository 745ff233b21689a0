package store

import (
	"context"
	"fmt"
	"math/rand/v2"
	"net/netip"
	"reflect"
	"testing"

	"github.com/tlsrpt/tlsrpt/arrival"
	"github.com/tlsrpt/tlsrpt/report"
)

// foldEvidence is ReportersFor computed from Evidence: each report once,
// its source counted, sources in the order of their first report.
func foldEvidence(ev []Evidence) []Reporter {
	var out []Reporter
	seen := map[int64]bool{}
	for _, e := range ev {
		if seen[e.ReportKey] {
			continue
		}
		seen[e.ReportKey] = true
		r := Reporter{Organization: e.Organization, ContactInfo: e.ContactInfo, Submitter: e.Submitter,
			FromDomain: e.FromDomain, Transport: e.Transport, Auth: e.Auth}
		i := 0
		for i < len(out) && !sameSource(out[i], r) {
			i++
		}
		if i == len(out) {
			out = append(out, r)
		}
		out[i].Reports++
	}
	return out
}

func sameSource(a, b Reporter) bool {
	a.Reports, b.Reports = 0, 0
	return a == b
}

// historyFixture stores n reports naming ip (and some naming other),
// from a few sources taken at random, on days that often tie (so that
// the start and the key decide the order), some naming ip twice.
func historyFixture(t testing.TB, s *Store, n int, ip, other string) {
	t.Helper()
	rng := rand.New(rand.NewPCG(1, uint64(n)))
	sources := []arrival.Source{
		{Transport: "mail", Submitter: "google.com", Auth: arrival.Auth{Authenticated: true, Method: "dkim", Domain: "google.com"}},
		{Transport: "mail", Submitter: "google.com", Auth: arrival.Auth{Authenticated: true, Method: "authres", Domain: "google.com"}},
		{Transport: "mail", Submitter: "mx.example", Auth: arrival.Auth{Detail: "no DKIM signature"}},
		{Transport: "mail", Submitter: "mx.example", Auth: arrival.Auth{Detail: "DKIM fails"}},
		{Transport: "https"},
		{Transport: "mail", FromDomain: "reports.example", Auth: arrival.Auth{Authenticated: true, Method: "dkim", Domain: "reports.example"}},
	}
	orgs := []string{"Google Inc.", "Microsoft Corporation", "Small Org"}
	ctx := context.Background()
	for i := range n {
		details := []report.FailureDetail{detail(ip, "certificate-expired", int64(i+1))}
		if rng.IntN(4) == 0 {
			details = append(details, detail(ip, "validation-failure", 1))
		}
		if rng.IntN(3) == 0 {
			details = append(details, detail(other, "starttls-not-supported", 2))
		}
		r := mkReport(orgs[rng.IntN(len(orgs))], fmt.Sprintf("h%d", i), 1+rng.IntN(n/4+1), details...)
		if rng.IntN(3) == 0 {
			r.Start = r.Start.Add(-3600e9) // same end, earlier start
		}
		if _, _, err := s.AddReport(ctx, r, sources[rng.IntN(len(sources))]); err != nil {
			t.Fatal(err)
		}
	}
}

// TestReportersForIsFoldedEvidence: ReportersFor gives, for every
// address, exactly Evidence folded by source (the counts, and the order
// of the sources' newest reports, ties on the end broken by the start and
// then the key), over histories of several sizes, several addresses at a
// time, mapped forms and unnamed addresses included.
func TestReportersForIsFoldedEvidence(t *testing.T) {
	for _, n := range []int{1, 7, 60, 300} {
		s := openTemp(t)
		ctx := context.Background()
		historyFixture(t, s, n, "192.0.2.10", "2001:db8::5")
		ips := []netip.Addr{netip.MustParseAddr("::ffff:192.0.2.10"), netip.MustParseAddr("2001:db8::5"),
			netip.MustParseAddr("192.0.2.99"), {}}
		got, err := s.ReportersFor(ctx, ips)
		if err != nil {
			t.Fatal(err)
		}
		named := 0
		for _, ip := range ips {
			ev, err := s.Evidence(ctx, ip)
			if err != nil {
				t.Fatal(err)
			}
			named += min(len(ev), 1)
			if want := foldEvidence(ev); !reflect.DeepEqual(got[canonAddr(ip)], want) {
				t.Errorf("n=%d, %s:\n got %+v\nwant %+v", n, ip, got[canonAddr(ip)], want)
			}
		}
		if len(got) != named {
			t.Errorf("n=%d: reporters of %d addresses, evidence of %d", n, len(got), named)
		}
	}
}

// BenchmarkAdviceHistory measures what the filter's advice reads for
// one failing address named by n earlier reports: all its evidence
// (EvidenceFor) against its reporters folded in the database
// (ReportersFor, what the advice reads).
func BenchmarkAdviceHistory(b *testing.B) {
	for _, n := range []int{10, 100, 1000, 4000} {
		s := openTemp(b)
		historyFixture(b, s, n, "192.0.2.10", "2001:db8::5")
		ips := []netip.Addr{netip.MustParseAddr("192.0.2.10")}
		ctx := context.Background()
		b.Run(fmt.Sprintf("EvidenceFor/%d", n), func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, err := s.EvidenceFor(ctx, ips); err != nil {
					b.Fatal(err)
				}
			}
		})
		b.Run(fmt.Sprintf("ReportersFor/%d", n), func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, err := s.ReportersFor(ctx, ips); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

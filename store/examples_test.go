package store_test

import (
	"context"
	"fmt"
	"log"
	"net/netip"
	"os"
	"path/filepath"
	"time"

	"github.com/tlsrpt/tlsrpt/arrival"
	"github.com/tlsrpt/tlsrpt/report"
	"github.com/tlsrpt/tlsrpt/store"
)

// exampleStore opens a store in a new temporary folder; done closes it
// and removes the folder.
func exampleStore() (s *store.Store, done func()) {
	dir, err := os.MkdirTemp("", "tlsrpt-example")
	if err != nil {
		log.Fatal(err)
	}
	if s, err = store.Open(filepath.Join(dir, "tlsrpt.db")); err != nil {
		os.RemoveAll(dir)
		log.Fatal(err)
	}
	return s, func() {
		s.Close()
		os.RemoveAll(dir)
	}
}

func Example() {
	s, done := exampleStore()
	defer done()
	ctx := context.Background()

	r := &report.Report{
		OrganizationName: "Google Inc.",
		ContactInfo:      "smtp-tls-reporting@google.com",
		ReportID:         "2026-11-22T00:00:00Z_example.net",
		Start:            time.Date(2026, 11, 22, 0, 0, 0, 0, time.UTC),
		End:              time.Date(2026, 11, 22, 23, 59, 59, 0, time.UTC),
		Policies: []report.Policy{{
			Type: "sts", Domain: "example.net", Successful: 120, Failed: 3,
			Details: []report.FailureDetail{{
				ResultType:     "certificate-expired",
				SendingMTAIP:   netip.MustParseAddr("::ffff:209.85.218.41"),
				FailedSessions: 3,
			}},
		}},
	}
	src := arrival.Source{
		Transport: "mail",
		Submitter: "google.com",
		Auth:      arrival.Auth{Authenticated: true, Method: "dkim", Domain: "google.com"},
	}
	for range 2 { // the second delivery is recognised as a duplicate
		_, dup, err := s.AddReport(ctx, r, src)
		if err != nil {
			log.Fatal(err)
		}
		fmt.Println("duplicate:", dup)
	}

	failing, err := s.Failing(ctx, time.Time{})
	if err != nil {
		log.Fatal(err)
	}
	for _, f := range failing {
		fmt.Println(f.IP, f.FailedSessions, f.Organizations, f.ResultTypes)
		ev, err := s.Evidence(ctx, f.IP)
		if err != nil {
			log.Fatal(err)
		}
		fmt.Println("authenticated by", ev[0].Auth.Method, ev[0].Auth.Domain)
	}
	// Output:
	// duplicate: false
	// duplicate: true
	// 209.85.218.41 3 [Google Inc.] [certificate-expired]
	// authenticated by dkim google.com
}

// Review many addresses without a query per address: Failing lists them,
// EvidenceEach walks the evidence of all of them in two statements,
// holding one address's at a time.
func ExampleStore_EvidenceEach() {
	s, done := exampleStore()
	defer done()
	ctx := context.Background()

	day := time.Date(2026, 11, 22, 0, 0, 0, 0, time.UTC)
	for i, org := range []string{"Google Inc.", "Microsoft Corporation"} {
		r := &report.Report{
			OrganizationName: org, ReportID: fmt.Sprintf("r%d", i),
			Start: day, End: day.Add(24*time.Hour - time.Second),
			Policies: []report.Policy{{Type: "sts", Domain: "example.net", Failed: 3,
				Details: []report.FailureDetail{
					{ResultType: "certificate-expired", SendingMTAIP: netip.MustParseAddr("192.0.2.1"), FailedSessions: 2},
					{ResultType: "validation-failure", SendingMTAIP: netip.MustParseAddr("192.0.2.2"), FailedSessions: 1},
				}}},
		}
		if _, _, err := s.AddReport(ctx, r, arrival.Source{Transport: "https"}); err != nil {
			log.Fatal(err)
		}
	}
	failing, err := s.Failing(ctx, time.Time{})
	if err != nil {
		log.Fatal(err)
	}
	reports := map[netip.Addr]int{}
	err = s.EvidenceEach(ctx, time.Time{}, func(ip netip.Addr, ev []store.Evidence) error {
		reports[ip] = len(ev)
		return nil
	})
	if err != nil {
		log.Fatal(err)
	}
	for _, f := range failing {
		fmt.Println(f.IP, f.FailedSessions, f.Organizations, reports[f.IP], "details")
	}
	// Reports over HTTPS are not authenticated: their names are marked.
	// Output:
	// 192.0.2.1 4 [Google Inc. (unauthenticated) Microsoft Corporation (unauthenticated)] 2 details
	// 192.0.2.2 2 [Google Inc. (unauthenticated) Microsoft Corporation (unauthenticated)] 2 details
}

package store_test

import (
	"context"
	"fmt"
	"log"
	"net/netip"
	"os"
	"path/filepath"
	"time"

	"github.com/tlsrpt/tlsrpt/report"
	"github.com/tlsrpt/tlsrpt/store"
)

func Example() {
	dir, err := os.MkdirTemp("", "tlsrpt-example")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)

	s, err := store.Open(filepath.Join(dir, "tlsrpt.db"))
	if err != nil {
		log.Fatal(err)
	}
	defer s.Close()
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
	src := store.Source{
		Transport: "mail",
		Submitter: "google.com",
		Auth:      store.Auth{Authenticated: true, Method: "dkim", Domain: "google.com"},
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

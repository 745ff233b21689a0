package store

import (
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/tlsrpt/tlsrpt/arrival"
	"github.com/tlsrpt/tlsrpt/report"
)

// The year fixture: reporters × 365 daily reports of perReport failure
// details each, naming rows/10 addresses ten times each (the address of
// the n-th detail overall is n modulo the address count), so every
// address is named by ten reports spread over the year. Half the
// reporters sign their reports.
const (
	yearReporters = 10
	yearDays      = 365
)

// yearStart is the first day of the fixture's year.
var yearStart = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

var (
	fixtureMu   sync.Mutex
	fixtureDir  string
	fixturePath = map[int]string{}
)

// removeFixtures deletes the fixtures built by this test process.
func removeFixtures() {
	if fixtureDir != "" {
		os.RemoveAll(fixtureDir)
	}
}

// yearFixture returns the path of a year database with perReport details
// per report, built once per test process through AddReport.
func yearFixture(tb testing.TB, perReport int) string {
	tb.Helper()
	fixtureMu.Lock()
	defer fixtureMu.Unlock()
	if p, ok := fixturePath[perReport]; ok {
		return p
	}
	if fixtureDir == "" {
		d, err := os.MkdirTemp("", "tlsrpt-store-fixture")
		if err != nil {
			tb.Fatal(err)
		}
		fixtureDir = d
	}
	path := filepath.Join(fixtureDir, fmt.Sprintf("year-%d.db", perReport))
	start := time.Now()
	s, err := Open(path)
	if err != nil {
		tb.Fatal(err)
	}
	defer s.Close()
	ctx := tb.Context()
	addrs := yearDays * perReport // rows / 10
	n := 0
	for day := range yearDays {
		for g := range yearReporters {
			r := yearReport(g, day, perReport, &n, addrs)
			if _, dup, err := s.AddReport(ctx, r, yearSource(g)); err != nil || dup {
				tb.Fatalf("building fixture: dup %v, %v", dup, err)
			}
		}
	}
	tb.Logf("fixture: %d detail rows, %d addresses, built in %v", n, addrs, time.Since(start).Round(time.Millisecond))
	fixturePath[perReport] = path
	return path
}

// yearAddr is the idx-th address of the fixture: IPv4 mostly, every
// seventh IPv6.
func yearAddr(idx int) netip.Addr {
	if idx%7 == 6 {
		return netip.AddrFrom16([16]byte{0x20, 0x01, 0x0d, 0xb8, 12: byte(idx >> 24), byte(idx >> 16), byte(idx >> 8), byte(idx)})
	}
	return netip.AddrFrom4([4]byte{10, byte(idx >> 16), byte(idx >> 8), byte(idx)})
}

var yearTypes = []string{"certificate-expired", "validation-failure", "starttls-not-supported", "certificate-host-mismatch"}

func yearReport(g, day, perReport int, n *int, addrs int) *report.Report {
	start := yearStart.AddDate(0, 0, day)
	ds := make([]report.FailureDetail, perReport)
	var failed int64
	for k := range ds {
		ds[k] = report.FailureDetail{
			ResultType:          yearTypes[(*n/addrs+k)%len(yearTypes)],
			SendingMTAIP:        yearAddr(*n % addrs),
			ReceivingMXHostname: "mx.example.net",
			ReceivingIP:         netip.MustParseAddr("198.51.100.25"),
			FailedSessions:      int64(1 + (*n)%5),
		}
		failed += ds[k].FailedSessions
		*n++
	}
	return &report.Report{
		OrganizationName: fmt.Sprintf("Reporter %d Inc.", g),
		ContactInfo:      fmt.Sprintf("tlsrpt@reporter%d.example", g),
		ReportID:         fmt.Sprintf("%s_example.net", start.Format(time.RFC3339)),
		Start:            start,
		End:              start.Add(24*time.Hour - time.Second),
		Policies: []report.Policy{{
			Type: "sts", Domain: "example.net", Strings: []string{"version: STSv1", "mode: enforce"},
			MXHosts: []string{"mx.example.net"}, Successful: 1000, Failed: failed, Details: ds,
		}},
	}
}

func yearSource(g int) arrival.Source {
	dom := fmt.Sprintf("reporter%d.example", g)
	src := arrival.Source{Transport: "mail", Submitter: dom, FromDomain: dom, MessageID: "<x@" + dom + ">"}
	if g%2 == 0 {
		src.Auth = arrival.Auth{Authenticated: true, Method: "dkim", Domain: dom, Detail: "dkim=pass d=" + dom}
	} else {
		src.Auth = arrival.Auth{Detail: "no signature"}
	}
	return src
}

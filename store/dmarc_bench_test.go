package store

import (
	"context"
	"database/sql"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/tlsrpt/tlsrpt/arrival"
	"github.com/tlsrpt/tlsrpt/dmarc"
	"github.com/tlsrpt/tlsrpt/report"
)

// The DMARC year: 50 reporters each sending, every day of a year, one
// DMARC aggregate report (10 records, 2 of them failing DMARC) and one TLS
// report (one policy, 2 failure details): 18,250 reports of each kind.
// Even reporters sign their reports. $TLSRPT_DMARC_YEAR_DB, when set,
// names the file to build (and keep) for the whole-process measure
// (bench/dmarc-stats.sh).
const (
	dmarcYearReporters = 50
	dmarcYearRecords   = 10
)

var dmarcYear struct {
	sync.Mutex
	path string
}

// dmarcYearFixture returns the path of the DMARC year database, built
// once per test process. Each day is one write transaction through the
// code AddReport and AddDMARC run in theirs: the same rows, built in a
// minute rather than in 36,500 transactions.
func dmarcYearFixture(tb testing.TB) string {
	tb.Helper()
	dmarcYear.Lock()
	defer dmarcYear.Unlock()
	if dmarcYear.path != "" {
		return dmarcYear.path
	}
	path := os.Getenv("TLSRPT_DMARC_YEAR_DB")
	if path == "" {
		fixtureMu.Lock()
		if fixtureDir == "" {
			d, err := os.MkdirTemp("", "tlsrpt-store-fixture")
			if err != nil {
				tb.Fatal(err)
			}
			fixtureDir = d
		}
		fixtureMu.Unlock()
		path = filepath.Join(fixtureDir, "dmarc-year.db")
	} else if _, err := os.Stat(path); err == nil {
		dmarcYear.path = path
		return path // built by an earlier run
	}
	start := time.Now()
	s, err := Open(path)
	if err != nil {
		tb.Fatal(err)
	}
	defer s.Close()
	for day := range yearDays {
		if err := s.write(tb.Context(), func(tx *sql.Tx) error { return addYearDay(tx, day) }); err != nil {
			tb.Fatalf("building the DMARC year, day %d: %v", day, err)
		}
	}
	tb.Logf("DMARC year: %d DMARC and %d TLS reports, built in %v", yearDays*dmarcYearReporters,
		yearDays*dmarcYearReporters, time.Since(start).Round(time.Millisecond))
	dmarcYear.path = path
	return path
}

// addYearDay adds one day's reports of every reporter in tx.
func addYearDay(tx *sql.Tx, day int) error {
	ctx := context.Background()
	stored := yearStart.AddDate(0, 0, day+1).Unix()
	for g := range dmarcYearReporters {
		src := dmarcYearSource(g)
		t := dmarcYearTLS(g, day)
		if _, _, err := addReport(ctx, tx, t, src, reporterOf(t.OrganizationName, src), digestOf(t), stored); err != nil {
			return err
		}
		d := dmarcYearReport(g, day)
		messages, failed, err := dmarcTotals(d)
		if err != nil {
			return err
		}
		row := dmarcRow{r: d, src: src, reporter: reporterOf(d.Metadata.Reporter, src), digest: dmarcDigest(d),
			messages: messages, failed: failed, stored: stored}
		if _, _, err := addDMARC(ctx, tx, &row); err != nil {
			return err
		}
	}
	return refreshStale(ctx, tx)
}

func dmarcYearSource(g int) arrival.Source {
	dom := fmt.Sprintf("reporter%d.example", g)
	src := arrival.Source{Transport: "mail", FromDomain: dom, MessageID: "<x@" + dom + ">"}
	if g%2 == 0 {
		src.Auth = arrival.Auth{Authenticated: true, Method: "dkim", Domain: dom, Detail: "dkim=pass d=" + dom}
	}
	return src
}

func dmarcYearTLS(g, day int) *report.Report {
	start := yearStart.AddDate(0, 0, day)
	ds := []report.FailureDetail{
		{ResultType: "certificate-expired", SendingMTAIP: yearAddr(g*1000 + day%100), ReceivingMXHostname: "mx.example.net", FailedSessions: 2},
		{ResultType: "validation-failure", SendingMTAIP: yearAddr(g*1000 + 500), ReceivingMXHostname: "mx.example.net", FailedSessions: 1},
	}
	return &report.Report{
		OrganizationName: fmt.Sprintf("Reporter %d Inc.", g), ContactInfo: fmt.Sprintf("tlsrpt@reporter%d.example", g),
		ReportID: fmt.Sprintf("%s_example.net", start.Format(time.RFC3339)), Start: start, End: start.Add(24*time.Hour - time.Second),
		Policies: []report.Policy{{Type: "sts", Domain: "example.net", Successful: 1000, Failed: 3, Details: ds}},
	}
}

func dmarcYearReport(g, day int) *dmarc.Report {
	start := yearStart.AddDate(0, 0, day)
	name := fmt.Sprintf("reporter%d.example", g)
	r := &dmarc.Report{Version: "1.0",
		Metadata: dmarc.Metadata{Reporter: name, OrgName: name, Email: "dmarc@" + name,
			ReportID: fmt.Sprintf("%d.%d", g, day), Begin: start, End: start.Add(24*time.Hour - time.Second)},
		Policy: dmarc.PolicyPublished{Domain: "example.net", ADKIM: "r", ASPF: "r", P: "reject", SP: "reject", Pct: 100}}
	for k := range dmarcYearRecords {
		pass := k >= 2
		res := map[bool]string{true: "pass", false: "fail"}[pass]
		r.Records = append(r.Records, dmarc.Record{
			SourceIP: netip.AddrFrom4([4]byte{192, 0, byte(g), byte(k + day%3)}), Count: int64(10 + k),
			Disposition: "none", DKIM: res, SPF: res, HeaderFrom: "example.net", EnvelopeFrom: "example.net",
			DKIMResults: []dmarc.DKIMResult{{Domain: "example.net", Selector: "s1", Result: res}},
			SPFResults:  []dmarc.SPFResult{{Domain: "example.net", Scope: "mfrom", Result: res}},
		})
	}
	return r
}

func openDMARCYear(b *testing.B) *Store {
	b.Helper()
	if onPostgres() {
		b.Skip("the DMARC year is a SQLite file")
	}
	s, err := OpenReadOnly(dmarcYearFixture(b))
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { s.Close() })
	return s
}

// BenchmarkSideBySideYear measures what `tlsrpt stats --source both`
// asks of the store over the DMARC year: every day, per reporter.
func BenchmarkSideBySideYear(b *testing.B) {
	s := openDMARCYear(b)
	ctx := b.Context()
	rows, err := s.SideBySide(ctx, time.Time{}, Day, ByReporter)
	if err != nil {
		b.Fatal(err)
	}
	checkDMARCYear(b, rows)
	for _, by := range []Period{Day, Week} {
		b.Run(string(by), func(b *testing.B) {
			var n int
			cpu := cpuTimer()
			for b.Loop() {
				rows, err := s.SideBySide(ctx, time.Time{}, by, ByReporter)
				if err != nil {
					b.Fatal(err)
				}
				n = len(rows)
			}
			cpu(b)
			b.ReportMetric(float64(n), "rows")
		})
	}
}

// BenchmarkDMARCStatsYear measures `tlsrpt stats --source dmarc` over the
// DMARC year, and the dashboard's failing sources of its last 30 days.
func BenchmarkDMARCStatsYear(b *testing.B) {
	s := openDMARCYear(b)
	ctx := b.Context()
	since := yearStart.AddDate(0, 0, yearDays-30)
	benchCPU(b, "stats", func() error { _, err := s.DMARCStats(ctx, time.Time{}, Day, ByReporter); return err })
	benchCPU(b, "tls-stats", func() error { _, err := s.SessionStats(ctx, time.Time{}, Day, ByReporter); return err })
	benchCPU(b, "failing-sources-30d", func() error { _, err := s.DMARCFailingSources(ctx, since, 10); return err })
}

// benchCPU runs op as the sub-benchmark name, reporting its CPU time per
// operation (cpuTimer).
func benchCPU(b *testing.B, name string, op func() error) {
	b.Run(name, func(b *testing.B) {
		cpu := cpuTimer()
		for b.Loop() {
			if err := op(); err != nil {
				b.Fatal(err)
			}
		}
		cpu(b)
	})
}

// checkDMARCYear checks day rows of the DMARC year against its
// construction, so that the benchmarks time the query that gives the
// right answer: per signed reporter and day 145 messages, 21 of them
// failing, beside 1000 + 3 TLS sessions; an unsigned reporter is two
// rows (its TLS organization-name and its DMARC reporter name differ),
// each of one kind.
func checkDMARCYear(b *testing.B, rows []SideRow) {
	b.Helper()
	if want := yearDays * dmarcYearReporters * 3 / 2; len(rows) != want {
		b.Fatalf("%d rows; want %d", len(rows), want)
	}
	for _, r := range rows {
		tlsRow, dm := r.Successful+r.Failed > 0, r.Messages > 0
		switch {
		case !r.Unauthenticated && (r.Successful != 1000 || r.Failed != 3 || r.Messages != 145 || r.DMARCFail != 21):
			b.Fatalf("signed row %+v", r)
		case r.Unauthenticated && tlsRow == dm:
			b.Fatalf("unsigned row mixes TLS and DMARC: %+v", r)
		}
	}
}

// cpuTimer starts counting the process's CPU time (user and system); the
// function it returns reports it per operation as cpu-ms/op: on a
// machine shared with other work, wall time per operation says more of
// the load than of the code.
func cpuTimer() func(b *testing.B) {
	start := cpuTime()
	return func(b *testing.B) {
		b.ReportMetric(float64((cpuTime()-start).Microseconds())/1000/float64(b.N), "cpu-ms/op")
	}
}

func cpuTime() time.Duration {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

package store

import (
	"database/sql"
	"fmt"
	"net/netip"
	"runtime"
	"runtime/metrics"
	"slices"
	"testing"
	"time"

	"github.com/tlsrpt/tlsrpt/arrival"
	"github.com/tlsrpt/tlsrpt/report"
)

func BenchmarkAddReport(b *testing.B) {
	s := openTemp(b)
	ctx := b.Context()
	src := arrival.Source{Transport: "mail", Submitter: "google.com", Auth: arrival.Auth{Authenticated: true, Method: "dkim", Domain: "google.com"}}
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		r := mkReport("Google Inc.", fmt.Sprintf("bench-%d", i), 1,
			detail("192.0.2.10", "certificate-expired", 5),
			detail("2001:db8::1", "validation-failure", 2),
			detail("", "sts-policy-fetch-error", 1))
		if _, dup, err := s.AddReport(ctx, r, src); err != nil || dup {
			b.Fatalf("AddReport: dup %v, err %v", dup, err)
		}
		i++
	}
}

func BenchmarkAddReportDuplicate(b *testing.B) {
	s := openTemp(b)
	ctx := b.Context()
	r := mkReport("Google Inc.", "dup", 1, detail("192.0.2.10", "certificate-expired", 5))
	if _, _, err := s.AddReport(ctx, r, arrival.Source{}); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, dup, err := s.AddReport(ctx, r, arrival.Source{}); err != nil || !dup {
			b.Fatalf("AddReport: dup %v, err %v", dup, err)
		}
	}
}

// TestWaitsForLock checks that a writer waits for another process's write
// transaction instead of failing with "database is locked": the other
// writer commits only once the write is seen waiting inside SQLite, and
// the write succeeds after that, in one attempt.
func TestWaitsForLock(t *testing.T) {
	sqliteOnly(t, "SQLite's file lock (TestPostgresBusy covers the advisory lock)")
	s := openTemp(t)
	other, err := sql.Open("sqlite3", dsn(s.File()))
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	tx, err := other.Begin() // BEGIN IMMEDIATE: holds the write lock
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tx.Exec(`INSERT INTO dns_cache (key, value, expires) VALUES ('held', x'', 0)`); err != nil {
		t.Fatal(err)
	}
	committed := releaseWhenWaiting(t, WriteBudget, waitInSQLite, func() { tx.Commit() })
	if _, _, err := s.AddReport(t.Context(), mkReport("Org", "waited", 1), arrival.Source{}); err != nil {
		t.Fatalf("AddReport while another writer holds the lock: %v", err)
	}
	if !committed.Load() {
		t.Errorf("AddReport returned before the other writer released the lock")
	}
	if _, _, ok, err := s.CacheGet(t.Context(), "held"); err != nil || !ok {
		t.Errorf("the other writer's row is missing: ok %v, err %v", ok, err)
	}
}

// reviewSizes are the year fixtures of the review benchmarks: details per
// daily report of each of the ten reporters, giving about 20k, 200k and
// 1M detail rows (a tenth as many addresses).
var reviewSizes = []struct {
	name      string
	perReport int
}{
	{"20k", 5},
	{"200k", 55},
	{"1M", 275},
}

// openFixture opens the year fixture of perReport, building it first if
// this process has not; the 1M fixture only without -short.
func openFixture(b *testing.B, perReport int) *Store {
	b.Helper()
	if perReport > 100 && testing.Short() {
		b.Skip("1M-row fixture: not with -short")
	}
	return openAt(b, yearFixture(b, perReport))
}

// forEachSize runs bench as a sub-benchmark per review size, on the
// fixture of that size (perReport addresses per report).
func forEachSize(b *testing.B, bench func(b *testing.B, s *Store, perReport int)) {
	for _, sz := range reviewSizes {
		b.Run(sz.name, func(b *testing.B) { bench(b, openFixture(b, sz.perReport), sz.perReport) })
	}
}

// BenchmarkReview measures what `tlsrpt review` asks of the store: every
// failing address, and the evidence for all of them.
func BenchmarkReview(b *testing.B) {
	forEachSize(b, func(b *testing.B, s *Store, perReport int) {
		b.ReportAllocs()
		for b.Loop() {
			fs := mustFailing(b, s, time.Time{})
			ev, err := s.EvidenceAll(b.Context(), time.Time{})
			if err != nil {
				b.Fatal(err)
			}
			if len(ev) != len(fs) || len(fs) != yearDays*perReport {
				b.Fatalf("%d failing addresses, evidence for %d; want %d", len(fs), len(ev), yearDays*perReport)
			}
		}
	})
}

// BenchmarkReviewStream is BenchmarkReview in bounded memory: Failing,
// then EvidenceEach, keeping from each address's evidence only whether an
// authenticated report names it (as trust would). It reports the peak of
// live heap objects, sampled every millisecond, as peak-heap-MB.
func BenchmarkReviewStream(b *testing.B) {
	forEachSize(b, func(b *testing.B, s *Store, _ int) {
		runtime.GC()
		stop := samplePeakHeap()
		b.ReportAllocs()
		for b.Loop() {
			fs := mustFailing(b, s, time.Time{})
			authed := make(map[netip.Addr]bool, len(fs))
			err := s.EvidenceEach(b.Context(), time.Time{}, func(ip netip.Addr, ev []Evidence) error {
				authed[ip] = slices.ContainsFunc(ev, func(e Evidence) bool { return e.Auth.Authenticated })
				return nil
			})
			if err != nil {
				b.Fatal(err)
			}
			if len(authed) != len(fs) {
				b.Fatalf("evidence for %d of %d addresses", len(authed), len(fs))
			}
		}
		b.ReportMetric(float64(stop())/(1<<20), "peak-heap-MB")
	})
}

// samplePeakHeap samples the bytes of live and unswept heap objects every
// millisecond until the returned function is called, which returns the
// largest sample.
func samplePeakHeap() func() uint64 {
	done := make(chan struct{})
	peak := make(chan uint64)
	go func() {
		sample := []metrics.Sample{{Name: "/memory/classes/heap/objects:bytes"}}
		var peakSeen uint64
		t := time.NewTicker(time.Millisecond)
		defer t.Stop()
		for {
			metrics.Read(sample)
			peakSeen = max(peakSeen, sample[0].Value.Uint64())
			select {
			case <-done:
				peak <- peakSeen
				return
			case <-t.C:
			}
		}
	}()
	return func() uint64 { close(done); return <-peak }
}

// BenchmarkReviewParts measures each of review's store queries alone:
// Failing (all, and since the last 7 days), EvidenceAll, and EvidenceFor
// over all addresses (in batches: bounded memory).
func BenchmarkReviewParts(b *testing.B) {
	ctx := b.Context()
	since := yearStart.AddDate(0, 0, yearDays-7)
	parts := []struct {
		name string
		// op returns the operation to time on s, after any preparation.
		op func(b *testing.B, s *Store) func() error
	}{
		{"Failing", func(_ *testing.B, s *Store) func() error {
			return func() error { _, err := s.Failing(ctx, time.Time{}); return err }
		}},
		{"FailingSince7d", func(_ *testing.B, s *Store) func() error {
			return func() error { _, err := s.Failing(ctx, since); return err }
		}},
		{"EvidenceAll", func(_ *testing.B, s *Store) func() error {
			return func() error { _, err := s.EvidenceAll(ctx, time.Time{}); return err }
		}},
		{"EvidenceFor", func(b *testing.B, s *Store) func() error {
			ips := failingIPs(b, s)
			return func() error {
				for chunk := range slices.Chunk(ips, 5000) {
					if _, err := s.EvidenceFor(ctx, chunk); err != nil {
						return err
					}
				}
				return nil
			}
		}},
	}
	for _, sz := range reviewSizes {
		for _, p := range parts {
			b.Run(p.name+"/"+sz.name, func(b *testing.B) {
				op := p.op(b, openFixture(b, sz.perReport))
				b.ReportAllocs()
				for b.Loop() {
					if err := op(); err != nil {
						b.Fatal(err)
					}
				}
			})
		}
	}
}

// failingIPs returns the addresses Failing lists in s.
func failingIPs(tb testing.TB, s *Store) []netip.Addr {
	tb.Helper()
	fs := mustFailing(tb, s, time.Time{})
	ips := make([]netip.Addr, len(fs))
	for i, f := range fs {
		ips[i] = f.IP
	}
	return ips
}

// BenchmarkAddReportDetails measures storing one report of n failure
// details (distinct addresses), as the filter does for a large message,
// into one database per size: the reports name the same addresses, so
// after the first one the aggregate's rows are updated, not inserted.
func BenchmarkAddReportDetails(b *testing.B) {
	for _, n := range []int{10, 1000, 10000, 50000} {
		b.Run(fmt.Sprint(n), func(b *testing.B) {
			s := openTemp(b)
			ctx := b.Context()
			ds := make([]report.FailureDetail, n)
			for i := range ds {
				ds[i] = detail(netip.AddrFrom4([4]byte{10, byte(i >> 16), byte(i >> 8), byte(i)}).String(),
					yearTypes[i%len(yearTypes)], int64(1+i%7))
			}
			src := yearSource(0)
			b.ReportAllocs()
			i := 0
			for b.Loop() {
				r := mkReport("Google Inc.", fmt.Sprintf("bench-%d", i), 1, ds...)
				if _, dup, err := s.AddReport(ctx, r, src); err != nil || dup {
					b.Fatalf("AddReport: dup %v, err %v", dup, err)
				}
				i++
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(i*n), "ns/detail")
		})
	}
}

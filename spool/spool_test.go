package spool

import (
	"bytes"
	"context"
	"errors"
	"net/netip"
	"os"
	"path/filepath"
	"reflect"
	"sync"
	"testing"
	"time"

	"github.com/tlsrpt/tlsrpt/arrival"
	"github.com/tlsrpt/tlsrpt/dmarc"
	"github.com/tlsrpt/tlsrpt/internal/storetest"
	"github.com/tlsrpt/tlsrpt/report"
	"github.com/tlsrpt/tlsrpt/store"
)

func sample(id string) *report.Report {
	return &report.Report{
		OrganizationName: "Google Inc.", ContactInfo: "smtp-tls-reporting@google.com", ReportID: id,
		Start: time.Date(2024, 5, 1, 0, 0, 0, 0, time.UTC), End: time.Date(2024, 5, 1, 23, 59, 59, 0, time.UTC),
		Policies: []report.Policy{{Type: "sts", Domain: "example.com", Strings: []string{"version: STSv1"},
			MXHosts: []string{"mx.example.com"}, Successful: 10, Failed: 3,
			Details: []report.FailureDetail{{ResultType: "certificate-expired",
				SendingMTAIP: netip.MustParseAddr("209.85.220.41"), ReceivingMXHostname: "mx.example.com",
				ReceivingIP: netip.MustParseAddr("192.0.2.25"), FailedSessions: 3,
				AdditionalInformation: "line\nbreak \x1b[2J"}, {ResultType: "sts-policy-fetch-error", FailedSessions: 1}}}},
	}
}

var src = arrival.Source{Transport: "mail", Submitter: "google.com", FromDomain: "google.com", MessageID: "<m@google.com>",
	Received: time.Date(2024, 5, 2, 0, 0, 0, 0, time.UTC),
	Auth:     arrival.Auth{Authenticated: true, Method: "dkim", Domain: "google.com", Detail: "signature verified"}}

// TestRoundTrip checks that a spooled report of either kind comes back
// exactly as it went in, hostile strings included, with how it arrived,
// in a file only its owner reads; a DMARC report's file is marked so.
func TestRoundTrip(t *testing.T) {
	tls, dm := sample("r1"), dmarcSample(t)
	for _, tc := range []struct {
		name string
		add  func(Spool) error
		want entry // Kind, Report and DMARC as read back
	}{
		{"tls", func(sp Spool) error { return sp.Add(tls, src) }, entry{Report: tls}},
		{"dmarc", func(sp Spool) error { return sp.AddDMARC(dm, src) }, entry{Kind: kindDMARC, DMARC: dm}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			sp := Spool{Dir: filepath.Join(t.TempDir(), "spool")}
			if err := tc.add(sp); err != nil {
				t.Fatal(err)
			}
			files, err := sp.Files()
			if err != nil || len(files) != 1 {
				t.Fatalf("files = %v, %v", files, err)
			}
			fi, _ := os.Stat(files[0])
			if fi.Mode().Perm() != 0o600 {
				t.Errorf("spool file mode %v, want 0600", fi.Mode().Perm())
			}
			b, _ := os.ReadFile(files[0])
			if marked := bytes.Contains(b, []byte(`"kind":"dmarc"`)); marked != (tc.want.Kind == kindDMARC) {
				t.Errorf("kind marker %v, want %v: %.200s", marked, !marked, b)
			}
			e, err := read(files[0])
			if err != nil {
				t.Fatal(err)
			}
			if e.Kind != tc.want.Kind || !reflect.DeepEqual(e.Report, tc.want.Report) || !reflect.DeepEqual(e.DMARC, tc.want.DMARC) {
				t.Errorf("report changed in the spool:\n got %+v\nwant %+v", e, tc.want)
			}
			if !reflect.DeepEqual(e.Source, src) {
				t.Errorf("source changed in the spool:\n got %+v\nwant %+v", e.Source, src)
			}
		})
	}
}

// TestDrain stores every spooled report once into a real database and
// empties the spool; a second drain does nothing.
func TestDrainAtMost(t *testing.T) {
	sp := Spool{Dir: t.TempDir()}
	for _, id := range []string{"a", "b", "c"} {
		sp.Add(sample(id), src)
	}
	d, err := sp.Drain(context.Background(), storetest.Open(t), 2)
	if files, _ := sp.Files(); err != nil || d.Stored != 2 || len(files) != 1 {
		t.Errorf("drain of at most 2: %+v, %v, %d left", d, err, len(files))
	}
}

func TestDrain(t *testing.T) {
	sp := Spool{Dir: t.TempDir()}
	for _, id := range []string{"a", "b", "c"} {
		if err := sp.Add(sample(id), src); err != nil {
			t.Fatal(err)
		}
	}
	sp.Add(sample("a"), src) // a duplicate, as when the filter saw a message twice
	st := storetest.Open(t)
	d, err := sp.Drain(context.Background(), st, 0)
	if err != nil {
		t.Fatal(err)
	}
	if d.Stored != 3 || d.Dups != 1 {
		t.Errorf("drained %+v, want 3 stored and 1 duplicate", d)
	}
	if files, _ := sp.Files(); len(files) != 0 {
		t.Errorf("spool not empty: %v", files)
	}
	if n := storetest.Stats(t, st).Reports; n != 3 {
		t.Errorf("store holds %d reports, want 3", n)
	}
	d, err = sp.Drain(context.Background(), st, 0)
	if err != nil || d != (Drained{}) {
		t.Errorf("second drain: %+v, %v", d, err)
	}
}

type failing struct{ n int }

func (f *failing) AddDMARCResult(context.Context, *dmarc.Report, arrival.Source) (int64, arrival.Added, error) {
	f.n++
	return 0, arrival.New, errors.New("connection refused")
}

func (f *failing) AddReportResult(context.Context, *report.Report, arrival.Source) (int64, arrival.Added, error) {
	f.n++
	return 0, arrival.New, errors.New("connection refused")
}

// TestDrainStopsWhileAway keeps every file when the store fails, and tries
// only the first.
func TestDrainStopsWhileAway(t *testing.T) {
	sp := Spool{Dir: t.TempDir()}
	sp.Add(sample("a"), src)
	sp.Add(sample("b"), src)
	rec := &failing{}
	if _, err := sp.Drain(context.Background(), rec, 0); err == nil {
		t.Fatal("no error from a failing store")
	}
	if rec.n != 1 {
		t.Errorf("%d attempts, want 1: a store that is away is not hammered", rec.n)
	}
	if files, _ := sp.Files(); len(files) != 2 {
		t.Errorf("%d files left, want 2", len(files))
	}
}

// TestBadFile moves an unreadable file aside and goes on.
func TestBadFile(t *testing.T) {
	sp := Spool{Dir: t.TempDir()}
	bad := filepath.Join(sp.Dir, "00000000T000000.000000000Z-000000000000"+suffix)
	os.WriteFile(bad, []byte("{not json"), 0o600)
	sp.Add(sample("a"), src)
	d, err := sp.Drain(context.Background(), storetest.Open(t), 0)
	if err != nil || d.Bad != 1 || d.Stored != 1 {
		t.Fatalf("drained %+v, %v", d, err)
	}
	if _, err := os.Stat(bad + ".bad"); err != nil {
		t.Errorf("bad file not moved aside: %v", err)
	}
}

// TestConcurrentDrains drains one spool from several processes' worth of
// goroutines, each with its own connection: nothing is lost or doubled.
func TestConcurrentDrains(t *testing.T) {
	sp := Spool{Dir: t.TempDir()}
	const n = 40
	for i := 0; i < n; i++ {
		sp.Add(sample(string(rune('A'+i%26))+string(rune('a'+i/26))), src)
	}
	path := filepath.Join(t.TempDir(), "t.db")
	var wg sync.WaitGroup
	errs := make(chan error, 4)
	for i := 0; i < 4; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			st, err := store.Open(path)
			if err != nil {
				errs <- err
				return
			}
			defer st.Close()
			_, err = sp.Drain(context.Background(), st, 0)
			errs <- err
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	if got := storetest.Stats(t, storetest.OpenAt(t, path)).Reports; got != n {
		t.Errorf("%d reports stored, want %d", got, n)
	}
	if files, _ := sp.Files(); len(files) != 0 {
		t.Errorf("%d files left", len(files))
	}
}

// TestDrainCountsUpgradeAsDuplicate: a spooled authenticated report
// whose unauthenticated copy the store holds already replaces it
// (arrival.Upgraded), and Drain counts it among the duplicates, as
// tlsrpt import --spool has always printed it.
func TestDrainCountsUpgradeAsDuplicate(t *testing.T) {
	st := storetest.Open(t)
	plain := src
	plain.Auth = arrival.Auth{Detail: "no DKIM signature"}
	if _, added, err := st.AddReportResult(context.Background(), sample("up"), plain); err != nil || added != arrival.New {
		t.Fatalf("storing the unauthenticated copy: %v, %v", added, err)
	}
	sp := Spool{Dir: t.TempDir()}
	if err := sp.Add(sample("up"), src); err != nil {
		t.Fatal(err)
	}
	d, err := sp.Drain(context.Background(), st, 0)
	if err != nil || d != (Drained{Dups: 1}) {
		t.Errorf("drain of an upgrade: %+v, %v; want 1 duplicate", d, err)
	}
	if _, added, err := st.AddReportResult(context.Background(), sample("up"), src); err != nil || added != arrival.Duplicate {
		t.Errorf("the authenticated copy again: %v, %v; want a duplicate (the drain stored it)", added, err)
	}
}

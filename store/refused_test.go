package store

import (
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/tlsrpt/tlsrpt/arrival"
)

// TestRefused stores a report the engine refuses for good and one it
// refuses for now: only the first is Refused, so the spool moves it aside
// and keeps the other. On PostgreSQL the refusal is real: a 20 KB
// random report-id is over the index's row size (SQLSTATE 54000); on SQLite,
// which takes that, a trigger refuses the report as a CHECK would.
func TestRefused(t *testing.T) {
	s := openTemp(t)
	ctx := t.Context()
	long := make([]byte, 15000)
	rand.Read(long) // incompressible: PostgreSQL compresses a long index row first
	r := mkReport("Google Inc.", base64.StdEncoding.EncodeToString(long), 3, detail("192.0.2.1", "certificate-expired", 1))
	if !onPostgres() {
		r.ReportID = "refuse-me"
		if _, err := s.db.ExecContext(ctx, `CREATE TRIGGER refuse BEFORE INSERT ON reports
			WHEN NEW.report_id = 'refuse-me' BEGIN SELECT RAISE(ABORT, 'refused by the test'); END`); err != nil {
			t.Fatal(err)
		}
	}
	_, _, err := s.AddReport(ctx, r, arrival.Source{Transport: "mail"})
	if err == nil || !Refused(err) {
		t.Errorf("AddReport of a report the store refuses: %v; Refused = %v, want true", err, Refused(err))
	}
	for _, e := range []error{
		nil,
		errors.New("some error"),
		busyError(time.Second, 3, nil),
		&kindError{kind: ErrUnavailable, text: "server away"},
		&kindError{kind: ErrReadOnly, text: "read-only"},
		os.ErrPermission,
	} {
		if Refused(e) {
			t.Errorf("Refused(%v) = true, want false: the error may go away", e)
		}
	}
	if !Refused(fmt.Errorf("adding: %w", &kindError{kind: ErrCount, text: "count"})) {
		t.Error("Refused(ErrCount) = false")
	}
}

// TestRefusedReadOnlyFile checks that SQLite's errors of a file it cannot
// write are not taken for a refusal of the report.
func TestRefusedReadOnlyFile(t *testing.T) {
	sqliteOnly(t, "file modes")
	path := filepath.Join(t.TempDir(), "t.db")
	openAt(t, path).Close()
	ro, err := OpenReadOnly(path)
	if err != nil {
		t.Fatal(err)
	}
	defer ro.Close()
	_, _, err = ro.AddReport(t.Context(), mkReport("Google Inc.", "r1", 3), arrival.Source{Transport: "mail"})
	if err == nil || Refused(err) {
		t.Errorf("AddReport on a read-only store: %v; Refused = %v, want an error that is not a refusal", err, Refused(err))
	}
}

// TestOpenExisting: OpenExisting opens a store that is there and never
// creates one, nor its folder.
func TestOpenExisting(t *testing.T) {
	sqliteOnly(t, "files")
	dir := t.TempDir()
	missing := filepath.Join(dir, "sub", "tlsrpt.db")
	if _, err := OpenExisting(missing); !errors.Is(err, ErrNoDatabase) {
		t.Errorf("OpenExisting(missing) = %v, want ErrNoDatabase", err)
	}
	if _, err := os.Stat(filepath.Join(dir, "sub")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("OpenExisting made the folder: %v", err)
	}
	path := filepath.Join(dir, "tlsrpt.db")
	openAt(t, path).Close()
	s, err := OpenExisting(path)
	if err != nil {
		t.Fatalf("OpenExisting(existing) = %v", err)
	}
	if _, _, err := s.AddReport(t.Context(), mkReport("Google Inc.", "r1", 3), arrival.Source{Transport: "mail"}); err != nil {
		t.Errorf("writing through OpenExisting: %v", err)
	}
	s.Close()
}

// TestCacheBound puts more entries than the bound: the cache keeps the
// bound, and the entries that expire last.
func TestCacheBound(t *testing.T) {
	s := openTemp(t)
	ctx := t.Context()
	maxCacheEntries = 5
	t.Cleanup(func() { maxCacheEntries = MaxCacheEntries })
	for i := range 12 {
		// Later keys live longer: the first ones are evicted.
		if err := s.CachePut(ctx, fmt.Sprintf("TXT n%02d.example.", i), []byte("v"), time.Duration(i+1)*time.Hour); err != nil {
			t.Fatal(err)
		}
	}
	if n, err := s.CacheLen(ctx); err != nil || n != 5 {
		t.Errorf("cache holds %d entries (%v), want the bound 5", n, err)
	}
	for i := range 12 {
		_, _, ok, err := s.CacheGet(ctx, fmt.Sprintf("TXT n%02d.example.", i))
		if err != nil || ok != (i >= 7) {
			t.Errorf("entry %d: kept %v (%v), want kept only for the 5 that expire last", i, ok, err)
		}
	}
}

// TestPruneCache removes entries expired before the cut-off, and keeps
// later ones, stale or fresh.
func TestPruneCache(t *testing.T) {
	s := openTemp(t)
	ctx := t.Context()
	clock := time.Date(2026, 11, 23, 19, 0, 0, 0, time.UTC)
	now = func() time.Time { return clock }
	t.Cleanup(func() { now = time.Now })
	s.CachePut(ctx, "old", []byte("v"), time.Hour)
	clock = clock.Add(10 * 24 * time.Hour)
	s.CachePut(ctx, "stale", []byte("v"), time.Hour)
	clock = clock.Add(2 * time.Hour)
	s.CachePut(ctx, "fresh", []byte("v"), time.Hour)
	n, err := s.PruneCache(ctx, clock.Add(-7*24*time.Hour))
	if err != nil || n != 1 {
		t.Errorf("PruneCache = %d, %v; want 1 entry removed", n, err)
	}
	for key, want := range map[string]bool{"old": false, "stale": true, "fresh": true} {
		if _, _, ok, _ := s.CacheGet(ctx, key); ok != want {
			t.Errorf("after PruneCache, %q kept %v, want %v", key, ok, want)
		}
	}
}

package spool

import (
	"context"
	"database/sql"
	"errors"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"github.com/tlsrpt/tlsrpt/internal/storetest"
	"github.com/tlsrpt/tlsrpt/report"
	"github.com/tlsrpt/tlsrpt/store"
)

// hostile is a report with n bytes of '<' in a failure detail: what a
// 21 KB gzip attachment decompresses to, within the filter's bounds.
func hostile(n int) *report.Report {
	r := sample("lt")
	r.Policies[0].Details[0].AdditionalInformation = strings.Repeat("<", n)
	return r
}

// TestCompact spools a report of 15 MiB of '<': the file is compact (no
// \u003c, six bytes for each one), well under MaxFile, and reads back.
// With HTML escaping the file would be 94 MB, which Add must refuse.
func TestCompact(t *testing.T) {
	sp := Spool{Dir: t.TempDir()}
	const n = 15 << 20
	if err := sp.Add(hostile(n), src); err != nil {
		t.Fatalf("spooling 15 MiB of '<': %v", err)
	}
	files, _ := sp.Files()
	if len(files) != 1 {
		t.Fatalf("%d files, want 1", len(files))
	}
	fi, _ := os.Stat(files[0])
	if fi.Size() > n+4096 {
		t.Errorf("spool file of %d bytes for a report of %d: not compact", fi.Size(), n)
	}
	e, err := read(files[0])
	if err != nil || e.Report.Policies[0].Details[0].AdditionalInformation != strings.Repeat("<", n) {
		t.Errorf("reading back: %v", err)
	}
}

// TestAddMemory measures what spooling the hostile report allocates: a
// small multiple of the report (about 3x, 5x under the race detector),
// not the 400 MB (26x) that escaping every < as \u003c cost.
func TestAddMemory(t *testing.T) {
	sp := Spool{Dir: t.TempDir()}
	const n = 15 << 20
	r := hostile(n)
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	if err := sp.Add(r, src); err != nil {
		t.Fatal(err)
	}
	runtime.ReadMemStats(&after)
	if alloc := after.TotalAlloc - before.TotalAlloc; alloc > 8*n {
		t.Errorf("spooling a report of %d bytes allocated %d bytes, want at most %d", n, alloc, 8*n)
	} else {
		t.Logf("spooling a report of %d bytes allocated %d bytes", n, alloc)
	}
}

// BenchmarkAddHostile reports the bytes allocated per spooled hostile
// report (-benchmem), for comparison across changes.
func BenchmarkAddHostile(b *testing.B) {
	sp := Spool{Dir: b.TempDir(), Max: -1}
	r := hostile(15 << 20)
	b.ReportAllocs()
	for b.Loop() {
		if err := sp.Add(r, src); err != nil {
			b.Fatal(err)
		}
	}
}

// TestTooLarge refuses to write a file the drain would refuse to read:
// nothing is left in the folder.
func TestTooLarge(t *testing.T) {
	sp := Spool{Dir: t.TempDir(), Max: -1}
	err := sp.Add(hostile(MaxFile), src)
	if !errors.Is(err, ErrTooLarge) {
		t.Errorf("spooling a report over MaxFile: %v, want ErrTooLarge", err)
	}
	if des, _ := os.ReadDir(sp.Dir); len(des) != 0 {
		t.Errorf("files left: %v", des)
	}
}

// TestFull keeps the spool's files under Max: the report past it is not
// kept, with ErrFull, and the earlier ones stay.
func TestFull(t *testing.T) {
	sp := Spool{Dir: t.TempDir(), Max: 3 << 20}
	for i := range 2 {
		if err := sp.Add(hostile(1<<20), src); err != nil {
			t.Fatalf("report %d under the bound: %v", i+1, err)
		}
	}
	var full *FullError
	if err := sp.Add(hostile(1<<20), src); !errors.Is(err, ErrFull) || !errors.As(err, &full) || full.Max != sp.Max || strings.Contains(err.Error(), "--") {
		t.Errorf("report past the bound: %v, want ErrFull with a FullError of the bound, naming no flag", err)
	}
	if files, _ := sp.Files(); len(files) != 2 {
		t.Errorf("%d files, want the 2 under the bound", len(files))
	}
	if n, _ := sp.Size(); n > sp.Max {
		t.Errorf("spool holds %d bytes, over its bound %d", n, sp.Max)
	}
}

// TestDrainRefused spools three reports, the oldest of which the store
// refuses for good (a trigger, as a CHECK would): it is moved aside with
// its reason, counted, and the two after it are stored.
func TestDrainRefused(t *testing.T) {
	path := filepath.Join(t.TempDir(), "t.db")
	st := storetest.OpenAt(t, path)
	refuseReport(t, path, "refuse-me")
	sp := Spool{Dir: t.TempDir(), Refused: store.Refused}
	for _, id := range []string{"refuse-me", "b", "c"} {
		if err := sp.Add(sample(id), src); err != nil {
			t.Fatal(err)
		}
	}
	first, _ := sp.Files()
	d, err := sp.Drain(context.Background(), st, 0)
	if err != nil || d.Refused != 1 || d.Stored != 2 {
		t.Fatalf("drained %+v, %v; want 1 refused and 2 stored", d, err)
	}
	why, err := os.ReadFile(first[0] + ".refused.why")
	if err != nil || !strings.Contains(string(why), "refused by the test") {
		t.Errorf("reason beside the refused file: %q, %v", why, err)
	}
	if _, err := os.Stat(first[0] + ".refused"); err != nil {
		t.Errorf("refused file not moved aside: %v", err)
	}
	if files, _ := sp.Files(); len(files) != 0 {
		t.Errorf("files left to drain: %v", files)
	}
}

// refuseReport adds a trigger to the SQLite database at path that refuses
// the report named id.
func refuseReport(t *testing.T, path, id string) {
	t.Helper()
	db, err := sql.Open("sqlite3", path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if _, err := db.Exec(`CREATE TRIGGER refuse BEFORE INSERT ON reports WHEN NEW.report_id = '` + id + `'
		BEGIN SELECT RAISE(ABORT, 'refused by the test'); END`); err != nil {
		t.Fatal(err)
	}
}

package spool

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/tlsrpt/tlsrpt/arrival"
	"github.com/tlsrpt/tlsrpt/internal/storetest"
	"github.com/tlsrpt/tlsrpt/report"
	"github.com/tlsrpt/tlsrpt/store"
)

// counting is a store that counts the reports handed to it.
type counting struct {
	arrival.Recorder
	n int
}

func (c *counting) AddReportResult(ctx context.Context, r *report.Report, src arrival.Source) (int64, arrival.Added, error) {
	c.n++
	return c.Recorder.AddReportResult(ctx, r, src)
}

// recorderOn is a Recorder whose store is opened by open (counted in c)
// and whose spool is dir, as the filter makes it.
func recorderOn(t *testing.T, dir string, c *counting, open func(string) (*store.Store, error), path string) *Recorder {
	return &Recorder{
		Spool: Spool{Dir: dir, Refused: store.Refused},
		Open: func() (arrival.Recorder, error) {
			st, err := open(path)
			if err != nil {
				return nil, err
			}
			t.Cleanup(func() { st.Close() })
			c.Recorder = st
			return c, nil
		},
		Later:   "the next run",
		Recover: "the message still carries it",
	}
}

// storedReports counts the reports of the SQLite store at path.
func storedReports(t *testing.T, path string) int64 {
	t.Helper()
	st := storetest.OpenAt(t, path)
	defer st.Close()
	return storetest.Stats(t, st).Reports
}

// TestRecorderUnwritableStore hands reports to a real SQLite store this
// process cannot write (opened read-only, as the filter finds a store
// that is not its user's): each report is kept in the spool, AddReportResult
// says nil, the store is tried once, and the log notes say why. A later
// recorder on the writable store drains them: nothing is lost.
func TestRecorderUnwritableStore(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "tlsrpt.db")
	storetest.Create(t, path)
	spoolDir := filepath.Join(dir, "spool")
	c := &counting{}
	rec := recorderOn(t, spoolDir, c, store.OpenReadOnly, path)
	for _, id := range []string{"ro-1", "ro-2"} {
		if id, added, err := rec.AddReportResult(context.Background(), sample(id), src); err != nil || id != 0 || added != arrival.New {
			t.Fatalf("AddReportResult on an unwritable store: %d, %v, %v; want the report spooled (0, New, nil)", id, added, err)
		}
	}
	if c.n != 1 {
		t.Errorf("the unwritable store was tried %d times, want once", c.n)
	}
	notes := strings.Join(rec.Notes(), "\n")
	if strings.Count(notes, "kept in the spool "+spoolDir+" until the database takes it (the next run)") != 2 ||
		!strings.Contains(notes, "not tried again") {
		t.Errorf("notes:\n%s", notes)
	}
	if files, _ := (Spool{Dir: spoolDir}).Files(); len(files) != 2 {
		t.Fatalf("%d reports in the spool, want 2", len(files))
	}
	rec.Close()

	c2 := &counting{}
	rec2 := recorderOn(t, spoolDir, c2, store.Open, path)
	if _, _, err := rec2.AddReportResult(context.Background(), sample("rw-3"), src); err != nil {
		t.Fatal(err)
	}
	if files, _ := (Spool{Dir: spoolDir}).Files(); len(files) != 0 {
		t.Errorf("%d reports left in the spool, want it drained", len(files))
	}
	if n := storedReports(t, path); n != 3 {
		t.Errorf("the store holds %d reports, want the 2 spooled and the new one", n)
	}
	if notes := strings.Join(rec2.Notes(), "\n"); !strings.Contains(notes, "stored 2 reports from the spool") {
		t.Errorf("drain notes:\n%s", notes)
	}
}

// TestRecorderBusyStore holds a real SQLite store busy while a run hands
// it three reports, one report of an earlier run waiting in the spool.
// The drain meets the busy store first; from then on the store is not
// tried again: it is tried once (one busy wait per run, not four), all
// four reports are in the spool, and AddReportResult said nil for each. Once
// the store is free, the next run stores all four.
func TestRecorderBusyStore(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "tlsrpt.db")
	storetest.Create(t, path)
	spoolDir := filepath.Join(dir, "spool")
	if err := (Spool{Dir: spoolDir}).Add(sample("waiting"), src); err != nil {
		t.Fatal(err)
	}
	release := storetest.HoldExclusive(t, path)
	c := &counting{}
	rec := recorderOn(t, spoolDir, c, store.Open, path)
	for _, id := range []string{"busy-1", "busy-2", "busy-3"} {
		if _, _, err := rec.AddReportResult(context.Background(), sample(id), src); err != nil {
			t.Fatalf("AddReportResult on a busy store: %v; want the report spooled", err)
		}
	}
	if c.n != 1 {
		t.Errorf("the busy store was tried %d times, want once: one busy wait per run", c.n)
	}
	notes := strings.Join(rec.Notes(), "\n")
	if n := strings.Count(notes, "is busy"); n != 1 {
		t.Errorf("the store found busy %d times in the notes, want once:\n%s", n, notes)
	}
	if n := strings.Count(notes, "not tried again"); n != 3 {
		t.Errorf("%d reports spooled without another try, want 3:\n%s", n, notes)
	}
	if files, _ := (Spool{Dir: spoolDir}).Files(); len(files) != 4 {
		t.Fatalf("%d reports in the spool, want the waiting one and the run's 3", len(files))
	}
	rec.Close()
	release()

	rec2 := recorderOn(t, spoolDir, &counting{}, store.Open, path)
	if rec2.Store() == nil {
		t.Fatal(rec2.OpenErr())
	}
	if files, _ := (Spool{Dir: spoolDir}).Files(); len(files) != 0 {
		t.Errorf("%d reports left in the spool once the store is free", len(files))
	}
	if n := storedReports(t, path); n != 4 {
		t.Errorf("the store holds %d reports, want 4", n)
	}
}

// TestRecorderNowhere: a store that cannot be opened (its folder is a
// file) and a spool that cannot take the report either: AddReportResult
// returns an error naming how to recover and both reasons, never nil, so
// the caller knows the report is not kept. With room in the spool the
// same report is kept, and AddReportResult says nil.
func TestRecorderNowhere(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "file")
	if err := os.WriteFile(file, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(file, "tlsrpt.db")
	rec := recorderOn(t, filepath.Join(dir, "spool"), &counting{}, store.Open, path)
	rec.Spool.Max = 1
	_, _, err := rec.AddReportResult(context.Background(), sample("nowhere"), src)
	if err == nil || !strings.HasPrefix(err.Error(), "not kept in the spool either (the message still carries it): ") ||
		!strings.Contains(err.Error(), "spool full") || !strings.Contains(err.Error(), path) {
		t.Errorf("AddReportResult with neither store nor spool: %v", err)
	}
	if files, _ := rec.Spool.Files(); len(files) != 0 {
		t.Errorf("files in a full spool: %v", files)
	}
	rec.Spool.Max = 0
	if _, _, err := rec.AddReportResult(context.Background(), sample("kept"), src); err != nil {
		t.Errorf("AddReportResult with room in the spool: %v", err)
	}
	if files, _ := rec.Spool.Files(); len(files) != 1 {
		t.Errorf("%d files in the spool, want the kept report", len(files))
	}
}

// TestRecorderRefused: a report the store refuses for good is neither
// spooled (it would be refused again) nor silent: AddReportResult returns the
// refusal. The store is not taken for down: the next report is stored.
func TestRecorderRefused(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "tlsrpt.db")
	storetest.Create(t, path)
	refuseReport(t, path, "refuse-me")
	rec := recorderOn(t, filepath.Join(dir, "spool"), &counting{}, store.Open, path)
	if _, _, err := rec.AddReportResult(context.Background(), sample("refuse-me"), src); err == nil || !store.Refused(err) {
		t.Errorf("AddReportResult of a refused report: %v, want the refusal", err)
	}
	if _, _, err := rec.AddReportResult(context.Background(), sample("fine"), src); err != nil {
		t.Errorf("AddReportResult after a refusal: %v", err)
	}
	if files, _ := rec.Spool.Files(); len(files) != 0 {
		t.Errorf("spooled: %v", files)
	}
	if n := storedReports(t, path); n != 1 {
		t.Errorf("the store holds %d reports, want 1", n)
	}
}

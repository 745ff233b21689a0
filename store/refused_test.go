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
	"github.com/tlsrpt/tlsrpt/internal/pkgerr"
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
		pkgerr.Mark("server away", nil, ErrUnavailable),
		pkgerr.Mark("read-only", nil, ErrReadOnly),
		os.ErrPermission,
	} {
		if Refused(e) {
			t.Errorf("Refused(%v) = true, want false: the error may go away", e)
		}
	}
	if !Refused(fmt.Errorf("adding: %w", pkgerr.Mark("count", nil, ErrCount))) {
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

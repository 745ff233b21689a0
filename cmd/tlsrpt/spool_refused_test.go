package main

import (
	"crypto/rand"
	"encoding/base64"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/tlsrpt/tlsrpt/arrival"
	"github.com/tlsrpt/tlsrpt/internal/pgtest"
	"github.com/tlsrpt/tlsrpt/internal/storetest"
	"github.com/tlsrpt/tlsrpt/spool"
)

// spoolReports adds to a spool in dir, oldest first, a one-failure report
// for each id, as the filter spools them, and returns it. The ids are not
// bounded: a spool may hold what an older version let through.
func spoolReports(t *testing.T, dir string, ids ...string) spool.Spool {
	t.Helper()
	sp := spool.Spool{Dir: dir}
	for _, id := range ids {
		rep := storetest.FailingReport(storetest.Failing{ID: id, Domain: "example.com", ResultType: "certificate-expired",
			At: time.Date(2026, 11, 2, 0, 0, 0, 0, time.UTC)})
		if err := sp.Add(rep, arrival.Source{Transport: "mail", Submitter: "reporter.test"}); err != nil {
			t.Fatal(err)
		}
	}
	return sp
}

// TestSpoolRefusedPostgres spools, oldest first, a report whose 20 KB
// report-id the store refuses for good on both engines (the bound on
// indexed strings, which PostgreSQL's index would refuse with SQLSTATE
// 54000 without it), a report PostgreSQL itself refuses for good (a CHECK
// constraint of the operator's: SQLSTATE 23514), then two others, as the
// filter did while the server was away. import --spool moves the two
// refused ones aside with their reasons, counts them, and stores the two
// after them: the spool is never blocked.
func TestSpoolRefusedPostgres(t *testing.T) {
	srv := pgtest.Start(t)
	db := srv.NewDatabase()
	storetest.Create(t, db)
	name := db[strings.LastIndex(db, "/")+1 : strings.Index(db, "?")]
	srv.SQLIn(name, "ALTER TABLE reports ADD CONSTRAINT operator_check CHECK (report_id <> 'refuse-me')")
	dir := filepath.Join(t.TempDir(), "spool")
	long := make([]byte, 15000)
	rand.Read(long) // incompressible: PostgreSQL compresses a long index row first
	sp := spoolReports(t, dir, base64.StdEncoding.EncodeToString(long), "refuse-me", "after-1", "after-2")
	oldest, _ := sp.Files()
	r := tlsrpt(t, nil, nil, "import", "--db", db, "--spool", "--spool-dir", dir)
	if r.code != 0 || !strings.Contains(r.stdout, "stored 2, duplicates 0, unreadable 0, refused 2") {
		t.Errorf("import --spool: exit %d, want 2 stored and 2 refused\n%s%s", r.code, r.stdout, r.stderr)
	}
	if !strings.Contains(r.stderr, "refused.why") {
		t.Errorf("import --spool says nothing of the refused reports:\n%s", r.stderr)
	}
	for i, want := range []string{"exceeds 800", "SQLSTATE 23514"} {
		why, err := os.ReadFile(oldest[i] + ".refused.why")
		if err != nil || !strings.Contains(string(why), want) {
			t.Errorf("reason beside refused report %d: %v, want %q\n%s", i, err, want, why)
		}
		t.Logf("the reason beside it:\n%.300s", why)
	}
	if left, _ := sp.Files(); len(left) != 0 {
		t.Errorf("left to drain: %v", left)
	}
	// A second drain has nothing to do: the refused files are out of it.
	r = tlsrptOK(t, nil, nil, "import", "--db", db, "--spool", "--spool-dir", dir)
	if !strings.Contains(r.stdout, "stored 0, duplicates 0, unreadable 0, refused 0") {
		t.Errorf("second drain: %s", r.stdout)
	}
}

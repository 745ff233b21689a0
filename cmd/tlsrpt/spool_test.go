package main

import (
	"crypto/rand"
	"encoding/base64"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/tlsrpt/tlsrpt/internal/pgtest"
	"github.com/tlsrpt/tlsrpt/internal/storetest"
	"github.com/tlsrpt/tlsrpt/spool"
)

// multiReportMessage is one report message carrying n reports, each its
// own application/tlsrpt+json part.
func multiReportMessage(n int) []byte {
	var b strings.Builder
	b.WriteString("From: reports@example.net\r\nTo: tls@example.com\r\nSubject: Report Domain: example.com Submitter: example.net Report-ID: <multi>\r\n" +
		"TLS-Report-Domain: example.com\r\nTLS-Report-Submitter: example.net\r\nMIME-Version: 1.0\r\n" +
		"Content-Type: multipart/report; report-type=tlsrpt; boundary=\"b\"\r\n\r\n--b\r\nContent-Type: text/plain\r\n\r\nreports\r\n")
	for i := range n {
		fmt.Fprintf(&b, "--b\r\nContent-Type: application/tlsrpt+json\r\nContent-Disposition: attachment; filename=\"r%d.json\"\r\n\r\n%s\r\n",
			i, reportJSON("Example Net", "tls@example.net", fmt.Sprintf("multi-%d", i), []failure{{fmt.Sprintf("192.0.2.%d", i+1), 1, "certificate-expired"}}))
	}
	b.WriteString("--b--\r\n")
	return []byte(b.String())
}

// spoolReports adds to a spool in dir, oldest first, a one-failure report
// for each id, as the filter spools them, and returns it. The ids are not
// bounded: a spool may hold what an older version let through.
func spoolReports(t *testing.T, dir string, ids ...string) spool.Spool {
	t.Helper()
	sp := spool.Spool{Dir: dir}
	for _, id := range ids {
		f := storetest.Failing{ID: id, Domain: "example.com", ResultType: "certificate-expired", At: time.Date(2026, 11, 2, 0, 0, 0, 0, time.UTC)}
		if err := sp.Add(storetest.FailingReport(f), f.Source()); err != nil {
			t.Fatal(err)
		}
	}
	return sp
}

// TestFilterBusyStoreWaitsOnce holds the store busy (BEGIN EXCLUSIVE from
// another connection) while the filter takes a message of three reports,
// with a report already waiting in the spool. The drain meets the busy
// store first; from then on the filter does not try the store again: the
// three reports go to the spool at once. The store is found busy once
// (one "is busy" line, one busy wait), not four times (the drain and each
// report waiting store.BusyTimeout again). The drain's line has one
// "spool:" prefix.
func TestFilterBusyStoreWaitsOnce(t *testing.T) {
	dir := t.TempDir()
	db := filepath.Join(dir, "tlsrpt.db")
	storetest.Create(t, db)
	sp := spoolReports(t, filepath.Join(dir, "spool"), "waiting")
	storetest.HoldExclusive(t, db)
	msg := multiReportMessage(3)
	r := tlsrpt(t, nil, msg, "filter", "--db", db, "--spool", sp.Dir)
	if r.code != 0 || !strings.Contains(r.stdout, "Report-ID: <multi>") {
		t.Fatalf("filter: exit %d, message not passed\n%s", r.code, r.stderr)
	}
	t.Logf("stderr:\n%s", r.stderr)
	if n := strings.Count(r.stderr, "is busy"); n != 1 {
		t.Errorf("the store found busy %d times, want once: one busy wait per message", n)
	}
	if n := strings.Count(r.stderr, "not tried again"); n != 3 {
		t.Errorf("%d reports spooled without another try of the store, want 3", n)
	}
	if strings.Contains(r.stderr, "spool: spool:") {
		t.Errorf("doubled prefix in the drain's line")
	}
	files, err := sp.Files()
	if err != nil || len(files) != 4 {
		t.Errorf("spool holds %d reports (%v), want the waiting one and the message's 3", len(files), err)
	}
}

// TestImportCreatesNoEmptyStore: import run (as root, say) with nothing to
// store leaves no database behind, which would then be root's and refuse
// the mail user's filter; the first report stored creates it.
func TestImportCreatesNoEmptyStore(t *testing.T) {
	dir := t.TempDir()
	db := filepath.Join(dir, "tlsrpt.db")
	env := []string{"TLSRPT_DB=" + db}
	spoolDir := filepath.Join(dir, "spool")
	if err := os.Mkdir(spoolDir, 0o700); err != nil {
		t.Fatal(err)
	}
	tlsrptOK(t, env, nil, "import", "--spool", "--spool-dir", spoolDir)
	tlsrptOK(t, env, nil, "import", t.TempDir())
	if _, err := os.Stat(db); !os.IsNotExist(err) {
		t.Fatalf("import with nothing to store created the database: %v", err)
	}
	spoolReports(t, spoolDir, "first")
	r := tlsrptOK(t, env, nil, "import", "--spool", "--spool-dir", spoolDir)
	if !strings.Contains(r.stdout, "stored 1,") {
		t.Errorf("import --spool: %s", r.stdout)
	}
	if _, err := os.Stat(db); err != nil {
		t.Errorf("the first stored report did not create the database: %v", err)
	}
}

// TestImportMissingSpoolDir: a --spool-dir that does not exist is a
// mistake (exit 1, one line naming it), not an empty spool.
func TestImportMissingSpoolDir(t *testing.T) {
	missing := filepath.Join(t.TempDir(), "nonexist")
	r := tlsrpt(t, []string{"TLSRPT_DB=" + filepath.Join(t.TempDir(), "db")}, nil, "import", "--spool", "--spool-dir", missing)
	if r.code != 1 || strings.Contains(r.stdout, "stored") || strings.Count(r.stderr, "\n") != 1 || !strings.Contains(r.stderr, missing) {
		t.Errorf("import --spool-dir %s: exit %d, want 1 and one line naming it\nstdout: %s\nstderr: %s", missing, r.code, r.stdout, r.stderr)
	}
}

// TestCountLimitsRefused: --max-details and --max-policies of 0 or below
// would silently mean the defaults; serve and import refuse them with a
// reason (exit 2), the filter passes the message through, marked, and
// says why (it always exits 0).
func TestCountLimitsRefused(t *testing.T) {
	db := filepath.Join(t.TempDir(), "tlsrpt.db")
	// The address serve is given is taken: were the flag let through,
	// serve would fail to listen (exit 1), not serve for ever.
	taken, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer taken.Close()
	for _, flag := range []string{"--max-details", "--max-policies"} {
		for _, v := range []string{"0", "-1"} {
			for _, cmd := range []string{"import", "serve"} {
				args := []string{cmd, "--db", db, flag, v}
				if cmd == "import" {
					args = append(args, t.TempDir())
				} else {
					args = append(args, "--listen", taken.Addr().String())
				}
				r := tlsrpt(t, nil, nil, args...)
				if r.code != 2 || !strings.Contains(r.stderr, flag) || !strings.Contains(r.stderr, "must be above 0") {
					t.Errorf("%s %s %s: exit %d, want 2 with the reason\n%s", cmd, flag, v, r.code, r.stderr)
				}
			}
			msg, err := os.ReadFile("../../testdata/corpus/14-tlsrptdigest-google-failure.eml")
			if err != nil {
				t.Fatal(err)
			}
			r := tlsrpt(t, nil, msg, "filter", "--db", db, flag, v)
			if r.code != 0 || !strings.Contains(r.stdout, "misconfigured") || !strings.Contains(r.stderr, flag+" "+v+" must be above 0") {
				t.Errorf("filter %s %s: exit %d, want 0, the message marked misconfigured\n%s", flag, v, r.code, r.stderr)
			}
		}
	}
	if r := tlsrptOK(t, nil, nil, "filter", "--help"); !strings.Contains(r.stdout, "-1: no bound") {
		t.Errorf("filter --help does not say what --spool-max -1 means")
	}
}

// TestFilterFolderAsFile: a folder named as FILE is a mistake of the
// command line: exit 1, one line, one prefix; not 75 (which would have
// maildrop try again for ever).
func TestFilterFolderAsFile(t *testing.T) {
	dir := t.TempDir()
	r := tlsrpt(t, nil, nil, "filter", "--db", filepath.Join(dir, "db"), dir)
	if r.code != 1 || strings.Count(r.stderr, "\n") != 1 || strings.Count(r.stderr, "filter:") != 1 || !strings.Contains(r.stderr, "is a folder") {
		t.Errorf("filter DIR: exit %d, want 1 and one clean line\n%s", r.code, r.stderr)
	}
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

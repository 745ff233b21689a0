package store

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"os/exec"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib" // the "pgx" driver, to create test databases

	"github.com/tlsrpt/tlsrpt/arrival"
	"github.com/tlsrpt/tlsrpt/internal/pgtest"
	"github.com/tlsrpt/tlsrpt/internal/testenv"
)

// The store's test suite runs on both engines: on SQLite as it stands, and
// on PostgreSQL when TestPostgres runs this test binary again against a
// real server with $TLSRPT_STORE_TEST_POSTGRES set to the server's URL.
// openTemp then opens a fresh PostgreSQL database per test. Tests of what
// only SQLite has (its files, PRAGMAs, its query planner, its locking)
// call sqliteOnly, which skips them in that second run, with the reason.
const pgEnv = "TLSRPT_STORE_TEST_POSTGRES"

// onPostgres reports whether this run is the PostgreSQL one.
func onPostgres() bool { return os.Getenv(pgEnv) != "" }

// sqliteOnly skips a test of SQLite's own behaviour in the PostgreSQL run.
func sqliteOnly(t testing.TB, why string) {
	t.Helper()
	if onPostgres() {
		t.Skip("SQLite only: " + why)
	}
}

// newPostgresDB creates a database with a fresh name on the server of the
// PostgreSQL run and returns its URL.
func newPostgresDB(t testing.TB) string {
	t.Helper()
	admin := os.Getenv(pgEnv)
	db, err := sql.Open("pgx", admin)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	b := make([]byte, 6)
	rand.Read(b)
	name := "t_" + hex.EncodeToString(b)
	if _, err := db.Exec("CREATE DATABASE " + name); err != nil {
		t.Fatalf("creating test database: %v", err)
	}
	u, err := url.Parse(admin)
	if err != nil {
		t.Fatal(err)
	}
	u.Path = "/" + name
	return u.String()
}

// TestPostgres runs the whole store test suite again on a real PostgreSQL
// server started for it, and fails when any test fails there.
func TestPostgres(t *testing.T) {
	if onPostgres() {
		t.Skip("this is the PostgreSQL run")
	}
	if testing.Short() {
		t.Skip("-short: the PostgreSQL run of the suite takes a minute")
	}
	srv := pgtest.Start(t)
	cmd := exec.Command(os.Args[0], "-test.run=.", "-test.skip=^TestPostgres$", "-test.count=1", "-test.v",
		"-test.timeout=10m")
	cmd.Env = append(os.Environ(), pgEnv+"="+srv.URL("postgres"))
	out, err := cmd.CombinedOutput()
	summary := regexp.MustCompile(`(?m)^(--- (FAIL|SKIP): .*|--- PASS: TestPostgres\w+ .*|\s+\S+_test\.go:\d+: SQLite only: .*|\s+engines_test\.go:\d+: .*)$`).FindAllString(string(out), -1)
	t.Logf("PostgreSQL run: %d tests passed; skipped or failed:\n%s",
		strings.Count(string(out), "--- PASS"), strings.Join(summary, "\n"))
	if err != nil {
		t.Fatalf("the store suite fails on PostgreSQL: %v\n%s\nserver log:\n%s", err, out, srv.Log())
	}
}

// TestPostgresBusy holds the store's advisory lock from another session:
// a write waits for it while it is held, and gives up with ErrBusy within
// the write budget when it is held longer. No clock decides: the lock is
// let go only once PostgreSQL shows the write waiting for it, and the
// second time only after the write gave up.
func TestPostgresBusy(t *testing.T) {
	if !onPostgres() {
		t.Skip("PostgreSQL only: the advisory lock (TestBusy covers SQLite's lock)")
	}
	s := openTemp(t)
	ctx := t.Context()
	hold := func() (unlock func()) {
		conn, err := s.db.Conn(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := conn.ExecContext(ctx, "SELECT pg_advisory_lock(?)", int64(lockKey)); err != nil {
			t.Fatal(err)
		}
		return func() {
			conn.ExecContext(ctx, "SELECT pg_advisory_unlock(?)", int64(lockKey))
			conn.Close()
		}
	}
	unlock := hold()
	released := releaseWhenWaiting(t, WriteBudget, func(t *testing.T) { waitForLockWaiter(t, s) }, unlock)
	if _, _, err := s.AddReport(ctx, mkReport("Org", "waited", 1), arrival.Source{}); err != nil {
		t.Fatalf("AddReport while the lock is held briefly: %v", err)
	}
	if !released.Load() {
		t.Errorf("AddReport succeeded while the lock was held")
	}
	attemptHook = nil
	writeBudget = 300 * time.Millisecond
	unlock = hold()
	_, _, err := s.AddReport(ctx, mkReport("Org", "busy", 1), arrival.Source{})
	unlock()
	if !errors.Is(err, ErrBusy) {
		t.Fatalf("AddReport while the lock is held past the budget: %v, want ErrBusy", err)
	}
	if strings.Count(err.Error(), "store:") != 1 {
		t.Errorf("error %q: want one store: prefix", err)
	}
}

// waitForLockWaiter polls pg_locks until a session waits for the store's
// advisory lock, for at most testenv.Patience: PostgreSQL gives no other
// sign that a writer waits.
func waitForLockWaiter(t *testing.T, s *Store) {
	const q = `SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND NOT granted`
	for deadline := time.Now().Add(testenv.Patience); time.Now().Before(deadline); time.Sleep(5 * time.Millisecond) {
		var n int
		if err := s.db.QueryRowContext(t.Context(), q).Scan(&n); err != nil {
			t.Errorf("reading pg_locks: %v", err)
			return
		}
		if n > 0 {
			return
		}
	}
	t.Errorf("no session waited for the advisory lock within %v", testenv.Patience)
}

// TestPostgresMigrationIsAtomic fails a migration step half-way: nothing of
// it stays and the version is unchanged.
func TestPostgresMigrationIsAtomic(t *testing.T) {
	if !onPostgres() {
		t.Skip("PostgreSQL only (TestMigrationIsAtomic covers SQLite)")
	}
	s := openTemp(t)
	ctx := t.Context()
	steps := append(slices.Clip(postgresSteps()),
		migration{name: "half", sql: "CREATE TABLE half (x BIGINT); SELECT * FROM no_such_table"})
	if err := s.migrate(ctx, steps); err == nil {
		t.Fatal("a failing step succeeded")
	}
	var half bool
	s.db.QueryRow("SELECT to_regclass('half') IS NOT NULL").Scan(&half)
	v, err := s.schemaVersion(ctx, s.db)
	if half || err != nil || v != len(postgresSteps()) {
		t.Errorf("after a failed step: table half exists %v, version %d (%v); want rolled back at %d", half, v, err, len(postgresSteps()))
	}
}

// TestUnknownScheme refuses a URL of a scheme the store does not know, and
// makes no file or folder of it.
func TestUnknownScheme(t *testing.T) {
	dir := t.TempDir()
	wd, _ := os.Getwd()
	defer os.Chdir(wd)
	os.Chdir(dir)
	for _, loc := range []string{"mysql://root@db/tlsrpt", "sqlite://x.db", "http://example.com/db", "Postgress://h/d"} {
		_, err := Open(loc)
		if !errors.Is(err, ErrUnknownScheme) {
			t.Errorf("Open(%q) = %v, want ErrUnknownScheme", loc, err)
			continue
		}
		scheme := loc[:strings.Index(loc, ":")]
		if !strings.Contains(err.Error(), `"`+scheme+`"`) || !strings.Contains(err.Error(), "postgres://") {
			t.Errorf("Open(%q): %q should name the scheme and what works", loc, err)
		}
	}
	if des, _ := os.ReadDir(dir); len(des) != 0 {
		t.Errorf("refused URLs left %d entries in the working folder: %v", len(des), des)
	}
	for _, loc := range []string{"postgres://u@h/d", "postgresql://u@h/d", "POSTGRES://u@h/d"} {
		if e, err := EngineOf(loc); e != PostgreSQL || err != nil {
			t.Errorf("EngineOf(%q) = %q, %v", loc, e, err)
		}
	}
	if e, err := EngineOf("/var/lib/tlsrpt/tlsrpt.db"); e != SQLite || err != nil {
		t.Errorf("EngineOf(path) = %q, %v", e, err)
	}
}

// TestRedact keeps passwords out of what is shown, and what is not
// secret readable.
func TestRedact(t *testing.T) {
	checkMapping(t, "Redact", Redact, map[string]string{
		"postgres://tlsrpt:s3cret@db.example:5432/tlsrpt?sslmode=verify-full":                     "postgres://tlsrpt:xxxxx@db.example:5432/tlsrpt?sslmode=verify-full",
		"postgres://db.example/tlsrpt?password=s3cret&sslmode=require":                            "postgres://db.example/tlsrpt?password=xxxxx&sslmode=require",
		"postgres://db.example/tlsrpt?sslmode=verify-full&sslpassword=S3CRETpw&connect_timeout=5": "postgres://db.example/tlsrpt?sslmode=verify-full&sslpassword=xxxxx&connect_timeout=5",
		"postgres://db.example/tlsrpt?ssl%70assword=S3CRETpw":                                     "postgres://db.example/tlsrpt?ssl%70assword=xxxxx",
		"postgres://db.example/tlsrpt?sslkey=/etc/tlsrpt/client.key&passfile=/etc/tlsrpt/pgpass":  "postgres://db.example/tlsrpt?sslkey=/etc/tlsrpt/client.key&passfile=/etc/tlsrpt/pgpass",
		"host=db password=S3CRETpw dbname=t":                                                      "host=db password=xxxxx dbname=t",
		"/var/lib/tlsrpt/tlsrpt.db":                                                               "/var/lib/tlsrpt/tlsrpt.db",
		"postgres://u:p%zz@h/d":                                                                   "postgres://(unreadable URL)",
	})
}

// checkMapping reports each input of cases that f, named name, does not
// map to its wanted output.
func checkMapping(t *testing.T, name string, f func(string) string, cases map[string]string) {
	t.Helper()
	for in, want := range cases {
		if got := f(in); got != want {
			t.Errorf("%s(%q) = %q, want %q", name, in, got, want)
		}
	}
}

// TestRedactSecrets attacks Redact and RedactText with every place a
// secret can sit in a location: userinfo, password= and
// sslpassword= in a URL's query in any case or percent-encoding, a query
// Go cannot read, a fragment, a key=value connection string, and URLs cut
// short by quoting in an error text. None may show the secret.
func TestRedactSecrets(t *testing.T) {
	const secret = "S3CRETpw"
	locations := []string{
		"postgres://tlsrpt:S3CRETpw@db.example/tlsrpt",
		"postgresql://tlsrpt:S3CRETpw@db.example:5432/tlsrpt?sslmode=require",
		"postgres://db.example/tlsrpt?sslpassword=S3CRETpw",
		"postgres://db.example/tlsrpt?sslmode=verify-full&sslpassword=S3CRETpw&connect_timeout=5",
		"postgres://db.example/tlsrpt?SSLPassword=S3CRETpw",
		"postgres://db.example/tlsrpt?ssl%70assword=S3CRETpw",
		"postgres://db.example/tlsrpt?pass%77ord=S3CRETpw",
		"postgres://db.example/tlsrpt?password=S3CRETpw%zz",
		"postgres://db.example/tlsrpt?x=%zz&password=S3CRETpw",
		"postgres://db.example/tlsrpt?a=1;password=S3CRETpw",
		"postgres://db.example/tlsrpt#password=S3CRETpw",
		"postgres://db.example/tlsrpt#?password=S3CRETpw",
		"postgres://u:S3CRETpw@h1,h2/tlsrpt",
		"postgres://u:p@S3CRETpw@h/tlsrpt",
		"postgres://u:S3CRETpw/x@h/tlsrpt",
		"postgres://u:S3CRETpw@[::1/tlsrpt",
		"mysql://root:S3CRETpw@db/tlsrpt",
		"host=db user=tlsrpt password=S3CRETpw dbname=tlsrpt",
		"host=db password = 'S3CRETpw with space' dbname=tlsrpt",
		"host=db sslpassword=S3CRETpw",
		"host=db PASSWORD=S3CRETpw",
	}
	for _, loc := range locations {
		if got := Redact(loc); strings.Contains(got, "S3CRET") || strings.Contains(got, "with space") {
			t.Errorf("Redact(%q) = %q", loc, got)
		}
		for _, text := range []string{
			loc,
			fmt.Sprintf("unexpected argument %q (see tlsrpt migrate-db --help)", loc),
			fmt.Sprintf("opening database %s: boom", loc),
			fmt.Sprintf("level=INFO msg=listening db=%q", loc),
		} {
			if got := RedactText(text); strings.Contains(got, "S3CRET") || strings.Contains(got, "with space") {
				t.Errorf("RedactText(%q) = %q", text, got)
			}
		}
	}
	// A quote in the password: %q escapes it and cuts the URL short.
	text := fmt.Sprintf("%q", "postgres://u:"+secret+`"x@h/db`)
	if got := RedactText(text); strings.Contains(got, "S3CRET") {
		t.Errorf("RedactText(%s) = %s", text, got)
	}
	if got := RedactText("password authentication failed for user \"postgres\""); got != "password authentication failed for user \"postgres\"" {
		t.Errorf("RedactText changed an error without a secret: %q", got)
	}
}

// TestKeywordDSNRefused: a key=value connection string given as --db is
// refused by name, never taken for the name of a SQLite file (which
// would hold the password on disk and in every message).
func TestKeywordDSNRefused(t *testing.T) {
	dir := t.TempDir()
	t.Chdir(dir)
	loc := "host=db user=tlsrpt password=S3CRETpw dbname=tlsrpt"
	_, err := Open(loc)
	if !errors.Is(err, ErrUnknownScheme) || strings.Contains(err.Error(), "S3CRET") || !strings.Contains(err.Error(), "postgres://") {
		t.Errorf("Open(%q): %v", loc, err)
	}
	if des, _ := os.ReadDir(dir); len(des) != 0 {
		t.Errorf("a key=value string made files: %v", des)
	}
}

// TestRebind rewrites placeholders outside quotes and comments only.
func TestRebind(t *testing.T) {
	checkMapping(t, "rebind", rebind, map[string]string{
		"SELECT ? , ?":                             "SELECT $1 , $2",
		"SELECT '?', \"a?\", ? -- ?\n, ?":          "SELECT '?', \"a?\", $1 -- ?\n, $2",
		"SELECT 'it''s ?', ? /* ? */ , ?":          "SELECT 'it''s ?', $1 /* ? */ , $2",
		"CREATE FUNCTION f() AS $$ ? $$; SELECT ?": "CREATE FUNCTION f() AS $$ ? $$; SELECT $1",
		"SELECT 1":               "SELECT 1",
		"SELECT 'unterminated ?": "SELECT 'unterminated ?",
	})
}

// TestPostgresUnavailable opens with a wrong password and against a port
// where no server listens: ErrUnavailable at once, on the server's answer
// or the refusal rather than a time-out; one line naming the server,
// never the password.
func TestPostgresUnavailable(t *testing.T) {
	if !onPostgres() {
		t.Skip("PostgreSQL only")
	}
	good, err := url.Parse(newPostgresDB(t))
	if err != nil {
		t.Fatal(err)
	}
	const secret = "Wr0ng-Passw0rd-Zebra"
	bad := *good
	bad.User = url.UserPassword("postgres", secret)
	l, _ := net.Listen("tcp", "127.0.0.1:0")
	closed := l.Addr().String()
	l.Close()
	down := *good
	down.Host = closed
	for name, u := range map[string]*url.URL{"wrong password": &bad, "no server": &down} {
		var err error
		testenv.Returns(t, name+": Open", func() { _, err = Open(u.String()) })
		if !errors.Is(err, ErrUnavailable) {
			t.Errorf("%s: Open = %v, want ErrUnavailable", name, err)
			continue
		}
		msg := err.Error()
		if strings.Contains(msg, secret) || strings.Contains(msg, pgtest.Password) {
			t.Errorf("%s: the error shows a password: %q", name, msg)
		}
		if strings.ContainsAny(msg, "\n\r") {
			t.Errorf("%s: error is not one line: %q", name, msg)
		}
		if !strings.Contains(msg, u.Host) {
			t.Errorf("%s: error %q does not name the server %s", name, msg, u.Host)
		}
		var nerr net.Error
		if errors.Is(err, context.DeadlineExceeded) || errors.As(err, &nerr) && nerr.Timeout() || strings.Contains(msg, "timeout") {
			t.Errorf("%s: Open waited out a time-out instead of taking the server's answer: %q", name, msg)
		}
		t.Logf("%s: %s", name, msg)
	}
}

// TestPostgresLeastRights applies contrib/postgresql/grants.sql and works
// as each kind of host: the mailbox host stores reports, an MX reads them,
// writes the audit log and the DNS cache, and cannot add a report.
func TestPostgresLeastRights(t *testing.T) {
	if !onPostgres() {
		t.Skip("PostgreSQL only: roles and grants")
	}
	owner := openTemp(t)
	ctx := t.Context()
	grants, err := os.ReadFile("../contrib/postgresql/grants.sql")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := owner.db.ExecContext(ctx, string(grants)); err != nil {
		t.Fatalf("grants.sql: %v", err)
	}
	b := make([]byte, 4)
	rand.Read(b)
	suffix := hex.EncodeToString(b)
	login := func(group string) *Store {
		t.Helper()
		name := group + "_" + suffix
		if _, err := owner.db.ExecContext(ctx, fmt.Sprintf("CREATE ROLE %s LOGIN PASSWORD 'pw-%s' IN ROLE %s", name, suffix, group)); err != nil {
			t.Fatal(err)
		}
		u, _ := url.Parse(owner.path)
		u.User = url.UserPassword(name, "pw-"+suffix)
		s, err := Open(u.String())
		if err != nil {
			t.Fatalf("opening as %s: %v", group, err)
		}
		t.Cleanup(func() { s.Close() })
		return s
	}
	mailbox, mx := login("tlsrpt_reports"), login("tlsrpt_mx")

	plain := arrival.Source{Transport: "mail", Submitter: "google.com"}
	signed := arrival.Source{Transport: "mail", Submitter: "google.com", Auth: arrival.Auth{Authenticated: true, Method: "dkim", Domain: "google.com"}}
	r := mkReport("Google Inc.", "lr-1", 3, detail("209.85.220.41", "certificate-expired", 4))
	if _, _, err := mailbox.AddReport(ctx, r, plain); err != nil {
		t.Fatalf("mailbox host storing a report: %v", err)
	}
	if _, dup, err := mailbox.AddReport(ctx, r, signed); err != nil || !dup {
		t.Fatalf("mailbox host replacing an unsigned copy: dup %v, %v", dup, err)
	}
	if err := mailbox.CachePut(ctx, "k1", []byte("v"), time.Minute); err != nil {
		t.Errorf("mailbox host caching DNS: %v", err)
	}
	fs, err := mx.Failing(ctx, time.Time{})
	if err != nil || len(fs) != 1 {
		t.Fatalf("MX reading review rows: %+v, %v", fs, err)
	}
	if _, err := mx.EvidenceAll(ctx, time.Time{}); err != nil {
		t.Errorf("MX reading evidence: %v", err)
	}
	if _, err := mx.LogAction(ctx, Action{Host: "mx1", Backend: "fail2ban", Kind: "unban"}); err != nil {
		t.Errorf("MX writing the audit log: %v", err)
	}
	if err := mx.CachePut(ctx, "k2", []byte("v"), time.Minute); err != nil {
		t.Errorf("MX caching DNS: %v", err)
	}
	_, _, err = mx.AddReport(ctx, mkReport("Forged", "f-1", 3, detail("192.0.2.66", "certificate-expired", 1)), signed)
	if err == nil || !strings.Contains(err.Error(), "permission denied") {
		t.Errorf("MX adding a report: %v, want permission denied", err)
	}
}

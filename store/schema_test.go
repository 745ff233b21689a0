package store

import (
	"bytes"
	"database/sql"
	"net/netip"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
	"testing/fstest"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/tlsrpt/tlsrpt/arrival"
)

// TestSchemaFiles: every engine has the same schema steps, in files of the
// same names, with the same step names and the same Go part; only SQLite's
// steps may run with foreign keys off (PostgreSQL alters tables in place).
func TestSchemaFiles(t *testing.T) {
	files := func(engine string) []string {
		entries, err := schemaFiles.ReadDir("schema/" + engine)
		if err != nil {
			t.Fatal(err)
		}
		var names []string
		for _, e := range entries {
			names = append(names, e.Name())
		}
		return names
	}
	if s, p := files("sqlite"), files("postgres"); !slices.Equal(s, p) {
		t.Errorf("the engines' schema files differ:\nsqlite:   %v\npostgres: %v", s, p)
	}
	if len(sqliteSteps()) != len(postgresSteps()) || SchemaVersion != len(sqliteSteps()) {
		t.Fatalf("%d SQLite steps, %d PostgreSQL steps, SchemaVersion %d", len(sqliteSteps()), len(postgresSteps()), SchemaVersion)
	}
	for i := range sqliteSteps() {
		sq, pg := sqliteSteps()[i], postgresSteps()[i]
		if sq.name != pg.name {
			t.Errorf("step %d: named %q on SQLite, %q on PostgreSQL", i+1, sq.name, pg.name)
		}
		if (sq.fn == nil) != (pg.fn == nil) || (sq.fn == nil) != (stepCode[i+1] == nil) {
			t.Errorf("step %d: Go part on SQLite %v, on PostgreSQL %v", i+1, sq.fn != nil, pg.fn != nil)
		}
		if pg.rebuild {
			t.Errorf("step %d: foreign-keys: off on PostgreSQL", i+1)
		}
		if strings.Contains(sq.sql, "\r") || strings.Contains(pg.sql, "\r") {
			t.Errorf("step %d: a carriage return in its SQL", i+1)
		}
	}
	if !sqliteSteps()[1].rebuild {
		t.Errorf("SQLite's step 2 rebuilds reports: it must run with foreign keys off")
	}
}

// TestLoadStepsRefuses feeds loadSteps malformed schema folders: each is
// refused, naming the file.
func TestLoadStepsRefuses(t *testing.T) {
	step := func(name string) *fstest.MapFile {
		return &fstest.MapFile{Data: []byte("-- name: " + name + "\nSELECT 1;\n")}
	}
	good := fstest.MapFS{}
	for i, f := range []string{"001_a.sql", "002_b.sql", "003_c.sql", "004_d.sql", "005_e.sql"} {
		good["s/"+f] = step(string(rune('a' + i)))
	}
	if steps, err := loadSteps(good, "s"); err != nil || len(steps) != 5 || steps[1].fn == nil || steps[4].fn == nil || steps[0].fn != nil {
		t.Fatalf("a well-formed folder: %d steps, %v", len(steps), err)
	}
	for name, fsys := range map[string]fstest.MapFS{
		"a gap":            {"s/001_a.sql": step("a"), "s/003_c.sql": step("c")},
		"a bad file name":  {"s/001_a.sql": step("a"), "s/2_b.sql": step("b")},
		"no name":          {"s/001_a.sql": {Data: []byte("SELECT 1;\n")}},
		"an unknown key":   {"s/001_a.sql": {Data: []byte("-- name: a\n-- rebuild: yes\nSELECT 1;\n")}},
		"foreign-keys: on": {"s/001_a.sql": {Data: []byte("-- name: a\n-- foreign-keys: on\nSELECT 1;\n")}},
		"Go code, no file": {"s/001_a.sql": step("a"), "s/002_b.sql": step("b")}, // stepCode has 5
	} {
		if _, err := loadSteps(fsys, "s"); err == nil || !strings.Contains(err.Error(), "schema step") {
			t.Errorf("%s: loadSteps = %v, want an error naming the step", name, err)
		}
	}
	m, err := parseStep("-- name: x\n-- foreign-keys: off\n--\n-- A comment: not a header line.\nSELECT 1;\n")
	if err != nil || m.name != "x" || !m.rebuild {
		t.Errorf("parseStep = %+v, %v", m, err)
	}
}

// unmigrated opens a new, empty database of the engine of this run (a
// SQLite file, or a database on the PostgreSQL run's server) as a store
// without migrating it, and returns it with its location.
func unmigrated(t *testing.T) (*Store, string) {
	t.Helper()
	if onPostgres() {
		loc := newPostgresDB(t)
		cfg, err := pgx.ParseConfig(loc)
		if err != nil {
			t.Fatal(err)
		}
		s := &Store{db: sql.OpenDB(newPGConnector(cfg)), path: Redact(loc), dialect: postgresDialect{server: serverOf(Redact(loc))}}
		return s, loc
	}
	loc := filepath.Join(t.TempDir(), "v1.db")
	db, err := sql.Open("sqlite3", dsn(loc))
	if err != nil {
		t.Fatal(err)
	}
	return &Store{db: db, path: loc, dialect: sqliteDialect{}}, loc
}

// TestMigrateFromStep1File builds a store from the first schema file
// alone, on each engine, fills it as the first release wrote it, and
// opens it: every later step is applied, to the current version, and
// what it held is kept and keyed as AddReport keys it today.
func TestMigrateFromStep1File(t *testing.T) {
	ctx := t.Context()
	old, loc := unmigrated(t)
	if err := old.migrate(ctx, old.dialect.steps()[:1]); err != nil {
		t.Fatal(err)
	}
	if v, err := old.schemaVersion(ctx, old.db); err != nil || v != 1 {
		t.Fatalf("built from step 1: version %d, %v", v, err)
	}
	start, end := day(20).Unix(), day(21).Unix()-1
	insertReport := func(org, id, submitter string, auth int, domain string) int64 {
		t.Helper()
		var key int64
		if err := old.db.QueryRowContext(ctx, `INSERT INTO reports (org, report_id, contact, start_time, end_time,
			submitter, from_domain, transport, auth_authenticated, auth_method, auth_domain, auth_detail, stored)
			VALUES (?, ?, 'tlsrpt@example.org', ?, ?, ?, ?, 'mail', ?, 'dkim', ?, 'v1', ?) RETURNING id`,
			org, id, start, end, submitter, submitter, auth, domain, start).Scan(&key); err != nil {
			t.Fatal(err)
		}
		var policy int64
		if err := old.db.QueryRowContext(ctx, `INSERT INTO policies (report_id, type, domain, strings, mx_hosts, successful, failed)
			VALUES (?, 'sts', 'example.net', '["version: STSv1"]', '["mx.example.net"]', 100, 3) RETURNING id`, key).Scan(&policy); err != nil {
			t.Fatal(err)
		}
		return key
	}
	addDetail := func(report int64, ip string, n int) {
		t.Helper()
		if _, err := old.db.ExecContext(ctx, `INSERT INTO failure_details (policy_id, report_id, result_type, sending_ip, receiving_mx, sessions)
			VALUES ((SELECT MIN(id) FROM policies WHERE report_id = ?), ?, 'certificate-expired', ?, 'mx.example.net', ?)`,
			report, report, ip, n); err != nil {
			t.Fatal(err)
		}
	}
	google := insertReport("Google Inc.", "g1", "google.com", 1, "google.com")
	addDetail(google, "209.85.220.41", 2)
	addDetail(google, "2607:f8b0:4864:20::b2a", 1)
	other := insertReport("Other Org", "o1", "other.example", 0, "")
	addDetail(other, "209.85.220.41", 3)
	if _, err := old.db.ExecContext(ctx, `INSERT INTO actions (time, ip, backend, kind, target, command, applied, ok, result)
		VALUES (?, '192.0.2.7', 'fail2ban', 'unban', 'postfix', 'fail2ban-client set postfix unbanip 192.0.2.7', 1, 1, 'ok')`, start); err != nil {
		t.Fatal(err)
	}
	if _, err := old.db.ExecContext(ctx, `INSERT INTO dns_cache (key, value, expires) VALUES ('TXT example.org.', ?, ?)`,
		[]byte{0, 1, 0xff}, end); err != nil {
		t.Fatal(err)
	}
	old.db.Close()

	s, err := Open(loc)
	if err != nil {
		t.Fatalf("opening a version-1 store: %v", err)
	}
	defer s.Close()
	if v, err := s.schemaVersion(ctx, s.db); err != nil || v != SchemaVersion {
		t.Fatalf("after Open: version %d, %v; want %d", v, err, SchemaVersion)
	}

	r, src, err := s.Report(ctx, google)
	if err != nil || r.OrganizationName != "Google Inc." || r.ReportID != "g1" || len(r.Policies) != 1 ||
		len(r.Policies[0].Details) != 2 || !src.Auth.Authenticated || src.Auth.Domain != "google.com" {
		t.Errorf("Google's report after migration: %+v, %+v, %v", r, src, err)
	}
	fs := mustFailing(t, s, time.Time{})
	want := []FailingAddress{
		{IP: netip.MustParseAddr("209.85.220.41"), FailedSessions: 5, Reports: 2,
			Organizations:              []string{"Google Inc.", "Other Org (unauthenticated)"},
			AuthenticatedOrganizations: []string{"Google Inc."},
			ResultTypes:                []string{"certificate-expired"},
			FirstSeen:                  day(20),
			LastSeen:                   day(21).Add(-time.Second)},
		{IP: netip.MustParseAddr("2607:f8b0:4864:20::b2a"), FailedSessions: 1, Reports: 1,
			Organizations:              []string{"Google Inc."},
			AuthenticatedOrganizations: []string{"Google Inc."},
			ResultTypes:                []string{"certificate-expired"},
			FirstSeen:                  day(20),
			LastSeen:                   day(21).Add(-time.Second)},
	}
	if !reflect.DeepEqual(fs, want) {
		t.Errorf("Failing after migration:\n got %+v\nwant %+v", fs, want)
	}
	// The migrated report is keyed by its reporter: Google's signed copy
	// again is the same report.
	if id, dup, err := s.AddReport(ctx, r, src); err != nil || !dup || id != google {
		t.Errorf("Google's report again: key %d, dup %v, %v; want %d, dup", id, dup, err, google)
	}
	// New rows take new keys.
	if id, dup, err := s.AddReport(ctx, mkReport("New Org", "n1", 22, detail("192.0.2.9", "certificate-expired", 1)), arrival.Source{}); err != nil || dup || id == google || id == other {
		t.Errorf("a new report: key %d, dup %v, %v", id, dup, err)
	}
	as, err := s.Actions(ctx, 0)
	if err != nil || len(as) != 1 || as[0].IP != netip.MustParseAddr("192.0.2.7") || as[0].Host != "" || !as[0].OK || as[0].Target != "postfix" {
		t.Errorf("audit log after migration: %+v, %v", as, err)
	}
	if id, err := s.LogAction(ctx, Action{Host: "mx1", Backend: "fail2ban", Kind: "keep"}); err != nil || id == as[0].ID {
		t.Errorf("a new audit log entry: key %d, %v", id, err)
	}
	v, exp, ok, err := s.CacheGet(ctx, "TXT example.org.")
	if err != nil || !ok || !bytes.Equal(v, []byte{0, 1, 0xff}) || exp.Unix() != end {
		t.Errorf("DNS cache after migration: %v %v %v %v", v, exp, ok, err)
	}
}

// TestEnginesSameSchema: the PostgreSQL steps build the schema the SQLite
// steps build: the same tables with the same columns, the same indexes
// (besides those of keys and constraints) and the same trigger.
func TestEnginesSameSchema(t *testing.T) {
	if !onPostgres() {
		t.Skip("PostgreSQL only: compares its schema with SQLite's")
	}
	ctx := t.Context()
	lite := openAt(t, filepath.Join(t.TempDir(), "tlsrpt.db"))
	pg := openTemp(t)
	query := func(s *Store, q string) []string {
		t.Helper()
		l, err := queryStrings(ctx, s.db, q)
		if err != nil {
			t.Fatalf("%s: %v", q, err)
		}
		slices.Sort(l)
		return l
	}
	for _, c := range []struct{ what, sqlite, postgres string }{
		{"columns",
			`SELECT m.name || '.' || c.name FROM sqlite_schema m JOIN pragma_table_info(m.name) c WHERE m.type = 'table'`,
			`SELECT table_name || '.' || column_name FROM information_schema.columns
				WHERE table_schema = current_schema() AND table_name <> 'tlsrpt_schema'`},
		{"indexes",
			`SELECT name FROM sqlite_schema WHERE type = 'index' AND name NOT LIKE 'sqlite_autoindex_%'`,
			`SELECT indexname FROM pg_indexes WHERE schemaname = current_schema()
				AND indexname NOT IN (SELECT conname FROM pg_constraint)`},
		{"triggers",
			`SELECT name FROM sqlite_schema WHERE type = 'trigger'`,
			`SELECT tgname FROM pg_trigger WHERE NOT tgisinternal`},
	} {
		sq, pq := query(lite, c.sqlite), query(pg, c.postgres)
		if !slices.Equal(sq, pq) {
			t.Errorf("%s differ:\nSQLite:     %v\nPostgreSQL: %v", c.what, sq, pq)
		}
	}
}

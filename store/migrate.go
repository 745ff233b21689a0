package store

import (
	"context"
	"database/sql"
	"fmt"
	"time"
)

// migration is one schema step; the database's schema version (SQLite's
// user_version, PostgreSQL's tlsrpt_schema table) is the number of steps
// applied. Append new steps; never edit a released one.
type migration struct {
	name string
	sql  string
	// pg is the step's text for PostgreSQL where its DDL differs (types,
	// identity columns, triggers); empty means sql serves both.
	pg string
	// fn, if set, runs after sql in the same transaction: for what SQL
	// alone cannot compute.
	fn func(ctx context.Context, tx *sql.Tx) error
	// rebuild marks a step that recreates a table others refer to: it runs
	// with foreign keys off (SQLite would cascade the DROP TABLE otherwise)
	// and checks them all before it commits.
	rebuild bool
}

// migrations is the schema history. Times are INTEGER unix seconds; IP
// addresses are canonical text, NULL when absent.
//
// Version 2 keys reports on (reporter, org, report_id) and gives each its
// content digest (see AddReport); clamps stored counts to [0, MaxCount];
// replaces the index on sending_ip by one that covers what evidence
// queries read; and adds the per-address aggregate review reads (see
// aggregate.go), kept up to date by AddReport. A trigger marks the
// addresses of deleted failure details in addresses_stale, whoever deletes
// them; writers recompute those (refreshStale) and readers do not trust
// the aggregate while any is marked.
//
// Version 5 adds to the aggregate which organization-names authenticated
// reports give (addresses.auth_org_mask, address_orgs.authenticated) and
// recomputes it for every address.
//
// Version 6 adds the DMARC aggregate reports and their records
// (dmarc_schema.go, AddDMARC).
var migrations = []migration{
	{name: "initial schema", sql: `
CREATE TABLE reports (
	id                 INTEGER PRIMARY KEY,
	org                TEXT NOT NULL,
	report_id          TEXT NOT NULL,
	contact            TEXT NOT NULL DEFAULT '',
	start_time         INTEGER NOT NULL,
	end_time           INTEGER NOT NULL,
	submitter          TEXT NOT NULL DEFAULT '',
	from_domain        TEXT NOT NULL DEFAULT '',
	message_id         TEXT NOT NULL DEFAULT '',
	transport          TEXT NOT NULL DEFAULT '',
	received           INTEGER,
	auth_authenticated INTEGER NOT NULL DEFAULT 0,
	auth_method        TEXT NOT NULL DEFAULT '',
	auth_domain        TEXT NOT NULL DEFAULT '',
	auth_detail        TEXT NOT NULL DEFAULT '',
	stored             INTEGER NOT NULL,
	UNIQUE (org, report_id)
);
CREATE INDEX reports_end_time ON reports (end_time);

CREATE TABLE policies (
	id          INTEGER PRIMARY KEY,
	report_id   INTEGER NOT NULL REFERENCES reports (id) ON DELETE CASCADE,
	type        TEXT NOT NULL,
	domain      TEXT NOT NULL DEFAULT '',
	strings     TEXT NOT NULL DEFAULT '[]',
	mx_hosts    TEXT NOT NULL DEFAULT '[]',
	successful  INTEGER NOT NULL DEFAULT 0,
	failed      INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX policies_report_id ON policies (report_id);

CREATE TABLE failure_details (
	id              INTEGER PRIMARY KEY,
	policy_id       INTEGER NOT NULL REFERENCES policies (id) ON DELETE CASCADE,
	report_id       INTEGER NOT NULL REFERENCES reports (id) ON DELETE CASCADE,
	result_type     TEXT NOT NULL DEFAULT '',
	sending_ip      TEXT,
	receiving_mx    TEXT NOT NULL DEFAULT '',
	receiving_helo  TEXT NOT NULL DEFAULT '',
	receiving_ip    TEXT,
	sessions        INTEGER NOT NULL DEFAULT 0,
	reason          TEXT NOT NULL DEFAULT '',
	additional_info TEXT NOT NULL DEFAULT ''
);
CREATE INDEX failure_details_sending_ip ON failure_details (sending_ip);
CREATE INDEX failure_details_report_id ON failure_details (report_id);
CREATE INDEX failure_details_policy_id ON failure_details (policy_id);

CREATE TABLE dns_cache (
	key     TEXT PRIMARY KEY,
	value   BLOB NOT NULL,
	expires INTEGER NOT NULL
);

CREATE TABLE actions (
	id      INTEGER PRIMARY KEY,
	time    INTEGER NOT NULL,
	ip      TEXT,
	backend TEXT NOT NULL DEFAULT '',
	kind    TEXT NOT NULL DEFAULT '',
	target  TEXT NOT NULL DEFAULT '',
	command TEXT NOT NULL DEFAULT '',
	applied INTEGER NOT NULL DEFAULT 0,
	ok      INTEGER NOT NULL DEFAULT 0,
	result  TEXT NOT NULL DEFAULT ''
);
CREATE INDEX actions_time ON actions (time);
`},
	{name: "reports keyed by reporter, counts bounded, per-address aggregate", rebuild: true, fn: migrate2, sql: `
CREATE TABLE reports_v2 (
	id                 INTEGER PRIMARY KEY,
	reporter           TEXT NOT NULL DEFAULT '',
	org                TEXT NOT NULL,
	report_id          TEXT NOT NULL,
	digest             TEXT NOT NULL DEFAULT '',
	contact            TEXT NOT NULL DEFAULT '',
	start_time         INTEGER NOT NULL,
	end_time           INTEGER NOT NULL,
	submitter          TEXT NOT NULL DEFAULT '',
	from_domain        TEXT NOT NULL DEFAULT '',
	message_id         TEXT NOT NULL DEFAULT '',
	transport          TEXT NOT NULL DEFAULT '',
	received           INTEGER,
	auth_authenticated INTEGER NOT NULL DEFAULT 0,
	auth_method        TEXT NOT NULL DEFAULT '',
	auth_domain        TEXT NOT NULL DEFAULT '',
	auth_detail        TEXT NOT NULL DEFAULT '',
	stored             INTEGER NOT NULL,
	UNIQUE (reporter, org, report_id)
);
INSERT INTO reports_v2 (id, org, report_id, contact, start_time, end_time,
	submitter, from_domain, message_id, transport, received,
	auth_authenticated, auth_method, auth_domain, auth_detail, stored)
SELECT id, org, report_id, contact, start_time, end_time,
	submitter, from_domain, message_id, transport, received,
	auth_authenticated, auth_method, auth_domain, auth_detail, stored
FROM reports;
DROP TABLE reports;
ALTER TABLE reports_v2 RENAME TO reports;
CREATE INDEX reports_time ON reports (end_time, start_time);
CREATE INDEX reports_content ON reports (org, report_id, digest);
UPDATE failure_details SET sessions = CASE WHEN sessions < 0 THEN 0 ELSE 1000000000000 END
	WHERE sessions < 0 OR sessions > 1000000000000;
UPDATE policies SET successful = CASE WHEN successful < 0 THEN 0 ELSE 1000000000000 END
	WHERE successful < 0 OR successful > 1000000000000;
UPDATE policies SET failed = CASE WHEN failed < 0 THEN 0 ELSE 1000000000000 END
	WHERE failed < 0 OR failed > 1000000000000;

DROP INDEX failure_details_sending_ip;
CREATE INDEX failure_details_ip ON failure_details (sending_ip, report_id, result_type, sessions);

CREATE TABLE labels (
	kind TEXT NOT NULL,
	name TEXT NOT NULL,
	mask INTEGER NOT NULL,
	PRIMARY KEY (kind, name)
) WITHOUT ROWID;
CREATE TABLE addresses (
	ip         TEXT PRIMARY KEY,
	sessions   INTEGER NOT NULL,
	reports    INTEGER NOT NULL,
	first_seen INTEGER NOT NULL,
	last_seen  INTEGER NOT NULL,
	org_mask   INTEGER NOT NULL,
	type_mask  INTEGER NOT NULL
) WITHOUT ROWID;
CREATE TABLE address_orgs (
	ip  TEXT NOT NULL,
	org TEXT NOT NULL,
	PRIMARY KEY (ip, org)
) WITHOUT ROWID;
CREATE TABLE address_types (
	ip          TEXT NOT NULL,
	result_type TEXT NOT NULL,
	PRIMARY KEY (ip, result_type)
) WITHOUT ROWID;
CREATE TABLE addresses_stale (ip TEXT PRIMARY KEY) WITHOUT ROWID;
CREATE TRIGGER failure_details_deleted AFTER DELETE ON failure_details
	WHEN OLD.sending_ip IS NOT NULL
BEGIN
	INSERT INTO addresses_stale (ip) VALUES (OLD.sending_ip) ON CONFLICT DO NOTHING;
END;
`},
	// Steps from here on run on both engines as they are written.
	{name: "audit log names the host", sql: `
ALTER TABLE actions ADD COLUMN host TEXT NOT NULL DEFAULT '';
`},
	{name: "settings, reports by time stored", sql: `
CREATE TABLE settings (
	name    TEXT PRIMARY KEY,
	value   TEXT NOT NULL,
	updated BIGINT NOT NULL
);
CREATE INDEX reports_stored ON reports (stored);
`},
	{name: "aggregate knows the organization-names of authenticated reports", fn: buildAggregate, sql: `
ALTER TABLE addresses ADD COLUMN auth_org_mask BIGINT NOT NULL DEFAULT 0;
ALTER TABLE address_orgs ADD COLUMN authenticated BIGINT NOT NULL DEFAULT 0;
`},
	// Step 6, DMARC aggregate reports: the texts are in dmarc_schema.go.
	{name: "DMARC aggregate reports", sql: dmarcSQLite, pg: dmarcPostgres},
}

// pgTypes are the column types of the SQLite schema in PostgreSQL's words:
// INTEGER is 64-bit in SQLite, 32-bit in PostgreSQL.
const (
	pgID   = "BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY"
	pgInt  = "BIGINT"
	pgBlob = "BYTEA"
)

// pgSteps are the PostgreSQL texts of the steps whose SQLite text does not
// run there. Step 1 is the initial schema with PostgreSQL's types; step 2
// changes it in place (PostgreSQL alters constraints without the table
// rebuild SQLite needs), with the same result as SQLite's step 2.
var pgSteps = map[int]string{
	1: `
CREATE TABLE reports (
	id                 ` + pgID + `,
	org                TEXT NOT NULL,
	report_id          TEXT NOT NULL,
	contact            TEXT NOT NULL DEFAULT '',
	start_time         ` + pgInt + ` NOT NULL,
	end_time           ` + pgInt + ` NOT NULL,
	submitter          TEXT NOT NULL DEFAULT '',
	from_domain        TEXT NOT NULL DEFAULT '',
	message_id         TEXT NOT NULL DEFAULT '',
	transport          TEXT NOT NULL DEFAULT '',
	received           ` + pgInt + `,
	auth_authenticated ` + pgInt + ` NOT NULL DEFAULT 0,
	auth_method        TEXT NOT NULL DEFAULT '',
	auth_domain        TEXT NOT NULL DEFAULT '',
	auth_detail        TEXT NOT NULL DEFAULT '',
	stored             ` + pgInt + ` NOT NULL,
	CONSTRAINT reports_org_report_id UNIQUE (org, report_id)
);
CREATE INDEX reports_end_time ON reports (end_time);

CREATE TABLE policies (
	id          ` + pgID + `,
	report_id   ` + pgInt + ` NOT NULL REFERENCES reports (id) ON DELETE CASCADE,
	type        TEXT NOT NULL,
	domain      TEXT NOT NULL DEFAULT '',
	strings     TEXT NOT NULL DEFAULT '[]',
	mx_hosts    TEXT NOT NULL DEFAULT '[]',
	successful  ` + pgInt + ` NOT NULL DEFAULT 0,
	failed      ` + pgInt + ` NOT NULL DEFAULT 0
);
CREATE INDEX policies_report_id ON policies (report_id);

CREATE TABLE failure_details (
	id              ` + pgID + `,
	policy_id       ` + pgInt + ` NOT NULL REFERENCES policies (id) ON DELETE CASCADE,
	report_id       ` + pgInt + ` NOT NULL REFERENCES reports (id) ON DELETE CASCADE,
	result_type     TEXT NOT NULL DEFAULT '',
	sending_ip      TEXT,
	receiving_mx    TEXT NOT NULL DEFAULT '',
	receiving_helo  TEXT NOT NULL DEFAULT '',
	receiving_ip    TEXT,
	sessions        ` + pgInt + ` NOT NULL DEFAULT 0,
	reason          TEXT NOT NULL DEFAULT '',
	additional_info TEXT NOT NULL DEFAULT ''
);
CREATE INDEX failure_details_sending_ip ON failure_details (sending_ip);
CREATE INDEX failure_details_report_id ON failure_details (report_id);
CREATE INDEX failure_details_policy_id ON failure_details (policy_id);

CREATE TABLE dns_cache (
	key     TEXT PRIMARY KEY,
	value   ` + pgBlob + ` NOT NULL,
	expires ` + pgInt + ` NOT NULL
);

CREATE TABLE actions (
	id      ` + pgID + `,
	time    ` + pgInt + ` NOT NULL,
	ip      TEXT,
	backend TEXT NOT NULL DEFAULT '',
	kind    TEXT NOT NULL DEFAULT '',
	target  TEXT NOT NULL DEFAULT '',
	command TEXT NOT NULL DEFAULT '',
	applied ` + pgInt + ` NOT NULL DEFAULT 0,
	ok      ` + pgInt + ` NOT NULL DEFAULT 0,
	result  TEXT NOT NULL DEFAULT ''
);
CREATE INDEX actions_time ON actions (time);
`,
	2: `
ALTER TABLE reports ADD COLUMN reporter TEXT NOT NULL DEFAULT '';
ALTER TABLE reports ADD COLUMN digest TEXT NOT NULL DEFAULT '';
ALTER TABLE reports DROP CONSTRAINT reports_org_report_id;
ALTER TABLE reports ADD CONSTRAINT reports_reporter_org_report_id UNIQUE (reporter, org, report_id);
DROP INDEX reports_end_time;
CREATE INDEX reports_time ON reports (end_time, start_time);
CREATE INDEX reports_content ON reports (org, report_id, digest);
UPDATE failure_details SET sessions = CASE WHEN sessions < 0 THEN 0 ELSE 1000000000000 END
	WHERE sessions < 0 OR sessions > 1000000000000;
UPDATE policies SET successful = CASE WHEN successful < 0 THEN 0 ELSE 1000000000000 END
	WHERE successful < 0 OR successful > 1000000000000;
UPDATE policies SET failed = CASE WHEN failed < 0 THEN 0 ELSE 1000000000000 END
	WHERE failed < 0 OR failed > 1000000000000;

DROP INDEX failure_details_sending_ip;
CREATE INDEX failure_details_ip ON failure_details (sending_ip, report_id, result_type, sessions);

CREATE TABLE labels (
	kind TEXT NOT NULL,
	name TEXT NOT NULL,
	mask ` + pgInt + ` NOT NULL,
	PRIMARY KEY (kind, name)
);
CREATE TABLE addresses (
	ip         TEXT PRIMARY KEY,
	sessions   ` + pgInt + ` NOT NULL,
	reports    ` + pgInt + ` NOT NULL,
	first_seen ` + pgInt + ` NOT NULL,
	last_seen  ` + pgInt + ` NOT NULL,
	org_mask   ` + pgInt + ` NOT NULL,
	type_mask  ` + pgInt + ` NOT NULL
);
CREATE TABLE address_orgs (
	ip  TEXT NOT NULL,
	org TEXT NOT NULL,
	PRIMARY KEY (ip, org)
);
CREATE TABLE address_types (
	ip          TEXT NOT NULL,
	result_type TEXT NOT NULL,
	PRIMARY KEY (ip, result_type)
);
CREATE TABLE addresses_stale (ip TEXT PRIMARY KEY);
CREATE FUNCTION tlsrpt_mark_stale() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
	INSERT INTO addresses_stale (ip) VALUES (OLD.sending_ip) ON CONFLICT DO NOTHING;
	RETURN NULL;
END
$$;
CREATE TRIGGER failure_details_deleted AFTER DELETE ON failure_details
	FOR EACH ROW WHEN (OLD.sending_ip IS NOT NULL) EXECUTE FUNCTION tlsrpt_mark_stale();
`,
}

// text returns the step's SQL for the engine.
func (m migration) text(e Engine) string {
	if e == PostgreSQL && m.pg != "" {
		return m.pg
	}
	return m.sql
}

func init() {
	for v, text := range pgSteps {
		migrations[v-1].pg = text
	}
}

// SchemaVersion is the schema version this package writes.
var SchemaVersion = len(migrations)

// migrate brings the database up to len(steps), one step per write
// transaction. A database already at len(steps) is not written to (nor
// locked). The version is read again inside each step's transaction, so
// concurrent openers apply each step exactly once.
func (s *Store) migrate(ctx context.Context, steps []migration) error {
	if s.engine == PostgreSQL {
		if err := s.createVersionTable(ctx); err != nil {
			return err
		}
	}
	for {
		v, err := s.schemaVersionWait(ctx)
		if err != nil {
			return err
		}
		if v > len(steps) {
			return tooNew(v, len(steps))
		}
		if v == len(steps) {
			return nil
		}
		err = s.writeConn(ctx, steps[v].rebuild, func(tx *sql.Tx) error {
			v, err := s.schemaVersion(ctx, tx)
			if err != nil {
				return err
			}
			if v > len(steps) {
				return tooNew(v, len(steps))
			}
			if v == len(steps) {
				return nil // another process finished meanwhile
			}
			return s.applyStep(ctx, tx, v, steps[v])
		})
		if err != nil {
			return err
		}
	}
}

// tooNew is ErrSchemaTooNew for a database at version v.
func tooNew(v, known int) error {
	return &kindError{kind: ErrSchemaTooNew,
		text: fmt.Sprintf("database schema version %d is newer than this program's %d: upgrade tlsrpt", v, known)}
}

// queryRower is a *sql.DB or a *sql.Tx.
type queryRower interface {
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}

// schemaVersion reads the number of steps applied.
func (s *Store) schemaVersion(ctx context.Context, q queryRower) (int, error) {
	query := "PRAGMA user_version"
	if s.engine == PostgreSQL {
		query = "SELECT COALESCE(MAX(version), 0) FROM tlsrpt_schema"
	}
	var v int
	if err := q.QueryRowContext(ctx, query).Scan(&v); err != nil {
		return 0, fmt.Errorf("reading schema version: %w", err)
	}
	return v, nil
}

// schemaVersionWait reads the schema version, waiting up to BusyTimeout
// while another process holds the database: SQLite answers SQLITE_BUSY at
// once, without its busy handler, while a new database file is switched to
// WAL or a WAL file is recovered, which 32 filters starting together on a
// fresh file hit.
func (s *Store) schemaVersionWait(ctx context.Context) (int, error) {
	var v int
	_, err := retryBusy(ctx, time.Now().Add(BusyTimeout), 0, func(int, time.Duration) error {
		var err error
		v, err = s.schemaVersion(ctx, s.db)
		return err
	})
	return v, err
}

// createVersionTable makes PostgreSQL's schema version table, under the
// write lock, if it is not there.
func (s *Store) createVersionTable(ctx context.Context) error {
	var exists bool
	if err := s.db.QueryRowContext(ctx, "SELECT to_regclass('tlsrpt_schema') IS NOT NULL").Scan(&exists); err != nil {
		return fmt.Errorf("reading schema version: %w", s.classify(err))
	}
	if exists {
		return nil
	}
	return s.write(ctx, func(tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, "CREATE TABLE IF NOT EXISTS tlsrpt_schema (version BIGINT NOT NULL)")
		return err
	})
}

// setSchemaVersion records that v steps are applied.
func (s *Store) setSchemaVersion(ctx context.Context, tx *sql.Tx, v int) error {
	var err error
	if s.engine == PostgreSQL {
		if _, err = tx.ExecContext(ctx, "DELETE FROM tlsrpt_schema"); err == nil {
			_, err = tx.ExecContext(ctx, "INSERT INTO tlsrpt_schema (version) VALUES (?)", v)
		}
	} else {
		// PRAGMA takes no parameters; v is an int we computed.
		_, err = tx.ExecContext(ctx, fmt.Sprintf("PRAGMA user_version = %d", v))
	}
	if err != nil {
		return fmt.Errorf("setting schema version %d: %w", v, err)
	}
	return nil
}

// applyStep applies m, the step from version v to v+1, in tx.
func (s *Store) applyStep(ctx context.Context, tx *sql.Tx, v int, m migration) error {
	if _, err := tx.ExecContext(ctx, m.text(s.engine)); err != nil {
		return fmt.Errorf("migrating schema to version %d (%s): %w", v+1, m.name, err)
	}
	if m.fn != nil {
		if err := m.fn(ctx, tx); err != nil {
			return fmt.Errorf("migrating schema to version %d (%s): %w", v+1, m.name, err)
		}
	}
	if m.rebuild && s.engine == SQLite {
		rows, err := tx.QueryContext(ctx, "PRAGMA foreign_key_check")
		if err != nil {
			return fmt.Errorf("checking foreign keys after version %d (%s): %w", v+1, m.name, err)
		}
		bad := rows.Next()
		rows.Close()
		if bad {
			return fmt.Errorf("migrating schema to version %d (%s): foreign keys broken", v+1, m.name)
		}
	}
	return s.setSchemaVersion(ctx, tx, v+1)
}

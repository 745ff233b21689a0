package store

import (
	"context"
	"database/sql"
	"fmt"
)

// migration is one schema step; the database's user_version is the number
// of steps applied. Append new steps; never edit a released one.
type migration struct {
	name string
	sql  string
}

// migrations is the schema history. Times are INTEGER unix seconds; IP
// addresses are canonical text, NULL when absent.
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
}

// SchemaVersion is the schema version this package writes.
var SchemaVersion = len(migrations)

// migrate brings the database up to len(steps), one step per write
// transaction. The version is read inside the transaction, so concurrent
// openers apply each step exactly once.
func (s *Store) migrate(ctx context.Context, steps []migration) error {
	for {
		done := false
		err := s.write(ctx, func(tx *sql.Tx) error {
			var v int
			if err := tx.QueryRowContext(ctx, "PRAGMA user_version").Scan(&v); err != nil {
				return fmt.Errorf("reading schema version: %w", err)
			}
			if v > len(steps) {
				return fmt.Errorf("%w (version %d, this program knows %d): upgrade tlsrpt", ErrSchemaTooNew, v, len(steps))
			}
			if v == len(steps) {
				done = true
				return nil
			}
			m := steps[v]
			if _, err := tx.ExecContext(ctx, m.sql); err != nil {
				return fmt.Errorf("migrating schema to version %d (%s): %w", v+1, m.name, err)
			}
			// PRAGMA takes no parameters; v+1 is an int we computed.
			if _, err := tx.ExecContext(ctx, fmt.Sprintf("PRAGMA user_version = %d", v+1)); err != nil {
				return fmt.Errorf("setting schema version %d: %w", v+1, err)
			}
			return nil
		})
		if err != nil {
			return err
		}
		if done {
			return nil
		}
	}
}

// Package store keeps TLS reports, a per-address aggregate of them, DMARC
// aggregate reports (dmarc*.go), the DNS cache, settings and the redeem
// audit log in one database, on one of two engines: SQLite, a file (the
// default: a path), or PostgreSQL, a server that a fleet of MX hosts
// shares (a postgres:// URL). One schema and one set of queries serve
// both.
//
// What differs between the engines is one value, the store's dialect
// (dialect.go), chosen once when the location is parsed (EngineOf): how
// the database is opened, how a read transaction starts, how a write takes
// the lock and which errors mean busy, unavailable or refused, how the
// schema version is kept, vacuum and size. sqlite.go and postgres.go hold
// one each; nothing else in the package tests the engine. The queries
// are written once, with "?" placeholders; on PostgreSQL a driver wrapper
// (pgdriver.go) rebinds them to $1, $2, ... and converts the arguments.
//
// Writers are many short-lived processes (maildrop starts one `tlsrpt
// filter` per message), so writers run one at a time: on SQLite in a
// BEGIN IMMEDIATE transaction on a WAL database, on PostgreSQL in a
// transaction that takes the store's advisory lock. A write waits for
// another writer's lock at most WriteBudget across its attempts, then
// fails with ErrBusy.
//
// Adding a report is idempotent and no reporter can suppress or replace
// another's report: a report is keyed by who sent it (the authenticated
// domain of an authenticated copy, else the domain an unauthenticated copy
// claims, else its organization-name), its organization-name and its
// report-id; word-for-word copies are one report whoever sent them; an
// authenticated copy replaces unauthenticated copies of the same report
// whole. See AddReport. Session counts are bounded (MaxCount) and sums
// saturate (MaxSum), so no sum can overflow or turn negative.
//
// Review reads without one query per address: Failing reads a per-address
// aggregate the store keeps up to date as it adds reports (or, with a
// since, the details of recent reports through an index on their end
// time); EvidenceAll, EvidenceEach and EvidenceFor read the evidence of
// many addresses in a few statements.
//
// Storage conventions: times are stored as 64-bit integer unix seconds
// (UTC) and read back as UTC time.Time values; IP addresses are stored as
// text in canonical form (netip.Addr.String after Unmap, without zone), so
// "::ffff:192.0.2.1" and "192.0.2.1" are the same address, and
// "2001:DB8::1" is stored as "2001:db8::1". An absent address is NULL.
// Policy strings and MX host lists are stored as JSON arrays.
//
// The schema is a history of steps, each one SQL file per engine,
// embedded: schema/sqlite/NNN_name.sql and schema/postgres/NNN_name.sql,
// the same steps under the same names, where the engines' words differ
// (types, identity columns, WITHOUT ROWID, triggers, SQLite's table
// rebuild of step 2). The schema version (SQLite's PRAGMA user_version,
// PostgreSQL's tlsrpt_schema table) is the number of steps applied. Open
// applies the missing steps in order (migrate.go, one runner for both
// engines), each in its own write transaction with its Go part if it has
// one (stepCode), and takes no lock when none is missing; a store at any
// earlier version upgrades step by step. OpenReadOnly never migrates: an
// older SQLite file is ErrSchemaOld.
//
// To add a schema step: write schema/sqlite/NNN_name.sql and
// schema/postgres/NNN_name.sql, numbered one past the last, starting with
// the same "-- name: ..." line (and "-- foreign-keys: off" on SQLite if
// the step rebuilds a table others refer to); put any Go part in
// stepCode. Never edit a released step. TestSchemaFiles checks that the
// engines' steps agree, TestEnginesSameSchema (in the PostgreSQL run)
// that they build the same tables, columns, indexes and triggers, and
// TestMigrateFromStep1File that a store built from step 1 upgrades to the
// current version with its data.
//
// To add an engine: a dialect type (as postgres.go), a case in dialectOf,
// a schema/<engine>/ folder with every step, and the store's test suite
// run on it as engines_test.go runs it on PostgreSQL.
package store

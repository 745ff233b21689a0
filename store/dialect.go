package store

import (
	"context"
	"database/sql"
	"time"
)

// A dialect is what differs between the engines the store runs on, in one
// value chosen once, from the database location, when the store opens
// (dialectOf). The rest of the store asks its dialect and never tests the
// engine: the queries are shared (written with "?" placeholders, which the
// PostgreSQL driver wrapper rebinds: pgdriver.go), and so is the migration
// runner (migrate.go), which takes each engine's schema steps from its own
// folder of SQL files (schema/<engine>/NNN_name.sql).
//
// sqliteDialect (sqlite.go) and postgresDialect (postgres.go) are the two.
// A new engine is a third type, a case in dialectOf, a schema folder
// with the same steps, and the store's test suite run on it (see
// engines_test.go).
type dialect interface {
	// engine names the engine.
	engine() Engine
	// open opens the database at location as mode asks, migrating its
	// schema unless mode is openRead.
	open(ctx context.Context, location string, mode openMode) (*Store, error)
	// steps is the schema history in the engine's SQL.
	steps() []migration

	// beginRead is the statement that starts a transaction which only
	// reads and sees one snapshot, without taking the write lock.
	beginRead() string
	// tryWrite is one attempt of a write: fn in a transaction that holds
	// the store's write lock, waiting at most wait for it; with
	// foreignKeysOff, foreign keys are not enforced while it runs (for
	// schema steps that rebuild a table others refer to).
	tryWrite(ctx context.Context, db *sql.DB, wait time.Duration, foreignKeysOff bool, fn func(*sql.Tx) error) error

	// busy reports whether err is the engine saying another writer holds
	// the lock (worth another attempt).
	busy(err error) bool
	// refused reports whether err is the engine refusing a value or a
	// row for good (see Refused).
	refused(err error) bool
	// classify gives err the store's kind where the engine's error says
	// more (ErrUnavailable for a server that is away); others pass.
	classify(err error) error

	// vacuum is the statement that gives the space of removed rows back.
	vacuum() string
	// size is the bytes the database takes.
	size(ctx context.Context, db *sql.DB) (int64, error)

	// prepareVersion makes what the schema version is kept in, if it
	// is not there, before the version is first read.
	prepareVersion(ctx context.Context, s *Store) error
	// versionQuery reads the schema version: the number of steps applied.
	versionQuery() string
	// setVersion records in tx that v steps are applied.
	setVersion(ctx context.Context, tx *sql.Tx, v int) error
	// foreignKeysBroken reports, after a step that ran with foreign keys
	// off, whether any row refers to a row that is not there.
	foreignKeysBroken(ctx context.Context, tx *sql.Tx) (bool, error)
	// resetKeys, after rows were copied in with their keys, makes keys
	// generated later follow the largest copied one.
	resetKeys(ctx context.Context, tx *sql.Tx) error
}

// dialects are the engines' dialects, as their errors are told apart
// (isBusy, Refused).
var dialects = []dialect{sqliteDialect{}, postgresDialect{}}

// openMode is how a database is opened.
type openMode int

const (
	// openCreate opens for writing, creating the database if it is not
	// there, and migrates it (Open).
	openCreate openMode = iota
	// openExisting is openCreate, but never creates the database
	// (OpenExisting).
	openExisting
	// openRead opens to read only: no database is created, migrated or
	// locked (OpenReadOnly).
	openRead
)

// classify is the dialect's classify: ErrUnavailable for a server that
// is away, a refused statement told by its code; others pass unchanged.
func (s *Store) classify(err error) error { return s.dialect.classify(err) }

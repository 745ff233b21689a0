package store

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/mattn/go-sqlite3"

	"github.com/tlsrpt/tlsrpt/internal/pkgerr"
)

// sqliteDialect is the store on SQLite, embedded, the default: one
// database file in WAL mode, its schema version in PRAGMA user_version,
// writers one at a time through BEGIN IMMEDIATE with a busy timeout.
type sqliteDialect struct{}

// sqliteSteps is the schema history in SQLite's words, read when first
// needed (not at start-up: most commands open a store at the current
// schema and only count the steps).
var sqliteSteps = sync.OnceValue(func() []migration { return mustLoadSteps("sqlite") })

func (sqliteDialect) engine() Engine     { return SQLite }
func (sqliteDialect) steps() []migration { return sqliteSteps() }

// open opens the SQLite file at path: created with its folder (mode 0700)
// for openCreate; which must exist for openExisting and openRead; at the
// current schema, without a write, for openRead.
func (sqliteDialect) open(ctx context.Context, path string, mode openMode) (*Store, error) {
	switch mode {
	case openRead:
		s, err := openRO(path)
		if err != nil {
			return nil, pkgerr.Errorf("store", "opening database %q to read: %w", path, sqliteOpenError(err))
		}
		return s, nil
	case openExisting:
		if err := mustExist(path); err != nil {
			return nil, pkgerr.Errorf("store", "opening database %q: %w", path, err)
		}
	}
	s, err := open(ctx, path)
	if err != nil {
		return nil, pkgerr.Errorf("store", "opening database %q: %w", path, sqliteOpenError(err))
	}
	return s, nil
}

// beginRead starts a read transaction that takes no lock until it reads,
// then sees one WAL snapshot; BeginTx would take the write lock
// (_txlock=immediate).
func (sqliteDialect) beginRead() string { return "BEGIN DEFERRED" }

// busy reports whether err is SQLite's "database is busy/locked".
func (sqliteDialect) busy(err error) bool {
	var se sqlite3.Error
	return errors.As(err, &se) && (se.Code == sqlite3.ErrBusy || se.Code == sqlite3.ErrLocked)
}

// refused: a constraint, a value too big, a type mismatch, a number out
// of range.
func (sqliteDialect) refused(err error) bool {
	var se sqlite3.Error
	if errors.As(err, &se) {
		switch se.Code {
		case sqlite3.ErrConstraint, sqlite3.ErrTooBig, sqlite3.ErrMismatch, sqlite3.ErrRange:
			return true
		}
	}
	return false
}

// classify leaves SQLite's errors as they are: opening explains its own
// (sqliteOpenError), and a file has no server to be away.
func (sqliteDialect) classify(err error) error { return err }

// vacuum rewrites the file without the free pages.
func (sqliteDialect) vacuum() string { return "VACUUM" }

// size is the database's pages, those of its write-ahead log included.
func (sqliteDialect) size(ctx context.Context, db *sql.DB) (int64, error) {
	var pages, size int64
	err := db.QueryRowContext(ctx, `PRAGMA page_count`).Scan(&pages)
	if err == nil {
		err = db.QueryRowContext(ctx, `PRAGMA page_size`).Scan(&size)
	}
	return pages * size, err
}

// prepareVersion: PRAGMA user_version is always there.
func (sqliteDialect) prepareVersion(context.Context, *Store) error { return nil }

func (sqliteDialect) versionQuery() string { return "PRAGMA user_version" }

func (sqliteDialect) setVersion(ctx context.Context, tx *sql.Tx, v int) error {
	// PRAGMA takes no parameters; v is an int we computed.
	_, err := tx.ExecContext(ctx, fmt.Sprintf("PRAGMA user_version = %d", v))
	return err
}

func (sqliteDialect) foreignKeysBroken(ctx context.Context, tx *sql.Tx) (bool, error) {
	rows, err := tx.QueryContext(ctx, "PRAGMA foreign_key_check")
	if err != nil {
		return false, err
	}
	bad := rows.Next()
	rows.Close()
	return bad, nil
}

// resetKeys: an INTEGER PRIMARY KEY takes the largest key plus one.
func (sqliteDialect) resetKeys(context.Context, *sql.Tx) error { return nil }

// mustExist is ErrNoDatabase when path names nothing.
func mustExist(path string) error {
	if path == "" {
		return errors.New("empty path")
	}
	if _, err := os.Stat(path); errors.Is(err, fs.ErrNotExist) {
		return pkgerr.Mark("no database file", err, ErrNoDatabase)
	}
	return nil
}

func open(ctx context.Context, path string) (*Store, error) {
	if path == "" {
		return nil, errors.New("empty path")
	}
	abs, err := filepath.Abs(path)
	if err != nil {
		return nil, err
	}
	if err := os.MkdirAll(filepath.Dir(abs), 0o700); err != nil {
		return nil, err
	}
	if err := createPrivate(abs); err != nil {
		return nil, err
	}
	db, err := sql.Open("sqlite3", dsn(abs))
	if err != nil {
		return nil, err
	}
	s := &Store{db: db, path: abs, dialect: sqliteDialect{}}
	if err := s.migrateAll(ctx); err != nil {
		db.Close()
		return nil, err
	}
	return s, nil
}

func openRO(path string) (*Store, error) {
	if path == "" {
		return nil, errors.New("empty path")
	}
	abs, err := filepath.Abs(path)
	if err != nil {
		return nil, err
	}
	fi, err := os.Stat(abs)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, pkgerr.Mark("no database file", err, ErrNoDatabase)
	}
	if err != nil {
		return nil, err
	}
	if fi.IsDir() {
		return nil, errors.New("is a directory")
	}
	s, v, err := openROConn(abs, dsnReadOnly(abs))
	if isReadOnlyOpen(err) && !exists(abs+"-wal") {
		// WAL needs the -shm file, which a user who cannot write the
		// folder cannot create. With no -wal file, every page is in the
		// database file itself, and SQLite may read it as immutable
		// (no -shm, no locks): the read-only case of SQLite's wal.html.
		s, v, err = openROConn(abs, dsnReadOnly(abs)+"&immutable=1")
	}
	if err != nil {
		return nil, err
	}
	switch {
	case v < SchemaVersion:
		err = pkgerr.Mark(fmt.Sprintf(
			"database schema version %d is older than this program's %d", v, SchemaVersion), nil, ErrSchemaOld)
	case v > SchemaVersion:
		err = tooNew(v, SchemaVersion)
	}
	if err != nil {
		s.db.Close()
		return nil, err
	}
	return s, nil
}

// openROConn opens a read-only pool and reads the schema version.
func openROConn(abs, dsn string) (*Store, int, error) {
	db, err := sql.Open("sqlite3", dsn)
	if err != nil {
		return nil, 0, err
	}
	s := &Store{db: db, path: abs, dialect: sqliteDialect{}}
	v, err := s.schemaVersion(context.Background(), db)
	if err != nil {
		db.Close()
		return nil, 0, err
	}
	return s, v, nil
}

// isReadOnlyOpen reports whether err is SQLite refusing a read-only open
// of a WAL database because it cannot make its -shm file.
func isReadOnlyOpen(err error) bool {
	var se sqlite3.Error
	return errors.As(err, &se) && (se.Code == sqlite3.ErrReadonly || se.Code == sqlite3.ErrCantOpen)
}

func exists(path string) bool {
	_, err := os.Stat(path)
	return err == nil
}

// sqliteOpenError names what went wrong opening a SQLite file with the
// store's sentinels, keeping the cause.
func sqliteOpenError(err error) error {
	var se sqlite3.Error
	if errors.As(err, &se) {
		switch se.Code {
		case sqlite3.ErrNotADB:
			return pkgerr.Mark("not a SQLite database", err, ErrNotDatabase)
		case sqlite3.ErrReadonly:
			return pkgerr.Mark("the database cannot be written by this user", err, ErrReadOnly)
		case sqlite3.ErrCantOpen, sqlite3.ErrPerm:
			return pkgerr.Mark("the database file or its folder cannot be opened by this user", err, ErrReadOnly)
		case sqlite3.ErrBusy, sqlite3.ErrLocked:
			return pkgerr.Mark("the database is busy: another process held it too long", err, ErrBusy)
		}
	}
	return err
}

// createPrivate creates an empty database file readable by its owner only,
// unless something is already there. SQLite gives its -wal and -shm files
// the same mode.
func createPrivate(abs string) error {
	f, err := os.OpenFile(abs, os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o600)
	if errors.Is(err, fs.ErrExist) {
		if fi, err := os.Stat(abs); err == nil && fi.IsDir() {
			return errors.New("is a directory")
		}
		return nil
	}
	if err != nil {
		return err
	}
	return f.Close()
}

// dsnReadOnly is dsn for a connection that only reads: SQLite opens the
// file read-only and refuses every write.
func dsnReadOnly(abs string) string {
	esc := strings.NewReplacer("%", "%25", "?", "%3f", "#", "%23").Replace(filepath.ToSlash(abs))
	return fmt.Sprintf("file:%s?mode=ro&_query_only=true&_busy_timeout=%d", esc, BusyTimeout.Milliseconds())
}

// dsn builds the go-sqlite3 data source name: a file: URI (so that any
// character in the path is safe) with the connection settings every
// connection of the pool gets.
func dsn(abs string) string {
	esc := strings.NewReplacer("%", "%25", "?", "%3f", "#", "%23").Replace(filepath.ToSlash(abs))
	return fmt.Sprintf("file:%s?_busy_timeout=%d&_journal_mode=WAL&_foreign_keys=on&_txlock=immediate&_synchronous=NORMAL",
		esc, BusyTimeout.Milliseconds())
}

// tryWrite is one attempt of writeConn, in a BEGIN IMMEDIATE transaction
// (the pool's _txlock) on a connection of its own whose busy timeout is
// wait (at least a millisecond) for the attempt, and BusyTimeout again
// after it.
func (sqliteDialect) tryWrite(ctx context.Context, db *sql.DB, wait time.Duration, foreignKeysOff bool, fn func(tx *sql.Tx) error) (err error) {
	conn, err := db.Conn(ctx)
	if err != nil {
		return err
	}
	defer conn.Close()
	// PRAGMA takes no parameters; the values are numbers we computed.
	setup := []string{fmt.Sprintf("PRAGMA busy_timeout = %d", max(wait.Milliseconds(), 1))}
	reset := []string{fmt.Sprintf("PRAGMA busy_timeout = %d", BusyTimeout.Milliseconds())}
	if foreignKeysOff {
		setup = append(setup, "PRAGMA foreign_keys = OFF")
		reset = append(reset, "PRAGMA foreign_keys = ON")
	}
	defer func() {
		// Restore the pool's settings on this connection; one that cannot
		// be restored is dropped from the pool.
		for _, q := range reset {
			if _, rerr := conn.ExecContext(context.WithoutCancel(ctx), q); rerr != nil {
				conn.Raw(func(any) error { return driver.ErrBadConn })
				err = errors.Join(err, fmt.Errorf("restoring connection settings: %w", rerr))
				return
			}
		}
	}()
	for _, q := range setup {
		if _, err := conn.ExecContext(ctx, q); err != nil {
			return err
		}
	}
	tx, err := conn.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	if err := fn(tx); err != nil {
		tx.Rollback()
		return err
	}
	return tx.Commit()
}

package store

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"io/fs"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/mattn/go-sqlite3"

	"github.com/tlsrpt/tlsrpt/internal/pkgerr"
)

// ErrNotFound is returned when a looked-up row does not exist.
var ErrNotFound = pkgerr.New("store", "not found")

// ErrSchemaTooNew is returned by Open when the database was written by a
// newer tlsrpt whose schema this one does not know.
var ErrSchemaTooNew = pkgerr.New("store", "database schema is newer than this program")

// BusyTimeout is how long one SQLite call waits for a lock held by another
// process before it reports the database busy.
const BusyTimeout = 10 * time.Second

// retries is how many times a write transaction is attempted when SQLite
// reports the database busy or locked despite the busy timeout.
const retries = 8

// now is the clock; tests replace it.
var now = time.Now

// Store is an open tlsrpt database. It is safe for concurrent use.
type Store struct {
	db     *sql.DB
	path   string // the SQLite file, or the PostgreSQL URL without its password
	engine Engine
	clock  func() time.Time
}

// SetClock makes the store read the time from clock, for the times it
// records (when a report was stored, an action taken, a setting set):
// tests and replays of old mail set it; nil restores the real clock. Call
// it before the store is used concurrently.
func (s *Store) SetClock(clock func() time.Time) { s.clock = clock }

// now reads the store's clock.
func (s *Store) now() time.Time {
	if s.clock != nil {
		return s.clock()
	}
	return now()
}

// Errors of opening a database, for the command layer to explain. Opening
// also fails with ErrSchemaTooNew, ErrUnknownScheme, ErrUnavailable,
// ErrBusy, and errors matching fs.ErrPermission.
var (
	// ErrNotDatabase: the file is not a SQLite database.
	ErrNotDatabase = pkgerr.New("store", "not a database")
	// ErrNoDatabase: a read-only open found no database file.
	ErrNoDatabase = pkgerr.New("store", "no database")
	// ErrSchemaOld: a read-only open found a database that needs a schema
	// step this program would apply when writing.
	ErrSchemaOld = pkgerr.New("store", "database schema is older than this program")
	// ErrReadOnly: the database file or its folder cannot be written by
	// this user, and the use needs to write.
	ErrReadOnly = pkgerr.New("store", "database is read-only for this user")
)

// Open opens the database at location for reading and writing, and
// migrates its schema to the current version. A postgres:// or
// postgresql:// URL opens a PostgreSQL database (see OpenPostgres); a URL
// of another scheme is refused with ErrUnknownScheme; anything else is the
// path of a SQLite file, created with its folder (mode 0700) if needed.
func Open(location string) (*Store, error) {
	eng, err := EngineOf(location)
	if err != nil {
		return nil, err
	}
	if eng == PostgreSQL {
		return OpenPostgres(context.Background(), location)
	}
	s, err := open(location)
	if err != nil {
		return nil, pkgerr.Errorf("store", "opening database %q: %w", location, sqliteOpenError(err))
	}
	return s, nil
}

// OpenExisting opens the database at location for reading and writing,
// as Open does, but never creates it: a SQLite file (or its folder) that
// does not exist is ErrNoDatabase. Commands that write only beside their
// reading (digest records its time, redeem its audit log, prune removes)
// use it, so that root running them first never makes the shared store a
// file only root may open. A PostgreSQL URL opens as with Open.
func OpenExisting(location string) (*Store, error) {
	eng, err := EngineOf(location)
	if err != nil {
		return nil, err
	}
	if eng == PostgreSQL {
		return OpenPostgres(context.Background(), location)
	}
	if err := mustExist(location); err != nil {
		return nil, pkgerr.Errorf("store", "opening database %q: %w", location, err)
	}
	return Open(location)
}

// mustExist is ErrNoDatabase when path names nothing.
func mustExist(path string) error {
	if path == "" {
		return errors.New("empty path")
	}
	if _, err := os.Stat(path); errors.Is(err, fs.ErrNotExist) {
		return &kindError{kind: ErrNoDatabase, text: "no database file", err: err}
	}
	return nil
}

// OpenReadOnly opens the database at location to read it only: review,
// stats and the redeem plan work on a database the user cannot write. A
// SQLite file must exist and be at the current schema (ErrNoDatabase,
// ErrSchemaOld otherwise); nothing is created, migrated or locked for
// writing. PostgreSQL's rights decide for a URL: it is opened as Open
// does, which changes nothing when the schema is current.
func OpenReadOnly(location string) (*Store, error) {
	eng, err := EngineOf(location)
	if err != nil {
		return nil, err
	}
	if eng == PostgreSQL {
		return OpenPostgres(context.Background(), location)
	}
	s, err := openRO(location)
	if err != nil {
		return nil, pkgerr.Errorf("store", "opening database %q to read: %w", location, sqliteOpenError(err))
	}
	return s, nil
}

func open(path string) (*Store, error) {
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
	s := &Store{db: db, path: abs, engine: SQLite}
	if err := s.migrate(context.Background(), migrations); err != nil {
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
		return nil, &kindError{kind: ErrNoDatabase, text: "no database file", err: err}
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
	case v < len(migrations):
		err = &kindError{kind: ErrSchemaOld, text: fmt.Sprintf(
			"database schema version %d is older than this program's %d", v, len(migrations))}
	case v > len(migrations):
		err = tooNew(v, len(migrations))
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
	s := &Store{db: db, path: abs, engine: SQLite}
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
			return &kindError{kind: ErrNotDatabase, text: "not a SQLite database", err: err}
		case sqlite3.ErrReadonly:
			return &kindError{kind: ErrReadOnly, text: "the database cannot be written by this user", err: err}
		case sqlite3.ErrCantOpen, sqlite3.ErrPerm:
			return &kindError{kind: ErrReadOnly, text: "the database file or its folder cannot be opened by this user", err: err}
		case sqlite3.ErrBusy, sqlite3.ErrLocked:
			return &kindError{kind: ErrBusy, text: "the database is busy: another process held it too long", err: err}
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

// Close closes the database.
func (s *Store) Close() error {
	if err := s.db.Close(); err != nil {
		return pkgerr.Errorf("store", "closing database %q: %w", s.path, err)
	}
	return nil
}

// File returns the absolute path of the SQLite database file, or the URL of
// the PostgreSQL database without its password.
func (s *Store) File() string { return s.path }

// Engine tells which engine the store runs on.
func (s *Store) Engine() Engine { return s.engine }

// WriteBudget bounds how long one write waits for the database's write
// lock, across all its attempts, before it fails with ErrBusy.
const WriteBudget = 10 * time.Second

// writeBudget is WriteBudget; tests shorten it.
var writeBudget = WriteBudget

// attemptHook, when a test sets it, is called before each attempt of a
// write with the attempt's number and how long it may wait for the lock.
var attemptHook func(attempt int, wait time.Duration)

// write runs fn in a write (BEGIN IMMEDIATE) transaction and commits it.
// While SQLite reports the database busy or locked it tries again with
// backoff, at most retries times and within writeBudget (or the context's
// deadline, if sooner) all told: each attempt's busy timeout is what is
// left of the budget. Past that it returns ErrBusy.
func (s *Store) write(ctx context.Context, fn func(tx *sql.Tx) error) error {
	return s.writeConn(ctx, false, fn)
}

// writeConn is write; with foreignKeysOff the transaction runs with
// foreign key enforcement off, for migration steps that rebuild a table
// others refer to.
func (s *Store) writeConn(ctx context.Context, foreignKeysOff bool, fn func(tx *sql.Tx) error) error {
	start := time.Now()
	deadline := start.Add(writeBudget)
	if d, ok := ctx.Deadline(); ok && d.Before(deadline) {
		deadline = d
	}
	attempts, err := retryBusy(ctx, deadline, retries, func(attempt int, wait time.Duration) error {
		if attemptHook != nil {
			attemptHook(attempt, wait)
		}
		if s.engine == PostgreSQL {
			return s.tryWritePG(ctx, wait, fn)
		}
		return s.tryWrite(ctx, wait, foreignKeysOff, fn)
	})
	switch {
	case err == nil || !isBusy(err):
		return s.classify(err)
	case ctx.Err() != nil:
		return errors.Join(err, ctx.Err())
	}
	return busyError(time.Since(start), attempts, err)
}

// retryBusy calls try while it fails with the database busy or locked, at
// most maxAttempts times (no limit when 0) and until deadline, pausing
// between calls with jittered backoff from 10 ms; try gets its attempt
// number and the time left. It returns the number of calls and try's last
// error, which is still busy when ctx ended the wait.
func retryBusy(ctx context.Context, deadline time.Time, maxAttempts int, try func(attempt int, left time.Duration) error) (int, error) {
	delay := 10 * time.Millisecond
	for attempt := 1; ; attempt++ {
		err := try(attempt, time.Until(deadline))
		if err == nil || !isBusy(err) {
			return attempt, err
		}
		left := time.Until(deadline)
		if attempt == maxAttempts || left <= 0 {
			return attempt, err
		}
		select {
		case <-ctx.Done():
			return attempt, err
		case <-time.After(min(delay/2+rand.N(delay), left)):
		}
		delay *= 2
	}
}

// tryWrite is one attempt of writeConn, on a connection of its own whose
// busy timeout is wait (at least a millisecond) for the attempt, and
// BusyTimeout again after it.
func (s *Store) tryWrite(ctx context.Context, wait time.Duration, foreignKeysOff bool, fn func(tx *sql.Tx) error) (err error) {
	conn, err := s.db.Conn(ctx)
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

// isBusy reports whether err is SQLite's "database is busy/locked", or
// PostgreSQL's lock time-out, serialization failure or deadlock.
func isBusy(err error) bool {
	var se sqlite3.Error
	if errors.As(err, &se) {
		return se.Code == sqlite3.ErrBusy || se.Code == sqlite3.ErrLocked
	}
	return isBusyPG(err)
}

// unix converts t to stored unix seconds; the zero time is NULL.
func unix(t time.Time) any {
	if t.IsZero() {
		return nil
	}
	return t.Unix()
}

// fromUnix converts stored unix seconds back to a UTC time; NULL is the zero
// time.
func fromUnix(v sql.NullInt64) time.Time {
	if !v.Valid {
		return time.Time{}
	}
	return time.Unix(v.Int64, 0).UTC()
}

package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io/fs"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/mattn/go-sqlite3"
)

// ErrNotFound is returned when a looked-up row does not exist.
var ErrNotFound = errors.New("store: not found")

// ErrSchemaTooNew is returned by Open when the database was written by a
// newer tlsrpt whose schema this one does not know.
var ErrSchemaTooNew = errors.New("store: database schema is newer than this program")

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
	db   *sql.DB
	path string
}

// Path resolves the database location: flag if non-empty, else $TLSRPT_DB,
// else $XDG_STATE_HOME/tlsrpt/tlsrpt.db, else
// ~/.local/state/tlsrpt/tlsrpt.db.
func Path(flag string) (string, error) {
	if flag != "" {
		return flag, nil
	}
	if p := os.Getenv("TLSRPT_DB"); p != "" {
		return p, nil
	}
	if d := os.Getenv("XDG_STATE_HOME"); d != "" {
		return filepath.Join(d, "tlsrpt", "tlsrpt.db"), nil
	}
	home, err := os.UserHomeDir()
	if err != nil {
		return "", fmt.Errorf("store: locating the database: %w; set --db or $TLSRPT_DB", err)
	}
	return filepath.Join(home, ".local", "state", "tlsrpt", "tlsrpt.db"), nil
}

// Open opens the database at path, creating the file and its folder (mode
// 0700) if needed, and migrates its schema to the current version.
func Open(path string) (*Store, error) {
	s, err := open(path)
	if errors.Is(err, ErrSchemaTooNew) {
		return nil, fmt.Errorf("store: opening database %q: %w", path, err)
	}
	if err != nil {
		return nil, fmt.Errorf("store: opening database %q: %w (the folder must be writable; choose another file with --db or $TLSRPT_DB)", path, err)
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
	s := &Store{db: db, path: abs}
	if err := s.migrate(context.Background(), migrations); err != nil {
		db.Close()
		return nil, err
	}
	return s, nil
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
		return fmt.Errorf("store: closing database %q: %w", s.path, err)
	}
	return nil
}

// File returns the absolute path of the database file.
func (s *Store) File() string { return s.path }

// write runs fn in a write (BEGIN IMMEDIATE) transaction and commits it,
// retrying with backoff while SQLite reports the database busy or locked.
func (s *Store) write(ctx context.Context, fn func(tx *sql.Tx) error) error {
	delay := 10 * time.Millisecond
	for attempt := 1; ; attempt++ {
		err := s.tryWrite(ctx, fn)
		if err == nil || !isBusy(err) || attempt == retries {
			return err
		}
		wait := delay/2 + rand.N(delay)
		select {
		case <-ctx.Done():
			return errors.Join(err, ctx.Err())
		case <-time.After(wait):
		}
		delay *= 2
	}
}

func (s *Store) tryWrite(ctx context.Context, fn func(tx *sql.Tx) error) error {
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	if err := fn(tx); err != nil {
		tx.Rollback()
		return err
	}
	return tx.Commit()
}

// isBusy reports whether err is SQLite's "database is busy/locked".
func isBusy(err error) bool {
	var se sqlite3.Error
	if errors.As(err, &se) {
		return se.Code == sqlite3.ErrBusy || se.Code == sqlite3.ErrLocked
	}
	return false
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

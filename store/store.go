package store

import (
	"context"
	"database/sql"
	"errors"
	"math/rand/v2"
	"slices"
	"time"

	"github.com/tlsrpt/tlsrpt/internal/pkgerr"
)

// BusyTimeout is how long one SQLite call waits for a lock held by another
// process before it reports the database busy.
const BusyTimeout = 10 * time.Second

// retries is how many times a write transaction is attempted when the
// engine reports the database busy or locked despite the wait for its lock.
const retries = 8

// now is the clock; tests replace it.
var now = time.Now

// Store is an open tlsrpt database. It is safe for concurrent use.
type Store struct {
	db      *sql.DB
	path    string  // the SQLite file, or the PostgreSQL URL without its password
	dialect dialect // what differs between the engines, chosen at open
	clock   func() time.Time
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

// Open opens the database at location for reading and writing, and
// migrates its schema to the current version. A postgres:// or
// postgresql:// URL opens a PostgreSQL database (see OpenPostgres); a URL
// of another scheme is refused with ErrUnknownScheme; anything else is the
// path of a SQLite file, created with its folder (mode 0700) if needed.
func Open(location string) (*Store, error) {
	return openLocation(location, openCreate)
}

// OpenExisting opens the database at location for reading and writing,
// as Open does, but never creates it: a SQLite file (or its folder) that
// does not exist is ErrNoDatabase. Commands that write only beside their
// reading (digest records its time, redeem its audit log, prune removes)
// use it, so that root running them first never makes the shared store a
// file only root may open. A PostgreSQL URL opens as with Open.
func OpenExisting(location string) (*Store, error) {
	return openLocation(location, openExisting)
}

// OpenReadOnly opens the database at location to read it only: review,
// stats and the redeem plan work on a database the user cannot write. A
// SQLite file must exist and be at the current schema (ErrNoDatabase,
// ErrSchemaOld otherwise); nothing is created, migrated or locked for
// writing. PostgreSQL's rights decide for a URL: it is opened as Open
// does, which changes nothing when the schema is current.
func OpenReadOnly(location string) (*Store, error) {
	return openLocation(location, openRead)
}

// openLocation parses location once, which chooses the store's dialect,
// and lets the dialect open it as mode asks.
func openLocation(location string, mode openMode) (*Store, error) {
	d, err := dialectOf(location)
	if err != nil {
		return nil, err
	}
	return d.open(context.Background(), location, mode)
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
func (s *Store) Engine() Engine { return s.dialect.engine() }

// WriteBudget bounds how long one write waits for the database's write
// lock, across all its attempts, before it fails with ErrBusy.
const WriteBudget = 10 * time.Second

// writeBudget is WriteBudget; tests shorten it.
var writeBudget = WriteBudget

// attemptHook, when a test sets it, is called before each attempt of a
// write with the attempt's number and how long it may wait for the lock.
var attemptHook func(attempt int, wait time.Duration)

// write runs fn in a write transaction (SQLite's BEGIN IMMEDIATE,
// PostgreSQL's advisory lock: see the dialect's tryWrite) and commits it.
// While the database is busy or locked it tries again with
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
		return s.dialect.tryWrite(ctx, s.db, wait, foreignKeysOff, fn)
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

// isBusy reports whether err is an engine's "busy": SQLite's "database is
// busy/locked", PostgreSQL's lock time-out, serialization failure or
// deadlock. Every dialect is asked, whichever store the error came from:
// a copy reads one engine inside a write of the other.
func isBusy(err error) bool {
	return slices.ContainsFunc(dialects, func(d dialect) bool { return d.busy(err) })
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

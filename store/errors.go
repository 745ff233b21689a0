package store

import (
	"fmt"
	"time"

	"github.com/tlsrpt/tlsrpt/internal/pkgerr"
)

// ErrBusy is returned when another process held the database's write lock
// for the whole time a write may wait (WriteBudget): the command layer can
// say so and, in the filter, deliver the message without storing it.
var ErrBusy = pkgerr.New("store", "database is busy")

// ErrCount is returned by AddReport for a report with a session count
// below 0 or above MaxCount: no real report counts that many sessions, and
// stored sums must not overflow.
var ErrCount = pkgerr.New("store", "session count out of range")

// ErrAuth is returned by AddReport for a Source marked authenticated
// without the authenticated domain, which deduplication keys on.
var ErrAuth = pkgerr.New("store", "authenticated source without a domain")

// ErrNotFound is returned when a looked-up row does not exist.
var ErrNotFound = pkgerr.New("store", "not found")

// Errors of opening a database, for the command layer to explain. Opening
// also fails with ErrUnknownScheme, ErrUnavailable, ErrBusy, and errors
// matching fs.ErrPermission.
var (
	// ErrSchemaTooNew: the database was written by a newer tlsrpt whose
	// schema this one does not know.
	ErrSchemaTooNew = pkgerr.New("store", "database schema is newer than this program")
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

// busyError is the ErrBusy a write returns after waiting waited over
// attempts attempts.
func busyError(waited time.Duration, attempts int, cause error) error {
	return pkgerr.Mark(fmt.Sprintf("database is busy: another process held its write lock for %v (attempts: %d)",
		waited.Round(time.Millisecond), attempts), cause, ErrBusy)
}

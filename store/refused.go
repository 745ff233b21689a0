package store

import (
	"errors"
	"strings"

	"github.com/jackc/pgx/v5/pgconn"
	"github.com/mattn/go-sqlite3"
)

// Refused reports whether err is the store refusing what it was given
// for good: a value out of range or too long, a constraint the data
// breaks, a report the store's own checks reject (ErrCount, ErrAuth, ErrTooLong).
// Trying the same report again gives the same answer, unlike the errors
// of a store that is away, busy, read-only or full, which pass. The spool
// moves such a report aside instead of retrying it for ever.
func Refused(err error) bool {
	if err == nil {
		return false
	}
	if errors.Is(err, ErrCount) || errors.Is(err, ErrAuth) || errors.Is(err, ErrTooLong) {
		return true
	}
	var se sqlite3.Error
	if errors.As(err, &se) {
		switch se.Code {
		case sqlite3.ErrConstraint, sqlite3.ErrTooBig, sqlite3.ErrMismatch, sqlite3.ErrRange:
			return true
		}
		return false
	}
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		// 22: data exception (a value too long, bad encoding); 23:
		// integrity constraint violation; 54: program limit exceeded
		// ("index row requires 20032 bytes, maximum size is 8191").
		return strings.HasPrefix(pe.Code, "22") || strings.HasPrefix(pe.Code, "23") || strings.HasPrefix(pe.Code, "54")
	}
	return false
}

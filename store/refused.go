package store

import (
	"errors"
	"slices"
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
	return slices.ContainsFunc(dialects, func(d dialect) bool { return d.refused(err) })
}

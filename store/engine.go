package store

import (
	"errors"
	"fmt"
	"net/url"
	"regexp"
	"strings"
)

// Engine names a database engine the store runs on.
type Engine string

// The engines: SQLite, embedded, the default; PostgreSQL for a fleet of MX
// hosts sharing one store.
const (
	SQLite     Engine = "sqlite"
	PostgreSQL Engine = "postgres"
)

// ErrUnknownScheme is returned for a database location that is a URL of a
// scheme the store does not know: it is refused, never taken for a file
// name.
var ErrUnknownScheme = errors.New("store: unknown database URL scheme")

// urlScheme matches the scheme of a URL (RFC 3986 section 3.1) followed by
// "//", as in postgres://host/db.
var urlScheme = regexp.MustCompile(`^([A-Za-z][A-Za-z0-9+.-]*)://`)

// EngineOf tells which engine a database location selects: a postgres:// or
// postgresql:// URL selects PostgreSQL; any other URL is refused with
// ErrUnknownScheme; anything else is the path of a SQLite file.
func EngineOf(location string) (Engine, error) {
	m := urlScheme.FindStringSubmatch(location)
	if m == nil {
		return SQLite, nil
	}
	switch strings.ToLower(m[1]) {
	case "postgres", "postgresql":
		return PostgreSQL, nil
	}
	return "", &kindError{kind: ErrUnknownScheme,
		text: fmt.Sprintf("database URL scheme %q is not known: give a file path (SQLite) or a postgres:// URL", m[1])}
}

// Redact returns a database location fit for messages and logs: a URL's
// password, in its user information or its query, replaced by "xxxxx".
// A URL that cannot be parsed is reduced to its scheme.
func Redact(location string) string {
	m := urlScheme.FindStringSubmatch(location)
	if m == nil {
		return location
	}
	u, err := url.Parse(location)
	if err != nil {
		return m[1] + "://(unreadable URL)"
	}
	q := u.Query()
	for k := range q {
		if strings.EqualFold(k, "password") {
			q.Set(k, "xxxxx")
			u.RawQuery = q.Encode()
		}
	}
	return u.Redacted()
}

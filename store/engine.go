package store

import (
	"fmt"
	"net/url"
	"regexp"
	"strings"

	"sync"

	"github.com/tlsrpt/tlsrpt/internal/pkgerr"
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
var ErrUnknownScheme = pkgerr.New("store", "unknown database URL scheme")

// urlScheme matches the scheme of a URL (RFC 3986 section 3.1) followed by
// "//", as in postgres://host/db.
var urlScheme = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`^([A-Za-z][A-Za-z0-9+.-]*)://`) })

// EngineOf tells which engine a database location selects: a postgres:// or
// postgresql:// URL selects PostgreSQL; any other URL, and a libpq
// key=value connection string, is refused with ErrUnknownScheme (never
// taken for a file name, which would hold its password); anything else is
// the path of a SQLite file.
func EngineOf(location string) (Engine, error) {
	d, err := dialectOf(location)
	if err != nil {
		return "", err
	}
	return d.engine(), nil
}

// dialectOf parses a database location, once, as EngineOf tells, and
// returns the dialect of its engine.
func dialectOf(location string) (dialect, error) {
	m := urlScheme().FindStringSubmatch(location)
	if m == nil {
		if keywordDSN().MatchString(location) {
			return nil, pkgerr.Mark("a key=value connection string is not taken: give a postgres:// URL (keep the password in ~/.pgpass) or a file path (SQLite)", nil, ErrUnknownScheme)
		}
		return sqliteDialect{}, nil
	}
	switch strings.ToLower(m[1]) {
	case "postgres", "postgresql":
		return postgresDialect{}, nil
	}
	return nil, pkgerr.Mark(fmt.Sprintf("database URL scheme %q is not known: give a file path (SQLite) or a postgres:// URL", m[1]), nil, ErrUnknownScheme)
}

// secretKeys are the connection parameters whose values are secrets:
// libpq's password and sslpassword (the passphrase of the client key).
// passfile, sslkey, sslcert and sslrootcert name files, which are shown.
var secretKeys = map[string]bool{"password": true, "sslpassword": true}

// mask stands for a secret in what is shown.
const mask = "xxxxx"

// keywordDSN matches a libpq key=value connection string
// ("host=db user=tlsrpt password=..."), which is not a file name.
var keywordDSN = sync.OnceValue(func() *regexp.Regexp {
	return regexp.MustCompile(`^\s*(host|hostaddr|port|dbname|user|password|passfile|sslmode|sslpassword|service|connect_timeout)\s*=`)
})

// keywordSecret matches a secret in key=value form, quoted or not, as in a
// libpq connection string or a URL's query.
var keywordSecret = sync.OnceValue(func() *regexp.Regexp {
	return regexp.MustCompile(`(?i)((?:ssl)?password)(\s*=\s*)('(?:[^'\\]|\\.)*'?|[^\s&]*)`)
})

// Redact returns a database location fit for messages and logs: a URL's
// password, in its user information, and the value of every secret
// parameter of its query (password, sslpassword, in any case or
// percent-encoding), replaced by "xxxxx"; its fragment dropped. A URL that
// cannot be parsed is reduced to its scheme, a query that cannot be read
// to "(unreadable query)". Anything else has the values of password= and
// sslpassword= replaced, as in a key=value connection string.
func Redact(location string) string {
	m := urlScheme().FindStringSubmatch(location)
	if m == nil {
		return keywordSecret().ReplaceAllString(location, "${1}${2}"+mask)
	}
	u, err := url.Parse(location)
	if err != nil {
		return m[1] + "://(unreadable URL)"
	}
	if _, ok := u.User.Password(); ok {
		u.User = url.UserPassword(u.User.Username(), mask)
	}
	u.Fragment, u.RawFragment = "", ""
	if u.RawQuery != "" {
		u.RawQuery = redactQuery(u.RawQuery)
	}
	return u.String()
}

// redactQuery masks the secret parameters of a URL's raw query, keeping
// the rest as written.
func redactQuery(raw string) string {
	pairs := strings.Split(raw, "&")
	for i, p := range pairs {
		k, _, _ := strings.Cut(p, "=")
		key, err := url.QueryUnescape(k)
		if err != nil || strings.Contains(p, ";") {
			return "(unreadable query)"
		}
		if secretKeys[strings.ToLower(strings.TrimSpace(key))] {
			pairs[i] = k + "=" + mask
		}
	}
	return strings.Join(pairs, "&")
}

// textURL matches a URL in free text, up to a space or a quote.
var textURL = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile("[A-Za-z][A-Za-z0-9+.-]*://[^\\s\"'<>`]+") })

// strandedUserinfo matches what looks like a URL's user:password@ even
// where a quote or an escape cut the URL short.
var strandedUserinfo = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`([A-Za-z][A-Za-z0-9+.-]*://[^\s/@:]*:)[^\s/@]*@`) })

// RedactText returns text, an error or a command line argument, with
// every URL in it redacted as Redact does and every password= or
// sslpassword= value masked: the one pass every message, error and log
// line of the command goes through before it is shown.
func RedactText(text string) string {
	if !strings.Contains(text, "://") && !strings.Contains(strings.ToLower(text), "password") {
		return text
	}
	text = strandedUserinfo().ReplaceAllString(text, "${1}"+mask+"@")
	text = textURL().ReplaceAllStringFunc(text, Redact)
	return keywordSecret().ReplaceAllString(text, "${1}${2}"+mask)
}

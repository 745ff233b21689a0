package store

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/jackc/pgx/v5/pgconn"

	"github.com/tlsrpt/tlsrpt/internal/pkgerr"
	"github.com/tlsrpt/tlsrpt/report"
)

// Both engines take the same reports. SQLite indexes a string of any
// length; PostgreSQL's btree refuses an index row over 2,704 bytes, so a
// 20 KB report-id that SQLite stored made PostgreSQL fail ("index row
// requires 20032 bytes"): serve answered 500, import failed, and
// migrate-db of a SQLite store that once took such a report failed as a
// whole. The report package refuses such names when it decodes them
// (report.MaxName); AddReport refuses, on both engines alike and before
// any statement, every string that lands in an indexed column and is
// longer than MaxIndexed, whoever built the report; and Copy leaves such
// rows of an older store out, each with its reason.
//
// The indexed text columns are reports (reporter, org, report_id) and
// (org, report_id, digest), failure_details (sending_ip, report_id,
// result_type, sessions), labels (kind, name), address_orgs (ip, org),
// address_types (ip, result_type), addresses and addresses_stale (ip),
// dns_cache (key) and settings (name). Addresses are canonical text from
// net/netip (at most 45 bytes), the digest is hex SHA-256, settings are
// named by the program: what comes from outside is the reporter, the
// organization-name, the report-id, the result-types and DNS names.

// MaxIndexed bounds, in bytes as PostgreSQL stores it (a NUL byte or
// invalid UTF-8 becomes U+FFFD, three bytes), each string AddReport puts
// into an indexed column: three of them, the widest index, fit one
// PostgreSQL btree row of 2,704 bytes with their headers. Names the
// report package decodes (at most report.MaxName, 255 bytes) always fit.
const MaxIndexed = 800

// ErrTooLong is returned by AddReport for a report with a string longer
// than MaxIndexed that would land in an indexed column: refused on both
// engines, for good (storing it again gives the same answer).
var ErrTooLong = pkgerr.New("store", "string too long to index")

// indexedLen is the length of s as PostgreSQL stores it.
func indexedLen(s string) int {
	if utf8.ValidString(s) && !strings.ContainsRune(s, 0) {
		return len(s)
	}
	return len(pgText(s))
}

// tooLong is the ErrTooLong for a value of what of n bytes.
func tooLong(what string, n int) error {
	return pkgerr.Mark(fmt.Sprintf(
		"%s of %d bytes exceeds %d, more than the store can index on both engines", what, n, MaxIndexed), nil, ErrTooLong)
}

// checkIndexed refuses a report whose reporter, organization-name,
// report-id or a result-type is longer than MaxIndexed; the error names
// the field and its length, never its value.
func checkIndexed(r *report.Report, reporter string) error {
	for _, f := range []struct{ what, value string }{
		{"organization-name", r.OrganizationName},
		{"report-id", r.ReportID},
		{"reporter (authenticated domain, TLS-Report-Submitter or From domain)", reporter},
	} {
		if n := indexedLen(f.value); n > MaxIndexed {
			return tooLong(f.what, n)
		}
	}
	for i, p := range r.Policies {
		for j, d := range p.Details {
			if n := indexedLen(d.ResultType); n > MaxIndexed {
				return tooLong(fmt.Sprintf("policy %d, failure detail %d: result-type", i+1, j+1), n)
			}
		}
	}
	return nil
}

// maxQuoted is how many characters of a name from a report an error of
// this package quotes; the rest is cut, so that the error's kind, at its
// end, survives a log line's cap.
const maxQuoted = 64

// quoted is s quoted for an error text, cut after maxQuoted characters
// with "..." after the closing quote.
func quoted(s string) string {
	n := 0
	for i := range s {
		if n == maxQuoted {
			return strconv.Quote(s[:i]) + "..."
		}
		n++
	}
	return strconv.Quote(s)
}

// maxServerMessage caps the server's message in a statementError: some
// quote the value they refused.
const maxServerMessage = 160

// statementError is an error of PostgreSQL refusing a statement, told
// as "SQLSTATE 54000: index row requires ...": the code first, and the
// server's message, which may quote the input, cut; the context of the
// wrapping errors, cut as well, before it. It unwraps to the original
// error, so errors.As still finds the *pgconn.PgError.
type statementError struct {
	err error
	pe  *pgconn.PgError
}

func (e *statementError) Unwrap() error { return e.err }

func (e *statementError) Error() string {
	context, ok := strings.CutSuffix(e.err.Error(), e.pe.Error())
	if !ok {
		context = ""
	}
	return cut(context, maxServerMessage) + "SQLSTATE " + e.pe.Code + ": " + cut(e.pe.Message, maxServerMessage)
}

// statementText gives err, when PostgreSQL refused a statement, the text
// of a statementError; other errors pass unchanged.
func statementText(err error) error {
	var pe *pgconn.PgError
	var se *statementError
	if err == nil || !errors.As(err, &pe) || errors.As(err, &se) {
		return err
	}
	return &statementError{err: err, pe: pe}
}

// cut is s cut after max bytes, on a character boundary, with "...".
func cut(s string, max int) string {
	if len(s) <= max {
		return s
	}
	i := max
	for i > 0 && !utf8.RuneStart(s[i]) {
		i--
	}
	return s[:i] + "..."
}

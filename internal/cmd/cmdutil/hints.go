package cmdutil

import (
	"errors"
	"io/fs"
	"strings"

	"github.com/tlsrpt/tlsrpt/filter"
	"github.com/tlsrpt/tlsrpt/ingest"
	"github.com/tlsrpt/tlsrpt/probe"
	"github.com/tlsrpt/tlsrpt/redeem"
	"github.com/tlsrpt/tlsrpt/report"
	"github.com/tlsrpt/tlsrpt/spool"
	"github.com/tlsrpt/tlsrpt/store"
	"github.com/tlsrpt/tlsrpt/web"
)

// A hint is what the command layer knows of one kind of error: the fix
// (the flag to change, the variable to set, the command to run), written
// right after the text of the error it explains, and the exit code. The
// domain packages name what went wrong and know no flag; this table is
// the one place that says what to do about it.
type hint struct {
	match func(error) error          // the error in err's chain this hint explains, or nil
	fix   func(matched error) string // the text written after the matched error's
	code  int                        // the exit code; 0 leaves the error's own (1)
}

// hints are tried in order; the first that matches explains the error.
var hints = []hint{
	{is(ErrNoDefaultDB), text(" (set --db or $TLSRPT_DB)"), 0},
	{is(ErrNoStateDir), text(" (set $XDG_STATE_HOME)"), 0},
	{is(store.ErrNoDatabase), text(" (nothing is recorded yet: tlsrpt filter or tlsrpt import creates it; or choose another with --db)"), 0},
	{is(store.ErrNotDatabase), text(" (that file is not a tlsrpt database: choose another with --db or $TLSRPT_DB)"), 0},
	{is(store.ErrSchemaOld), text(" (run a writing command once as the database's owner (tlsrpt import, or tlsrpt filter))"), 0},
	{is(store.ErrSchemaTooNew), text(" (upgrade tlsrpt)"), 0},
	{is(store.ErrReadOnly), text(" (run as a user who may write it, or choose another file with --db)"), 0},
	{is(store.ErrBusy), text(" (another tlsrpt holds the database; try again)"), 0},
	{is(store.ErrUnavailable), text(" (check the server, the URL and the password (~/.pgpass))"), 0},
	{opened(is(fs.ErrPermission)), text(" (run as a user who may write it, or choose another file with --db)"), 0},
	{limit("MaxDetails"), text(" (--max-details)"), 0},
	{limit("MaxPolicies"), text(" (--max-policies)"), 0},
	{as[*ingest.FileTooLargeError](), text(" (raise the bound with --max-message)"), 0},
	{as[*filter.MessageTooLargeError](), text("; raise --max-message to check it"), 0},
	{as[*spool.FullError](), text(" (--spool-max)"), 0},
	{listen(web.ListenEveryInterface), text(": listen on 127.0.0.1, or give --auth FILE (htpasswd -B)"), ExitUsage},
	{listen(web.ListenNotIP), text(": give a loopback IP address (127.0.0.1 or ::1), or --auth FILE (htpasswd -B)"), ExitUsage},
	{listen(web.ListenNotLoopback), text(": give --auth FILE (htpasswd -B)"), ExitUsage},
	{listen(web.ListenClearAuth), text(": give --tls-cert and --tls-key, or --behind-tls-proxy when a TLS reverse proxy is in front"), ExitUsage},
	{listen(web.ListenBadAddress), text(""), ExitUsage},
	{as[*redeem.ProbeError](), probeFix, 0},
	{as[*probe.NameServerError](), text(" (give --resolver)"), 0},
	{is(filter.ErrOutput), text(""), ExitTempFail},
}

// Explain adds the fix to an error whose kind the command layer knows,
// right after the text of the error it explains (at the end, mostly), and
// gives it the table's exit code. An error explained once is returned as
// it is, so a hint is never written twice.
func Explain(err error) error {
	if err == nil {
		return nil
	}
	var done *explained
	var ee *ExitError
	if errors.As(err, &done) || errors.As(err, &ee) && ee.Silent {
		return err // explained already, or reported by the command
	}
	for _, h := range hints {
		m := h.match(err)
		if m == nil {
			continue
		}
		code := h.code
		if code == 0 {
			code = ExitCode(err)
		}
		return &ExitError{Code: code, Err: &explained{err: err, text: insertAfter(err.Error(), m.Error(), h.fix(m))}}
	}
	return err
}

// explained is an error with its hint written in.
type explained struct {
	err  error
	text string
}

func (e *explained) Error() string { return e.text }
func (e *explained) Unwrap() error { return e.err }

// insertAfter writes fix into msg right after the last occurrence of
// what, or at the end when what is not in msg.
func insertAfter(msg, what, fix string) string {
	i := strings.LastIndex(msg, what)
	if what == "" || i < 0 {
		return msg + fix
	}
	i += len(what)
	return msg[:i] + fix + msg[i:]
}

// text is a fix that does not depend on the error.
func text(s string) func(error) string { return func(error) string { return s } }

// is matches an error whose chain holds kind, as errors.Is does; its fix
// goes at the end of the message, since a sentinel often leads the text
// that details it.
func is(kind error) func(error) error {
	return func(err error) error {
		if errors.Is(err, kind) {
			return atEnd{}
		}
		return nil
	}
}

// atEnd is a match whose fix is written at the end of the message.
type atEnd struct{}

func (atEnd) Error() string { return "" }

// opened matches what m matches in an error of opening the store only.
func opened(m func(error) error) func(error) error {
	return func(err error) error {
		var o *opening
		if !errors.As(err, &o) {
			return nil
		}
		return m(err)
	}
}

// as matches the first error in the chain of type T.
func as[T error]() func(error) error {
	return func(err error) error {
		return find(err, func(e error) bool { _, ok := e.(T); return ok })
	}
}

// limit matches a report.LimitError of one of report.Limits' fields.
func limit(field string) func(error) error {
	return func(err error) error {
		return find(err, func(e error) bool {
			le, ok := e.(*report.LimitError)
			return ok && le.Limit == field
		})
	}
}

// listen matches a web.ListenError of one reason.
func listen(why web.ListenReason) func(error) error {
	return func(err error) error {
		return find(err, func(e error) bool {
			le, ok := e.(*web.ListenError)
			return ok && le.Reason == why
		})
	}
}

// probeFix says how to give other command lines and, when a tool has no
// --help, how to skip the probe.
func probeFix(matched error) string {
	fix := "; give the command lines your ipqbdb takes with --ipqbdb-commands FILE (see docs/ipqbdb.md)"
	if pe, ok := matched.(*redeem.ProbeError); ok && len(pe.NoHelp) > 0 {
		fix += ", or skip the probe with --ipqbdb-no-probe if your tools have no --help (unsafe)"
	}
	return fix
}

// find walks err's chain depth first (both Unwrap forms) and returns the
// first error ok accepts.
func find(err error, ok func(error) bool) error {
	if err == nil {
		return nil
	}
	if ok(err) {
		return err
	}
	switch u := err.(type) {
	case interface{ Unwrap() error }:
		return find(u.Unwrap(), ok)
	case interface{ Unwrap() []error }:
		for _, e := range u.Unwrap() {
			if m := find(e, ok); m != nil {
				return m
			}
		}
	}
	return nil
}

// Describe is err's text with its hint, for the lines a command writes
// itself (a log line, a per-file error) rather than returns.
func Describe(err error) string {
	if err == nil {
		return ""
	}
	return Explain(err).Error()
}

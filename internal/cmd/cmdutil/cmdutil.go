// Package cmdutil holds what the commands of tlsrpt share: the Factory that
// gives them the outside world (streams, clock, database, logger), the
// flags defined once for all (--db, the trust flags, the ban backends),
// the exit codes and the one place that turns an error into a message and
// an exit code.
package cmdutil

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"time"

	"github.com/spf13/cobra"
	"golang.org/x/term"

	"github.com/tlsrpt/tlsrpt/redeem"
	"github.com/tlsrpt/tlsrpt/store"
)

// Exit codes.
const (
	ExitOK         = 0  // done; allowlist check: trusted
	ExitFailure    = 1  // failed; allowlist check: not trusted
	ExitUsage      = 2  // bad command line
	ExitDNS        = 3  // allowlist check: DNS failed and nothing cached could decide
	ExitTempFail   = 75 // filter: the message could not be written whole (EX_TEMPFAIL)
	ExitNotTrusted = ExitFailure
)

// IOStreams are the standard streams of a command.
type IOStreams struct {
	In     io.Reader
	Out    io.Writer
	ErrOut io.Writer
}

// StdinIsTerminal reports whether In is a terminal.
func (s IOStreams) StdinIsTerminal() bool {
	f, ok := s.In.(*os.File)
	return ok && term.IsTerminal(int(f.Fd()))
}

// Factory gives commands what the outside world provides. Commands take
// it in their constructor and read it when they run, after the flags are
// parsed.
type Factory struct {
	IO  IOStreams
	Now func() time.Time

	// Global flags, filled in by the root command.
	DB       string // --db
	DBSet    bool   // --db was given (an empty value is then an error)
	Syslog   string // --syslog: "" off, "local", or unix:///path
	Trust    TrustOptions
	Backends BackendOptions

	logger *slog.Logger
}

// New returns a Factory over the given streams with the real clock.
func New(in io.Reader, out, errOut io.Writer) *Factory {
	return &Factory{IO: IOStreams{In: in, Out: out, ErrOut: errOut}, Now: time.Now}
}

// DBLocation resolves the database: --db, else $TLSRPT_DB, else
// $XDG_STATE_HOME/tlsrpt/tlsrpt.db, else ~/.local/state/tlsrpt/tlsrpt.db.
// An empty --db given on purpose is an error, not the default.
func (f *Factory) DBLocation() (string, error) {
	if f.DBSet && f.DB == "" {
		return "", UsageErrorf("--db is empty: give a file path or a postgres:// URL, or leave --db out for the default")
	}
	return ResolveDB(f.DB)
}

// ErrNoDefaultDB is returned when there is no --db, no $TLSRPT_DB and no
// home folder to put the default database in.
var ErrNoDefaultDB = errors.New("locating the database")

// ErrNoStateDir is returned when there is no $XDG_STATE_HOME and no home
// folder to keep tlsrpt's files in.
var ErrNoStateDir = errors.New("locating the state folder")

// ResolveDB is the database a --db value names: the value if non-empty,
// else $TLSRPT_DB, else tlsrpt.db in StateDir. This is the one place that
// reads the environment for it: the store takes a location.
func ResolveDB(flag string) (string, error) {
	if flag != "" {
		return flag, nil
	}
	if p := os.Getenv("TLSRPT_DB"); p != "" {
		return p, nil
	}
	state, err := stateDir()
	if err != nil {
		return "", Explain(fmt.Errorf("%w: %w", ErrNoDefaultDB, err))
	}
	return filepath.Join(state, "tlsrpt.db"), nil
}

// opening marks an error of opening the store, so that the hints for a
// file that cannot be opened (fs.ErrPermission) are given only to it.
type opening struct{ err error }

func (e *opening) Error() string { return e.err.Error() }
func (e *opening) Unwrap() error { return e.err }

// openStore opens the database at the resolved location with open.
func (f *Factory) openStore(open func(string) (*store.Store, error)) (*store.Store, error) {
	loc, err := f.DBLocation()
	if err != nil {
		return nil, err
	}
	st, err := open(loc)
	if err != nil {
		return nil, Explain(&opening{err})
	}
	return st, nil
}

// OpenStore opens the database for reading and writing.
func (f *Factory) OpenStore() (*store.Store, error) { return f.openStore(store.Open) }

// OpenStoreExisting opens the database for reading and writing, but never
// creates it: for commands that write only beside their reading (digest,
// redeem, prune), which root often runs first. A missing database is
// store.ErrNoDatabase.
func (f *Factory) OpenStoreExisting() (*store.Store, error) { return f.openStore(store.OpenExisting) }

// OpenStoreReadOnly opens the database to read it only: commands that
// only read work on a database the user cannot write.
func (f *Factory) OpenStoreReadOnly() (*store.Store, error) { return f.openStore(store.OpenReadOnly) }

// OpenStoreExistingOrRead opens the database as OpenStoreExisting does,
// to write; when this user may not write it and mayRead allows, to read
// only (readOnly says so): a plan or a digest run by a user who cannot
// write the shared store still works, writing nothing.
func (f *Factory) OpenStoreExistingOrRead(mayRead bool) (st *store.Store, readOnly bool, err error) {
	st, err = f.OpenStoreExisting()
	if err == nil || !mayRead || !(errors.Is(err, store.ErrReadOnly) || errors.Is(err, fs.ErrPermission)) {
		return st, false, err
	}
	st, err = f.OpenStoreReadOnly()
	return st, true, err
}

// ReadWithBans hands read what review and the dashboard read: this
// host's ban backends (none with noBans) and the store, opened read-only
// and closed when read returns. The backends are opened first, so that a
// wrong backend flag is named before the store is looked for.
func (f *Factory) ReadWithBans(ctx context.Context, noBans bool, read func([]redeem.Backend, *store.Store) error) error {
	var backends []redeem.Backend
	if !noBans {
		var err error
		if backends, err = f.Backends.Open(ctx); err != nil {
			return err
		}
	}
	st, err := f.OpenStoreReadOnly()
	if err != nil {
		return err
	}
	defer st.Close()
	return read(backends, st)
}

// ExitError carries an exit code. A Silent one has been reported already
// (the command printed its verdict); otherwise its error is printed.
type ExitError struct {
	Code   int
	Err    error
	Silent bool
}

func (e *ExitError) Error() string {
	if e.Err == nil {
		return fmt.Sprintf("exit status %d", e.Code)
	}
	return e.Err.Error()
}

func (e *ExitError) Unwrap() error { return e.Err }

// UsageErrorf is a bad command line: exit 2 with the message.
func UsageErrorf(format string, args ...any) error {
	return &ExitError{Code: ExitUsage, Err: fmt.Errorf(format, args...)}
}

// Silent exits with code without printing anything more.
func Silent(code int) error {
	return &ExitError{Code: code, Silent: true}
}

// ExitCode decides the exit code of a command's error: nil is 0; an
// ExitError its code; an error the hint table knows the table's code (a
// filter output error 75: maildrop defers the message); anything else 1.
func ExitCode(err error) int {
	var ee *ExitError
	switch {
	case err == nil:
		return ExitOK
	case errors.As(err, &ee):
		return ee.Code
	}
	for _, h := range hints {
		if h.code != 0 && h.match(err) != nil {
			return h.code
		}
	}
	return ExitFailure
}

// Logger returns the logger of log lines: syslog (facility mail) with
// --syslog or $TLSRPT_SYSLOG, else standard error.
func (f *Factory) Logger() *slog.Logger {
	if f.logger == nil {
		f.logger = newLogger(f.Syslog, f.IO.ErrOut)
	}
	return f.logger
}

// StateDir is where tlsrpt keeps its files by default:
// $XDG_STATE_HOME/tlsrpt, else ~/.local/state/tlsrpt.
func StateDir() (string, error) {
	d, err := stateDir()
	if err != nil {
		return "", Explain(fmt.Errorf("%w: %w", ErrNoStateDir, err))
	}
	return d, nil
}

// stateDir is StateDir, failing with the home folder's error.
func stateDir() (string, error) {
	if d := os.Getenv("XDG_STATE_HOME"); d != "" {
		return filepath.Join(d, "tlsrpt"), nil
	}
	home, err := os.UserHomeDir()
	if err != nil {
		return "", err
	}
	return filepath.Join(home, ".local", "state", "tlsrpt"), nil
}

// NoArgs refuses any argument, with the fix.
func NoArgs(cmd *cobra.Command, args []string) error {
	if len(args) > 0 {
		return UsageErrorf("unexpected argument %q (see %s --help)", store.Redact(args[0]), cmd.CommandPath())
	}
	return nil
}

// ExactArgs wants n arguments, named by what, as in example.
func ExactArgs(n int, what, example string) cobra.PositionalArgs {
	return func(cmd *cobra.Command, args []string) error {
		if len(args) != n {
			return UsageErrorf("want %s, as in: %s", what, example)
		}
		return nil
	}
}

// Package cmdtest runs one command of tlsrpt in-process for its tests, the
// cli/cli way: the command's constructor takes a run function, which a
// test swaps for one that captures the options the arguments were parsed
// into (arguments to options); the test then calls the real run function
// with options of its own (options to output).
package cmdtest

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net/netip"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/spf13/cobra"

	"github.com/tlsrpt/tlsrpt/arrival"
	"github.com/tlsrpt/tlsrpt/internal/cmd/cmdutil"
	"github.com/tlsrpt/tlsrpt/report"
	"github.com/tlsrpt/tlsrpt/store"
)

// Now is the clock of Env's factory: commands that read the time see it.
var Now = time.Date(2024, 2, 10, 12, 0, 0, 0, time.UTC)

// Env is a factory over buffers for one test, with the fixed clock Now,
// a database in a fresh folder (DB, not created), $XDG_STATE_HOME in that
// folder too and DNS sent to a port that refuses at once, so that nothing
// outside the test is read, written or asked.
type Env struct {
	F        *cmdutil.Factory
	Out, Err *bytes.Buffer
	DB       string
}

// New returns an Env whose files live in t's temporary folder.
func New(t testing.TB) *Env {
	t.Helper()
	dir := t.TempDir()
	// The state folder (allowlist check's cache, the spool) is the test's.
	t.Setenv("XDG_STATE_HOME", filepath.Join(dir, "state"))
	e := &Env{Out: &bytes.Buffer{}, Err: &bytes.Buffer{}, DB: filepath.Join(dir, "tlsrpt.db")}
	e.F = cmdutil.New(strings.NewReader(""), e.Out, e.Err)
	e.F.Now = func() time.Time { return Now }
	e.F.DB, e.F.DBSet = e.DB, true
	e.F.Trust.Resolver = "127.0.0.1:9"
	return e
}

// Execute runs cmd with args as tlsrpt runs it: under a root named
// tlsrpt whose flag errors are usage errors naming --help, as the real
// root's (internal/cmd/root) are. Output goes to the streams of the
// command's factory, cobra's own (help) nowhere.
func Execute(cmd *cobra.Command, args ...string) error {
	root := &cobra.Command{Use: "tlsrpt", SilenceErrors: true, SilenceUsage: true}
	root.SetFlagErrorFunc(func(c *cobra.Command, err error) error {
		return cmdutil.UsageErrorf("%v (see %s --help)", err, c.CommandPath())
	})
	root.AddCommand(cmd)
	root.SetArgs(append([]string{cmd.Name()}, args...))
	root.SetOut(io.Discard)
	root.SetErr(io.Discard)
	root.SetIn(strings.NewReader(""))
	_, err := root.ExecuteContextC(context.Background())
	return err
}

// Parse parses args with the command newCmd makes over f, its run
// function swapped for one that captures the options; it returns them,
// or the error that stopped the command before its run function.
func Parse[O any](f *cmdutil.Factory, newCmd func(*cmdutil.Factory, func(*O) error) *cobra.Command, args ...string) (*O, error) {
	var got *O
	err := Execute(newCmd(f, func(o *O) error { got = o; return nil }), args...)
	if err == nil && got == nil {
		return nil, errors.New("the run function was not called")
	}
	return got, err
}

// Case is one command line of a flags-to-options table: Args, then either
// Want, the change they make to the options of the table's base
// arguments (nil: none), or Refused, the words of the one-line usage
// error that must refuse them.
type Case[O any] struct {
	Args    []string
	Want    func(*O)
	Refused []string
}

// Table checks each case with Parse, its Args after base (what the
// command needs to run at all, often nothing). Options are compared whole
// with reflect.DeepEqual, the factory and the function fields (hooks for
// tests, which cannot be compared) left out. So a flag that sets another
// field than its own fails too.
func Table[O any](t *testing.T, newCmd func(*cmdutil.Factory, func(*O) error) *cobra.Command, base []string, cases []Case[O]) {
	t.Helper()
	for _, c := range cases {
		t.Run(strings.Join(c.Args, " "), func(t *testing.T) {
			t.Helper()
			got, err := Parse(New(t).F, newCmd, append(slices.Clip(base), c.Args...)...)
			if c.Refused != nil {
				Refused(t, err, c.Refused...)
				return
			}
			if err != nil {
				t.Fatalf("refused: %v", err)
			}
			want, err := Parse(New(t).F, newCmd, base...)
			if err != nil {
				t.Fatalf("the defaults: %v", err)
			}
			if c.Want != nil {
				c.Want(want)
			}
			for _, o := range []*O{got, want} {
				forComparing(reflect.ValueOf(o).Elem())
			}
			if !reflect.DeepEqual(got, want) {
				t.Errorf("options\n%+v\nwant\n%+v", *got, *want)
			}
		})
	}
}

// forComparing clears the factory F and the function fields of the options
// struct v, which reflect.DeepEqual cannot compare.
func forComparing(v reflect.Value) {
	v.FieldByName("F").SetZero()
	for i := range v.NumField() {
		if f := v.Field(i); f.Kind() == reflect.Func {
			reflect.NewAt(f.Type(), f.Addr().UnsafePointer()).Elem().SetZero()
		}
	}
}

// Refused fails t unless err is a usage error (exit 2) of one line that
// says each of want.
func Refused(t testing.TB, err error, want ...string) {
	t.Helper()
	var ee *cmdutil.ExitError
	if err == nil || !errors.As(err, &ee) || ee.Code != cmdutil.ExitUsage {
		t.Fatalf("not refused as a usage error (exit 2): %v", err)
	}
	msg := err.Error()
	if strings.Contains(msg, "\n") {
		t.Errorf("more than one line: %q", msg)
	}
	for _, w := range want {
		if !strings.Contains(msg, w) {
			t.Errorf("%q does not say %q", msg, w)
		}
	}
}

// FailingIP is the address the report of Seed names as failing.
var FailingIP = netip.MustParseAddr("198.51.100.7")

// Seed creates the database DB holding one unauthenticated report of the
// day before Now, received an hour before Now: 90 sessions to example.net
// succeeded, 3 from FailingIP failed with certificate-expired.
func (e *Env) Seed(t testing.TB) { SeedAt(t, e.DB, Now) }

// SeedAt creates the database db holding the report of Seed as of now.
func SeedAt(t testing.TB, db string, now time.Time) {
	t.Helper()
	FillDB(t, db, func(st *store.Store) {
		st.SetClock(func() time.Time { return now.Add(-time.Hour) })
		start := now.Truncate(24*time.Hour).AddDate(0, 0, -1)
		r := &report.Report{OrganizationName: "Example Mail", ReportID: "r1", Start: start, End: start.Add(24*time.Hour - time.Second),
			Policies: []report.Policy{{Type: "sts", Domain: "example.net", Successful: 90, Failed: 3,
				Details: []report.FailureDetail{{ResultType: "certificate-expired", SendingMTAIP: FailingIP, FailedSessions: 3}}}}}
		if _, _, err := st.AddReport(context.Background(), r, arrival.Source{Transport: "mail"}); err != nil {
			t.Fatal(err)
		}
	})
}

// Fill opens the database DB, creating it, hands it to fill and closes it
// again, so that the command under test finds what fill stored and holds
// the only connection.
func (e *Env) Fill(t testing.TB, fill func(*store.Store)) { FillDB(t, e.DB, fill) }

// FillDB is Fill for the database db.
func FillDB(t testing.TB, db string, fill func(*store.Store)) {
	t.Helper()
	st, err := store.Open(db)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	fill(st)
}

// Run is arguments to output: it parses args with the command newCmd
// makes over e's factory, failing t when they are refused, and runs run
// with the options they give and a background context. It returns run's
// error; what the command wrote is in e.Out and e.Err.
func Run[O any](t testing.TB, e *Env, newCmd func(*cmdutil.Factory, func(*O) error) *cobra.Command, run func(context.Context, *O) error, args ...string) error {
	t.Helper()
	o, err := Parse(e.F, newCmd, args...)
	if err != nil {
		t.Fatalf("%v: refused: %v", args, err)
	}
	return run(context.Background(), o)
}

// Package filter is the tlsrpt filter command: a maildrop xfilter that
// annotates one report message and records its reports.
package filter

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"os"
	"os/signal"
	"syscall"

	"github.com/spf13/cobra"

	"github.com/tlsrpt/tlsrpt/allowlist"
	"github.com/tlsrpt/tlsrpt/arrival"
	"github.com/tlsrpt/tlsrpt/assess"
	"github.com/tlsrpt/tlsrpt/dmarc"
	"github.com/tlsrpt/tlsrpt/filter"
	"github.com/tlsrpt/tlsrpt/internal/cmd/cmdutil"
	"github.com/tlsrpt/tlsrpt/internal/pkgerr"
	"github.com/tlsrpt/tlsrpt/neutral"
	"github.com/tlsrpt/tlsrpt/report"
	"github.com/tlsrpt/tlsrpt/spool"
	"github.com/tlsrpt/tlsrpt/store"
)

// Options are the filter's options.
type Options struct {
	F    *cmdutil.Factory
	File string // read the message from FILE instead of stdin
	// DecodeLimits are --max-message and DecodeLimits.AddFlags'.
	cmdutil.DecodeLimits
	Spool      string // folder of reports kept while the database is away
	SpoolDrain int    // spooled reports stored per run once the database is back
	SpoolMax   int64  // bound of the spool's files, all told
}

// NewCmdFilter returns the filter command; runF, when not nil, replaces
// the work (tests of the command line).
func NewCmdFilter(f *cmdutil.Factory, runF func(*Options) error) *cobra.Command {
	opts := &Options{F: f}
	cmd := &cobra.Command{
		Use:   "filter [FILE]",
		Short: "Annotate one report message from stdin (a maildrop xfilter) and record its reports",
		Long: `Reads one mail message on standard input (or from FILE, to try it out), writes it to
standard output with a TLS-Report-Has-Failures header when sessions failed and a
readable summary, and records its reports in the database. A DMARC aggregate
report (told by its content) gets DMARC-Report-Has-Failures instead, when messages
failed DMARC, and a summary of its own.

Whatever happens (a bad message, a bad flag, the database away) the message goes
through unchanged but for the annotation, and the exit status is 0; only when the
message cannot be read or written whole is it 75 (EX_TEMPFAIL), so that maildrop
keeps it for a later try. When the database cannot take a report (a PostgreSQL
server away, a SQLite file busy, read-only or not this user's, a full disk), the
report waits in the spool folder until a later run, or tlsrpt import --spool.`,
		Example: `  tlsrpt filter < report.eml
  tlsrpt filter testdata/corpus/14-tlsrptdigest-google-failure.eml
  xfilter "/usr/local/bin/tlsrpt filter --syslog"     # in ~/.mailfilter`,
		Args: func(cmd *cobra.Command, args []string) error {
			if len(args) > 1 {
				if err := passThrough(opts, fmt.Sprintf("tlsrpt filter misconfigured: %d arguments, want at most one FILE", len(args))); err != nil {
					return err
				}
				return cmdutil.Silent(cmdutil.ExitOK) // delivered: nothing more to run
			}
			return nil
		},
		RunE: cmdutil.RunE(opts, func(cmd *cobra.Command, args []string) error {
			if len(args) == 1 {
				opts.File = args[0]
			}
			return nil
		}, runF, Run),
	}
	fl := cmd.Flags()
	fl.Int64Var(&opts.MaxMessage, "max-message", report.DefaultLimits.MaxMessage, "largest message in `bytes` to check; larger ones pass unchecked")
	opts.DecodeLimits.AddFlags(fl, "most records in the DMARC reports of one message; a report past it is refused")
	fl.StringVar(&opts.Spool, "spool", "", "keep reports here while the database is away (default $XDG_STATE_HOME/tlsrpt/spool)")
	fl.Int64Var(&opts.SpoolMax, "spool-max", spool.DefaultMax, "keep at most this many `bytes` of reports in the spool (-1: no bound); past it a report is only in the delivered message (tlsrpt import recovers it)")
	fl.IntVar(&opts.SpoolDrain, "spool-drain", 100, "store at most this many spooled reports per run once the database is back")
	cmd.SetFlagErrorFunc(func(c *cobra.Command, err error) error {
		return passThrough(opts, "tlsrpt filter misconfigured: "+err.Error())
	})
	return cmd
}

// Run filters one message.
func Run(ctx context.Context, o *Options) error {
	// A closed stdout must give EPIPE, and exit 75, not death by SIGPIPE.
	signal.Ignore(syscall.SIGPIPE)
	in := o.F.IO.In
	if o.File != "" {
		fh, err := openFile(o.File)
		if err != nil {
			return err // exit 1: a file that cannot be read is no usage error
		}
		defer fh.Close()
		in = fh
	} else if o.F.IO.StdinIsTerminal() {
		return cmdutil.UsageErrorf("reads one message on standard input, as maildrop's xfilter gives it; to try it: tlsrpt filter FILE, or tlsrpt filter < FILE")
	}
	br := bufio.NewReader(in)
	in = br
	isReport := false
	if head, _ := br.Peek(64); report.IsReportFile(head) {
		if o.File != "" {
			return cmdutil.UsageErrorf("%s is a report file, not a mail message: tlsrpt import %s stores it", neutral.TerminalCell(o.File), neutral.TerminalCell(o.File))
		}
		isReport = true
	}
	log := o.F.Logger()
	if isReport {
		defer log.Warn("filter: the input is a report file, not a mail message: tlsrpt import takes report files")
	}
	if err := o.DecodeLimits.Check(); err != nil {
		return passThroughFrom(o, in, "tlsrpt filter misconfigured: "+err.Error())
	}
	rec, err := newRecorder(o)
	if err != nil {
		return passThroughFrom(o, in, "tlsrpt filter misconfigured: "+err.Error())
	}
	defer rec.Close()
	budget, cancel := context.WithTimeout(ctx, allowlist.DefaultBudget)
	defer cancel()
	opt := filter.Options{
		Limits:      o.Limits,
		Record:      func() (arrival.Recorder, error) { return rec, nil },
		Explain:     cmdutil.Explain,
		DMARCLimits: dmarc.Limits{MaxRecords: o.DMARCRecords},
	}
	if err := configureTrust(o.F, &opt, budget, rec); err != nil {
		return passThroughFrom(o, in, "tlsrpt filter misconfigured: "+err.Error())
	}
	res, err := filter.Run(ctx, in, o.F.IO.Out, opt)
	for _, p := range res.Problems {
		log.Warn("filter: " + p)
	}
	for _, n := range rec.Notes() {
		log.Warn("filter: " + n)
	}
	if err != nil {
		log.Error("filter: " + pkgerr.TrimPackage(err, err.Error()))
		if errors.Is(err, filter.ErrOutput) {
			return &cmdutil.ExitError{Code: cmdutil.ExitTempFail, Err: err, Silent: true}
		}
	}
	return nil
}

// openFile opens FILE, the message to try out; a folder is refused (read,
// it would fail half-way, as a message not read whole: exit 75).
func openFile(name string) (*os.File, error) {
	fh, err := os.Open(name)
	if err != nil {
		return nil, err
	}
	if fi, err := fh.Stat(); err == nil && fi.IsDir() {
		fh.Close()
		return nil, fmt.Errorf("%s is a folder: name one message file", neutral.TerminalCell(name))
	}
	return fh, nil
}

// configureTrust sets the filter's authentication and advice. All DNS
// lookups for the message share the budget (allowlist.DefaultBudget): a
// dead resolver delays a message by about 2 s at most.
func configureTrust(f *cmdutil.Factory, opt *filter.Options, budget context.Context, rec *spool.Recorder) error {
	checker, err := f.Trust.Checker(nil)
	if err != nil {
		return err
	}
	opt.Authenticate = func(_ context.Context, raw []byte, msg *report.Message) arrival.Auth {
		return f.Trust.Authenticate(budget, cmdutil.CacheOf(storeOf(rec)), raw, msg)
	}
	opt.AuthenticateDMARC = func(_ context.Context, raw []byte, msg *dmarc.Message) arrival.Auth {
		return f.Trust.AuthenticateDMARC(budget, cmdutil.CacheOf(storeOf(rec)), raw, msg)
	}
	opt.Advise = func(ctx context.Context, ips []netip.Addr) []string {
		st := storeOf(rec)
		if st == nil {
			return nil
		}
		checker.Resolver = f.Trust.DNS(st)
		vs, err := assess.Verdicts(ctx, budget, st, checker, ips)
		if err != nil {
			return []string{"no advice: " + neutral.Error(err)}
		}
		lines := make([]string, len(ips))
		for i, ip := range ips {
			lines[i] = assess.Advice(ip, vs[ip])
		}
		return lines
	}
	return nil
}

// passThrough copies stdin to stdout with a problem header: a filter that
// cannot do its job still delivers the message, marked.
func passThrough(o *Options, problem string) error {
	return passThroughFrom(o, o.F.IO.In, problem)
}

func passThroughFrom(o *Options, in io.Reader, problem string) error {
	log := o.F.Logger()
	log.Warn("filter: " + problem + "; the message is passed through unchecked")
	if err := filter.Pass(in, o.F.IO.Out, neutral.HeaderValue(problem)); err != nil {
		log.Error("filter: " + err.Error())
		return &cmdutil.ExitError{Code: cmdutil.ExitTempFail, Err: err, Silent: true}
	}
	return nil
}

// newRecorder returns the store-or-spool recorder of one run: the
// database opened on first use, the spool (--spool, else the state
// folder's) when the database cannot take a report.
func newRecorder(o *Options) (*spool.Recorder, error) {
	dir := o.Spool
	if dir == "" {
		state, err := cmdutil.StateDir()
		if err != nil {
			return nil, err
		}
		dir = state + "/spool"
	}
	return &spool.Recorder{
		Spool:   spool.Spool{Dir: dir, Max: o.SpoolMax, Refused: store.Refused},
		Open:    func() (arrival.Recorder, error) { return openStore(o.F) },
		Drain:   o.SpoolDrain,
		Explain: cmdutil.Explain,
		Later:   later(o.Spool),
		Recover: "the delivered message still carries the report: tlsrpt import recovers it",
	}, nil
}

// later says how a spooled report gets stored: the next filter, or
// import, told the spool folder when it is not the default one.
func later(dir string) string {
	if dir == "" {
		return "tlsrpt import --spool, or the next filter"
	}
	return "tlsrpt import --spool --spool-dir " + neutral.ShellWord(dir) + ", or the next filter"
}

// openStore opens the database; no store at all (not a nil *store.Store)
// when it cannot be opened.
func openStore(f *cmdutil.Factory) (arrival.Recorder, error) {
	st, err := f.OpenStore()
	if err != nil {
		return nil, err
	}
	return st, nil
}

// storeOf is the recorder's database, opened on first use; nil when it
// cannot be opened.
func storeOf(rec *spool.Recorder) *store.Store {
	st, _ := rec.Store().(*store.Store)
	return st
}

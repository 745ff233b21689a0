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
	"strings"
	"syscall"

	"github.com/spf13/cobra"

	"github.com/tlsrpt/tlsrpt/allowlist"
	"github.com/tlsrpt/tlsrpt/assess"
	"github.com/tlsrpt/tlsrpt/filter"
	"github.com/tlsrpt/tlsrpt/internal/cmd/cmdutil"
	"github.com/tlsrpt/tlsrpt/neutral"
	"github.com/tlsrpt/tlsrpt/report"
	"github.com/tlsrpt/tlsrpt/spool"
	"github.com/tlsrpt/tlsrpt/store"
)

// Options are the filter's options.
type Options struct {
	F               *cmdutil.Factory
	File            string // read the message from FILE instead of stdin
	MaxMessage      int64
	MaxDecompressed int64
	MaxDetails      int
	MaxPolicies     int
	Spool           string // folder of reports kept while the database is away
	SpoolDrain      int    // spooled reports stored per run once the database is back
	SpoolMax        int64  // bound of the spool's files, all told
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
readable summary, and records its reports in the database.

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
				return passThrough(opts, fmt.Sprintf("tlsrpt filter misconfigured: %d arguments, want at most one FILE", len(args)))
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			if len(args) == 1 {
				opts.File = args[0]
			}
			if runF != nil {
				return runF(opts)
			}
			return Run(cmd.Context(), opts)
		},
	}
	fl := cmd.Flags()
	fl.Int64Var(&opts.MaxMessage, "max-message", report.DefaultLimits.MaxMessage, "largest message in `bytes` to check; larger ones pass unchecked")
	fl.Int64Var(&opts.MaxDecompressed, "max-decompressed", report.DefaultLimits.MaxDecompressed, "largest decompressed report in `bytes`")
	fl.IntVar(&opts.MaxDetails, "max-details", report.DefaultLimits.MaxDetails, "most failure details in one message; a report past it is refused")
	fl.IntVar(&opts.MaxPolicies, "max-policies", report.DefaultLimits.MaxPolicies, "most policies in one message; a report past it is refused")
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
	if ctx == nil {
		ctx = context.Background()
	}
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
	if err := checkLimits(o); err != nil {
		return passThroughFrom(o, in, "tlsrpt filter misconfigured: "+err.Error())
	}
	rec, err := newRecorder(o)
	if err != nil {
		return passThroughFrom(o, in, "tlsrpt filter misconfigured: "+err.Error())
	}
	defer rec.close()
	budget, cancel := context.WithTimeout(ctx, allowlist.DefaultBudget)
	defer cancel()
	opt := filter.Options{
		Limits:  report.Limits{MaxMessage: o.MaxMessage, MaxDecompressed: o.MaxDecompressed, MaxDetails: o.MaxDetails, MaxPolicies: o.MaxPolicies},
		Record:  func() (filter.Recorder, error) { return rec, nil },
		Explain: cmdutil.Explain,
	}
	if err := configureTrust(o.F, &opt, budget, rec); err != nil {
		return passThroughFrom(o, in, "tlsrpt filter misconfigured: "+err.Error())
	}
	res, err := filter.Run(ctx, in, o.F.IO.Out, opt)
	for _, p := range res.Problems {
		log.Warn("filter: " + p)
	}
	for _, n := range rec.notes {
		log.Warn("filter: " + n)
	}
	if err != nil {
		log.Error("filter: " + strings.TrimPrefix(err.Error(), "filter: "))
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

// checkLimits refuses zero and negative counts, which the decoder would
// silently take for its defaults.
func checkLimits(o *Options) error {
	if o.MaxDetails <= 0 {
		return fmt.Errorf("--max-details %d must be above 0; leave it out for the default", o.MaxDetails)
	}
	if o.MaxPolicies <= 0 {
		return fmt.Errorf("--max-policies %d must be above 0; leave it out for the default", o.MaxPolicies)
	}
	return nil
}

// configureTrust sets the filter's authentication and advice. All DNS
// lookups for the message share the budget (allowlist.DefaultBudget): a
// dead resolver delays a message by about 2 s at most.
func configureTrust(f *cmdutil.Factory, opt *filter.Options, budget context.Context, rec *recorder) error {
	checker, err := f.Trust.Checker(nil)
	if err != nil {
		return err
	}
	opt.Authenticate = func(_ context.Context, raw []byte, msg *report.Message) store.Auth {
		return f.Trust.Authenticate(budget, cmdutil.CacheOf(rec.store()), raw, msg)
	}
	opt.Advise = func(ctx context.Context, ips []netip.Addr) []string {
		st := rec.store()
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

// recorder stores reports, opening the database on first use, and keeps
// them in the spool whenever the database cannot take them: away, busy,
// not this user's to write, read-only, full, or not there at all. Only a
// report the store refuses for good (store.Refused) is not spooled: it
// would be refused again. After the first failure that may go away (the
// database busy past its wait, say), whether in the drain or for a
// report, the run tries the store no more: the rest of the message goes
// to the spool at once, so that one message waits for a busy database
// once (store.BusyTimeout), however many reports it carries.
type recorder struct {
	o      *Options
	sp     spool.Spool
	st     *store.Store
	err    error
	down   error // the store's first failure that may go away, this run
	opened bool
	notes  []string
}

func newRecorder(o *Options) (*recorder, error) {
	dir := o.Spool
	if dir == "" {
		state, err := cmdutil.StateDir()
		if err != nil {
			return nil, err
		}
		dir = state + "/spool"
	}
	return &recorder{o: o, sp: spool.Spool{Dir: dir, Max: o.SpoolMax}}, nil
}

// store opens the database once; nil when it cannot be opened.
func (r *recorder) store() *store.Store {
	if !r.opened {
		r.opened = true
		r.st, r.err = r.o.F.OpenStore()
		if r.err == nil {
			r.drain()
		}
	}
	return r.st
}

// tryStore stores rep, and remembers a failure that may go away: the
// store is not tried again this run.
func (r *recorder) tryStore(ctx context.Context, rep *report.Report, src store.Source) (int64, bool, error) {
	id, dup, err := r.st.AddReport(ctx, rep, src)
	if err != nil && !store.Refused(err) {
		r.down = err
	}
	return id, dup, err
}

// drainer is the recorder as the spool's drain sees it.
type drainer struct{ r *recorder }

func (d drainer) AddReport(ctx context.Context, rep *report.Report, src store.Source) (int64, bool, error) {
	return d.r.tryStore(ctx, rep, src)
}

// drain stores reports spooled by earlier runs, a bounded number per run.
func (r *recorder) drain() {
	d, err := r.sp.Drain(context.Background(), drainer{r}, r.o.SpoolDrain)
	if d.Stored+d.Dups > 0 {
		r.notes = append(r.notes, fmt.Sprintf("stored %s from the spool %s", cmdutil.Plural(int64(d.Stored+d.Dups), "report", "reports"), r.sp.Dir))
	}
	if d.Bad > 0 {
		r.notes = append(r.notes, fmt.Sprintf("%d unreadable spool files renamed *.bad in %s", d.Bad, r.sp.Dir))
	}
	if d.Refused > 0 {
		r.notes = append(r.notes, fmt.Sprintf("%s the database refuses for good renamed *.refused in %s, the reason beside each in *.refused.why",
			cmdutil.Plural(int64(d.Refused), "spooled report", "spooled reports"), r.sp.Dir))
	}
	if err != nil {
		r.notes = append(r.notes, err.Error()) // "spool: ..." already
	}
}

// AddReport stores r, or spools it when the database cannot take it.
func (r *recorder) AddReport(ctx context.Context, rep *report.Report, src store.Source) (int64, bool, error) {
	st := r.store()
	var why string
	switch {
	case st == nil:
		why = strings.TrimPrefix(r.err.Error(), "store: ")
	case r.down != nil:
		why = "the database failed earlier in this run, not tried again"
	default:
		id, dup, err := r.tryStore(ctx, rep, src)
		if err == nil || store.Refused(err) {
			return id, dup, err
		}
		why = strings.TrimPrefix(err.Error(), "store: ")
	}
	if serr := r.sp.Add(rep, src); serr != nil {
		// One line (the filter logs it after "not recorded: "), the way to
		// recover first, before the reasons, which may be long.
		return 0, false, fmt.Errorf("not kept in the spool either (the delivered message still carries the report: tlsrpt import recovers it): %s; %s",
			strings.TrimPrefix(cmdutil.Describe(serr), "spool: "), why)
	}
	r.notes = append(r.notes, fmt.Sprintf("%s; report %q kept in the spool %s until the database takes it (tlsrpt import --spool, or the next filter)",
		why, neutral.LogAttr(rep.ReportID), r.sp.Dir))
	return 0, false, nil
}

func (r *recorder) close() {
	if r.st != nil {
		r.st.Close()
	}
}

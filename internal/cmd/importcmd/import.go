// Package importcmd is the tlsrpt import command: backfill reports from
// Maildir folders, mbox files, messages and report files, and store the
// reports the filter spooled while the database was away.
package importcmd

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/spf13/cobra"
	"golang.org/x/term"

	"github.com/tlsrpt/tlsrpt/allowlist"
	"github.com/tlsrpt/tlsrpt/arrival"
	"github.com/tlsrpt/tlsrpt/dmarc"
	"github.com/tlsrpt/tlsrpt/ingest"
	"github.com/tlsrpt/tlsrpt/internal/cmd/cmdutil"
	"github.com/tlsrpt/tlsrpt/neutral"
	"github.com/tlsrpt/tlsrpt/report"
	"github.com/tlsrpt/tlsrpt/spool"
	"github.com/tlsrpt/tlsrpt/store"
)

// Options are import's options.
type Options struct {
	F     *cmdutil.Factory
	Paths []string
	cmdutil.DecodeLimits
	Progress string
	Spool    bool
	SpoolDir string
}

// NewCmdImport returns the import command; runF, when not nil, replaces
// the work.
func NewCmdImport(f *cmdutil.Factory, runF func(*Options) error) *cobra.Command {
	opts := &Options{F: f}
	cmd := &cobra.Command{
		Use:   "import [PATH...]",
		Short: "Backfill reports from Maildir folders, mbox files, messages and report files",
		Long: `Reads Maildir folders (cur/ and new/, Maildir++ subfolders), mbox files, .eml
messages and .json, .json.gz and .zip report files (SMTP TLS reports) and .xml,
.xml.gz and .zip DMARC aggregate reports, told apart by their content, and folders
of these walked recursively; authenticates messages as the filter does (the
filter's own annotation is recognised and verified as the original bytes); stores
every report. Importing again stores nothing new. With --spool, first stores the reports
the filter kept while the database was away.`,
		Example: `  tlsrpt import ~/Maildir/.TLS-Reports
  tlsrpt import --db /tmp/x.db shared/corpus
  tlsrpt import --spool`,
		Args: func(cmd *cobra.Command, args []string) error {
			if len(args) == 0 && !opts.Spool {
				return cmdutil.UsageErrorf("no PATH given: name Maildir folders, mbox files or report files, or give --spool")
			}
			return nil
		},
		RunE: cmdutil.RunE(opts, func(cmd *cobra.Command, args []string) error {
			opts.Paths = args
			return nil
		}, runF, Run),
	}
	fl := cmd.Flags()
	fl.Int64Var(&opts.Limits.MaxMessage, "max-message", report.DefaultLimits.MaxMessage, "largest message or report file in `bytes`; larger ones are skipped as errors")
	opts.DecodeLimits.AddFlags(fl, "most records in the DMARC reports of one file or message; a report past it is refused")
	fl.StringVar(&opts.Progress, "progress", "auto", "progress bar on stderr: auto (when stderr is a terminal), always or never")
	fl.BoolVar(&opts.Spool, "spool", false, "store the reports the filter kept in its spool while the database was away")
	fl.StringVar(&opts.SpoolDir, "spool-dir", "", "the filter's spool `folder` (default $XDG_STATE_HOME/tlsrpt/spool)")
	return cmd
}

// Run imports every path; exit 1 when a file had an error. The database
// is created only when a report is to be stored: root running import
// --spool on an empty spool, or on files without reports, leaves no
// root-owned database that the mail user's filter could not write.
func Run(ctx context.Context, o *Options) error {
	if err := o.DecodeLimits.Check(); err != nil {
		return err
	}
	bar, err := newProgressBar(o.Progress, o.F.IO.ErrOut)
	if err != nil {
		return err
	}
	ctx, stop := signal.NotifyContext(ctx, syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	st, err := openLazy(o, cancel)
	if err != nil {
		return err
	}
	defer st.close()
	if o.Spool {
		if err := drainSpool(ctx, o, st); err != nil {
			return err
		}
		if len(o.Paths) == 0 {
			return nil
		}
	}
	opt := ingest.Options{Limits: o.Limits, DMARCLimits: dmarc.Limits{MaxRecords: o.DMARCRecords}}
	// Messages are authenticated as the filter does, each with its own DNS
	// budget, so that backfilled signed reports count for trust.
	opt.Authenticate = func(ctx context.Context, raw []byte, msg *report.Message) arrival.Auth {
		ctx, cancel := context.WithTimeout(ctx, allowlist.DefaultBudget)
		defer cancel()
		return o.F.Trust.Authenticate(ctx, cmdutil.CacheOf(st.st), raw, msg)
	}
	opt.AuthenticateDMARC = func(ctx context.Context, raw []byte, msg *dmarc.Message) arrival.Auth {
		ctx, cancel := context.WithTimeout(ctx, allowlist.DefaultBudget)
		defer cancel()
		return o.F.Trust.AuthenticateDMARC(ctx, cmdutil.CacheOf(st.st), raw, msg)
	}
	if bar != nil {
		opt.Progress = bar.update
	}
	sum, err := ingest.Import(ctx, st, o.Paths, opt)
	bar.clear()
	if st.err != nil {
		return st.err // the database could not be opened: nothing stored
	}
	upgraded := ""
	if sum.Upgraded > 0 {
		// An authenticated copy replaced unauthenticated ones: neither
		// stored anew nor a mere duplicate.
		upgraded = fmt.Sprintf(", upgraded %d", sum.Upgraded)
	}
	fmt.Fprintf(o.F.IO.Out, "read %d, stored %d%s, duplicates %d, not reports %d, errors %d\n",
		sum.Read, sum.Stored, upgraded, sum.Duplicates, sum.NotReports, len(sum.Errors))
	if sum.DMARCStored+sum.DMARCDuplicates+sum.DMARCUpgraded > 0 {
		// A line of its own: scripts that read the first keep reading
		// TLS reports' figures there.
		upgraded := ""
		if sum.DMARCUpgraded > 0 {
			upgraded = fmt.Sprintf(", upgraded %d", sum.DMARCUpgraded)
		}
		fmt.Fprintf(o.F.IO.Out, "stored %d DMARC reports%s, duplicates %d\n", sum.DMARCStored, upgraded, sum.DMARCDuplicates)
	}
	for _, e := range sum.Errors {
		fmt.Fprintf(o.F.IO.ErrOut, "tlsrpt: import: %s\n", store.RedactText(neutral.Error(cmdutil.Explain(e))))
	}
	if err != nil {
		return err
	}
	if len(sum.Errors) > 0 {
		return cmdutil.Silent(cmdutil.ExitFailure)
	}
	return nil
}

// lazyStore is the database, opened at once when it exists, otherwise
// created on the first report to store. When creating it fails, the
// import stops (cancel) and err tells why.
type lazyStore struct {
	o      *Options
	st     *store.Store
	err    error
	cancel func()
}

func openLazy(o *Options, cancel func()) (*lazyStore, error) {
	l := &lazyStore{o: o, cancel: cancel}
	st, err := o.F.OpenStoreExisting()
	if errors.Is(err, store.ErrNoDatabase) {
		return l, nil
	}
	l.st = st
	return l, err
}

// open returns the database, creating it on first use.
func (l *lazyStore) open() (*store.Store, error) {
	if l.st == nil && l.err == nil {
		l.st, l.err = l.o.F.OpenStore()
		if l.err != nil {
			l.cancel()
		}
	}
	return l.st, l.err
}

// AddReportResult stores r, creating the database first when needed.
func (l *lazyStore) AddReportResult(ctx context.Context, r *report.Report, src arrival.Source) (int64, arrival.Added, error) {
	st, err := l.open()
	if err != nil {
		return 0, 0, err
	}
	return st.AddReportResult(ctx, r, src)
}

// AddDMARCResult stores a DMARC aggregate report, creating the database
// first when needed.
func (l *lazyStore) AddDMARCResult(ctx context.Context, r *dmarc.Report, src arrival.Source) (int64, arrival.Added, error) {
	st, err := l.open()
	if err != nil {
		return 0, 0, err
	}
	return st.AddDMARCResult(ctx, r, src)
}

func (l *lazyStore) close() {
	if l.st != nil {
		l.st.Close()
	}
}

// drainSpool stores every report of the filter's spool. A --spool-dir
// that does not exist is an error (a mistyped folder must not read as an
// empty spool); the default folder missing is an empty spool.
func drainSpool(ctx context.Context, o *Options, st *lazyStore) error {
	dir := o.SpoolDir
	if dir == "" {
		state, err := cmdutil.StateDir()
		if err != nil {
			return err
		}
		dir = filepath.Join(state, "spool")
	} else if fi, err := os.Stat(dir); err != nil || !fi.IsDir() {
		if err == nil {
			return fmt.Errorf("--spool-dir %s is not a folder: name the filter's spool folder", neutral.TerminalCell(dir))
		}
		return fmt.Errorf("--spool-dir %s: %w: name the filter's spool folder (the filter's --spool)", neutral.TerminalCell(dir), errors.Unwrap(err))
	}
	d, err := spool.Spool{Dir: dir, Refused: store.Refused}.Drain(ctx, st, 0)
	if st.err != nil {
		return st.err
	}
	fmt.Fprintf(o.F.IO.Out, "spool %s: stored %d, duplicates %d, unreadable %d, refused %d\n", dir, d.Stored, d.Dups, d.Bad, d.Refused)
	if d.Refused > 0 {
		fmt.Fprintf(o.F.IO.ErrOut, "tlsrpt: import: the database refuses %d spooled reports for good: renamed *.refused in %s, the reason beside each in *.refused.why\n", d.Refused, dir)
	}
	return err
}

// progressBar draws one line on a terminal, at most ten times a second.
type progressBar struct {
	w    io.Writer
	last time.Time
}

// newProgressBar returns nil when no bar is wanted.
func newProgressBar(mode string, w io.Writer) (*progressBar, error) {
	switch mode {
	case "never":
		return nil, nil
	case "always":
		return &progressBar{w: w}, nil
	case "auto":
		if f, ok := w.(*os.File); ok && term.IsTerminal(int(f.Fd())) {
			return &progressBar{w: w}, nil
		}
		return nil, nil
	}
	return nil, cmdutil.UsageErrorf("--progress %q: want auto, always or never", mode)
}

func (b *progressBar) update(p ingest.Progress) {
	if p.Files < p.FilesTotal && time.Since(b.last) < 100*time.Millisecond {
		return
	}
	b.last = time.Now()
	fmt.Fprint(b.w, "\r\033[K"+progressLine(p, 30))
}

// clear removes the bar before the summary.
func (b *progressBar) clear() {
	if b != nil {
		fmt.Fprint(b.w, "\r\033[K")
	}
}

// progressLine renders "[=====>    ]  45% 120/300 files".
func progressLine(p ingest.Progress, width int) string {
	frac := 1.0
	if p.BytesTotal > 0 {
		frac = float64(p.Bytes) / float64(p.BytesTotal)
	}
	frac = min(max(frac, 0), 1)
	n := int(frac * float64(width))
	bar := strings.Repeat("=", n)
	if n < width {
		bar += ">" + strings.Repeat(" ", width-n-1)
	}
	return fmt.Sprintf("[%s] %3d%% %d/%d files", bar, int(frac*100), p.Files, p.FilesTotal)
}

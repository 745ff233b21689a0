package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"golang.org/x/term"

	"github.com/tlsrpt/tlsrpt/allowlist"
	"github.com/tlsrpt/tlsrpt/ingest"
	"github.com/tlsrpt/tlsrpt/report"
	"github.com/tlsrpt/tlsrpt/store"
)

func init() {
	register("import", "backfill reports from Maildir folders, mbox files, messages and report files", runImport)
}

// runImport imports every path, prints a summary line on stdout and one
// line per problem on stderr. It exits 0 when no file had an error, 1 when
// some had (or on interruption), 2 on bad usage. Importing again is
// harmless: reports already stored count as duplicates.
func runImport(args []string, std stdio) int {
	fs := flag.NewFlagSet("tlsrpt import", flag.ContinueOnError)
	fs.SetOutput(std.err)
	fs.Usage = func() {
		fmt.Fprintln(std.err, "usage: tlsrpt import [flags] PATH...\n\n"+
			"PATH: Maildir folders (cur/ and new/), mbox files, .eml messages, .json, .json.gz and .zip\n"+
			"report files, and folders of these, walked recursively.\n\nflags:")
		fs.PrintDefaults()
	}
	db := fs.String("db", "", "SQLite database `path` (default $TLSRPT_DB, else $XDG_STATE_HOME/tlsrpt/tlsrpt.db)")
	var lim report.Limits
	fs.Int64Var(&lim.MaxMessage, "max-message", report.DefaultLimits.MaxMessage, "largest message or report file in `bytes`; larger ones are skipped as errors")
	fs.Int64Var(&lim.MaxDecompressed, "max-decompressed", report.DefaultLimits.MaxDecompressed, "largest decompressed report in `bytes`")
	progress := fs.String("progress", "auto", "progress bar on stderr: auto (when stderr is a terminal), always or never")
	var trust trustFlags
	trust.registerAuth(fs)
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if fs.NArg() == 0 {
		errorf(std.err, "import: no PATH given: name Maildir folders, mbox files or report files")
		return 2
	}
	bar, err := newProgressBar(*progress, std.err)
	if err != nil {
		errorf(std.err, "import: %v", err)
		return 2
	}
	st, err := openStore(*db)
	if err != nil {
		errorf(std.err, "import: %v", err)
		return 1
	}
	defer st.Close()
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	opt := ingest.Options{Limits: lim}
	// Messages are authenticated as the filter does, each with its own DNS
	// budget, so that backfilled signed reports count for trust.
	opt.Authenticate = func(ctx context.Context, raw []byte, msg *report.Message) store.Auth {
		ctx, cancel := context.WithTimeout(ctx, allowlist.DefaultBudget)
		defer cancel()
		return trust.authenticate(ctx, st, raw, msg)
	}
	if bar != nil {
		opt.Progress = bar.update
	}
	sum, err := ingest.Import(ctx, st, fs.Args(), opt)
	bar.clear()
	fmt.Fprintf(std.out, "read %d, stored %d, duplicates %d, not reports %d, errors %d\n",
		sum.Read, sum.Stored, sum.Duplicates, sum.NotReports, len(sum.Errors))
	for _, e := range sum.Errors {
		errorf(std.err, "import: %s", strings.ReplaceAll(e.Error(), "\n", "; "))
	}
	if err != nil {
		errorf(std.err, "import: %v", err)
		return 1
	}
	if len(sum.Errors) > 0 {
		return 1
	}
	return 0
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
	return nil, fmt.Errorf("--progress %q: want auto, always or never", mode)
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

// Package prune is the tlsrpt prune command: retention of old reports.
package prune

import (
	"context"
	"fmt"
	"io"
	"time"

	"github.com/spf13/cobra"

	"github.com/tlsrpt/tlsrpt/internal/cmd/cmdutil"
	"github.com/tlsrpt/tlsrpt/store"
)

// Options are prune's options.
type Options struct {
	F         *cmdutil.Factory
	OlderThan time.Duration
	Apply     bool
	Vacuum    bool
	Force     bool
}

// MinApply is the youngest cutoff --apply takes without --force: a slip
// of the unit must not remove the reports of the last hours.
const MinApply = 24 * time.Hour

// NewCmdPrune returns the prune command; runF, when not nil, replaces the
// work.
func NewCmdPrune(f *cmdutil.Factory, runF func(*Options) error) *cobra.Command {
	opts := &Options{F: f}
	cmd := &cobra.Command{
		Use:   "prune --older-than DURATION",
		Short: "Remove reports whose range ended long ago (plan; --apply to remove)",
		Long: `Counts, and with --apply removes, the reports whose range ended before now minus
--older-than, with their policies and failure details, and the DNS cache entries
(the database's and allowlist check's own file) expired more than 7 days ago.
--older-than takes s, min, h, d and w (not m: minutes or months?); with --apply, a
cutoff under a day also wants --force. The audit log of redeem is kept. A database
that does not exist is never created. --vacuum then gives the space back to the file system
(it needs room for a copy of the database while it runs). The filter and serve
never prune by themselves: run prune from a timer.`,
		Example: `  tlsrpt prune --older-than 400d
  tlsrpt prune --older-than 400d --apply --vacuum`,
		Args: cmdutil.NoArgs,
		RunE: cmdutil.RunE(opts, func(cmd *cobra.Command, args []string) error {
			if !cmd.Flags().Changed("older-than") {
				return cmdutil.UsageErrorf("--older-than is required, e.g. --older-than 400d")
			}
			return nil
		}, runF, Run),
	}
	fl := cmd.Flags()
	cmdutil.DurationVar(fl, &opts.OlderThan, "older-than", 0, "remove reports whose range ended more than this `DURATION` ago (400d, 52w, 36h; m is refused: write min or d)")
	fl.BoolVar(&opts.Apply, "apply", false, "remove them (without it, only count)")
	fl.BoolVar(&opts.Force, "force", false, "with --apply, remove reports younger than a day too")
	fl.BoolVar(&opts.Vacuum, "vacuum", false, "with --apply, give the space back to the file system afterwards")
	return cmd
}

// Run plans or prunes.
func Run(ctx context.Context, o *Options) error {
	d := o.OlderThan
	if d <= 0 || d > cmdutil.MaxDuration {
		return cmdutil.UsageErrorf("--older-than %s: want a duration above zero (400d, 52w, 36h)", cmdutil.FormatDuration(d))
	}
	if o.Apply && d < MinApply && !o.Force {
		return cmdutil.UsageErrorf("--older-than %s with --apply would remove reports younger than a day: give --force if that is meant",
			cmdutil.FormatDuration(d))
	}
	before := o.F.Now().UTC().Add(-d)
	var open = o.F.OpenStoreReadOnly
	if o.Apply {
		open = o.F.OpenStoreExisting
	}
	st, err := open()
	if err != nil {
		return noDatabase(o, err)
	}
	defer st.Close()
	w := o.F.IO.Out
	if !o.Apply {
		p, err := st.PrunePlan(ctx, before)
		if err != nil {
			return err
		}
		prunedLines(w, "would remove", p)
		fmt.Fprintln(w, "Run again with --apply to remove them.")
		return nil
	}
	sizeBefore, _ := st.Size(ctx)
	p, err := st.Prune(ctx, before)
	if err != nil {
		return err
	}
	prunedLines(w, "removed", p)
	if err := pruneCaches(ctx, o, st); err != nil {
		return err
	}
	if o.Vacuum {
		start := time.Now()
		if err := st.Vacuum(ctx); err != nil {
			return err
		}
		after, _ := st.Size(ctx)
		fmt.Fprintf(w, "vacuumed in %v: %d bytes before, %d after\n", time.Since(start).Round(time.Millisecond), sizeBefore, after)
	}
	return nil
}

// prunedLines says what the prune does to TLS reports, and to DMARC
// aggregate reports when there are any to prune.
func prunedLines(w io.Writer, verb string, p store.Pruned) {
	fmt.Fprintf(w, "%s %s ended before %s (%s, %s); the audit log is kept\n", verb,
		cmdutil.Plural(p.Reports, "report", "reports"), p.Before.Format("2006-01-02"),
		cmdutil.Plural(p.Policies, "policy", "policies"), cmdutil.Plural(p.Details, "failure detail", "failure details"))
	if p.DMARCReports == 0 {
		return
	}
	fmt.Fprintf(w, "%s %s ended before %s (%s)\n", verb,
		cmdutil.Plural(p.DMARCReports, "DMARC report", "DMARC reports"), p.Before.Format("2006-01-02"),
		cmdutil.Plural(p.DMARCRecords, "record", "records"))
}

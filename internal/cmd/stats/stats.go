// Package stats is the tlsrpt stats command: successful and failed
// sessions per period, grouped, as a table, JSON or CSV.
package stats

import (
	"context"

	"github.com/spf13/cobra"

	"github.com/tlsrpt/tlsrpt/internal/cmd/cmdutil"
	"github.com/tlsrpt/tlsrpt/stats"
	"github.com/tlsrpt/tlsrpt/store"
)

// Options are stats' options.
type Options struct {
	F     *cmdutil.Factory
	Since string
	By    string
	Group string
	JSON  bool
	CSV   bool
}

// NewCmdStats returns the stats command; runF, when not nil, replaces the
// work.
func NewCmdStats(f *cmdutil.Factory, runF func(*Options) error) *cobra.Command {
	opts := &Options{F: f}
	cmd := &cobra.Command{
		Use:   "stats",
		Short: "Successful and failed sessions per day, week or month, grouped as asked",
		Long: `Adds up the sessions of the stored reports per period (a report counts on the
UTC day its range starts; weeks start on Monday) and, with --group, per reporter
(the domain that signed its reports; unsigned reports by the organization-name
they claim, marked "(unauthenticated)"), policy domain, receiving MX or
result-type. Reports give
successful sessions per policy only: grouped by MX or result-type, only failed
sessions count. --csv writes one row per period and group, ready to sit beside
parsedmarc's DMARC CSV in a spreadsheet. The database is only read.`,
		Example: `  tlsrpt stats --by week
  tlsrpt stats --since 30d --group reporter --json
  tlsrpt stats --by month --group domain --csv > tlsrpt.csv`,
		Args: cmdutil.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			switch store.Period(opts.By) {
			case store.Day, store.Week, store.Month:
			default:
				return cmdutil.UsageErrorf("--by %q: want day, week or month", opts.By)
			}
			switch store.Group(opts.Group) {
			case store.NoGroup, store.ByReporter, store.ByDomain, store.ByMX, store.ByResultType:
			default:
				return cmdutil.UsageErrorf("--group %q: want reporter, domain, mx or result-type", opts.Group)
			}
			if opts.JSON && opts.CSV {
				return cmdutil.UsageErrorf("give --json or --csv, not both")
			}
			if runF != nil {
				return runF(opts)
			}
			return Run(cmd.Context(), opts)
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&opts.Since, "since", "", "only reports whose range ends after this `DATE|DURATION` (2024-02-01, 90d)")
	fl.StringVar(&opts.By, "by", "day", "period: day, week or month")
	fl.StringVar(&opts.Group, "group", "", "group by reporter, domain, mx or result-type")
	fl.BoolVar(&opts.JSON, "json", false, "print a JSON array (rows carry day, successful, failed, failure_rate and the group key)")
	fl.BoolVar(&opts.CSV, "csv", false, "print CSV with a header line")
	return cmd
}

// Run prints the statistics.
func Run(ctx context.Context, o *Options) error {
	if ctx == nil {
		ctx = context.Background()
	}
	since, err := cmdutil.ParseSince(o.Since, o.F.Now())
	if err != nil {
		return err
	}
	st, err := o.F.OpenStoreReadOnly()
	if err != nil {
		return err
	}
	defer st.Close()
	group := store.Group(o.Group)
	rows, err := st.SessionStats(ctx, since, store.Period(o.By), group)
	if err != nil {
		return err
	}
	switch {
	case o.JSON:
		return stats.WriteJSON(o.F.IO.Out, rows, group)
	case o.CSV:
		return stats.WriteCSV(o.F.IO.Out, rows, group)
	}
	return stats.WriteTable(o.F.IO.Out, rows, group)
}

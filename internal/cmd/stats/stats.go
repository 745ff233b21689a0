// Package stats is the tlsrpt stats command: successful and failed
// sessions per period, grouped, as a table, JSON or CSV; with --source
// dmarc the messages of DMARC aggregate reports, with --source both the
// two side by side.
package stats

import (
	"context"
	"io"
	"time"

	"github.com/spf13/cobra"

	"github.com/tlsrpt/tlsrpt/internal/cmd/cmdutil"
	"github.com/tlsrpt/tlsrpt/stats"
	"github.com/tlsrpt/tlsrpt/store"
)

// Options are stats' options.
type Options struct {
	F      *cmdutil.Factory
	Since  string
	By     string
	Group  string
	Source string
	JSON   bool
	CSV    bool
}

// NewCmdStats returns the stats command; runF, when not nil, replaces the
// work.
func NewCmdStats(f *cmdutil.Factory, runF func(*Options) error) *cobra.Command {
	opts := &Options{F: f}
	cmd := &cobra.Command{
		Use:   "stats",
		Short: "Successful and failed sessions (and DMARC messages) per day, week or month, grouped as asked",
		Long: `Adds up the sessions of the stored reports per period (a report counts on the
UTC day its range starts; weeks start on Monday) and, with --group, per reporter
(the domain that signed its reports; unsigned reports by the organization-name
they claim, marked "(unauthenticated)"), policy domain, receiving MX or
result-type. Reports give
successful sessions per policy only: grouped by MX or result-type, only failed
sessions count. --csv writes one row per period and group, ready to sit beside
parsedmarc's DMARC CSV in a spreadsheet. The database is only read.

--source dmarc adds up DMARC aggregate reports instead: the messages reporters
saw from our domains, those that passed DMARC (aligned DKIM or aligned SPF pass,
as the reporter evaluated it) and those that failed. --source both puts the TLS
sessions and the DMARC messages in one row per period and reporter (a signed
reporter is one row for both kinds of report). With dmarc and both, --group is
reporter unless given (domain, or "" for none).`,
		Example: `  tlsrpt stats --by week
  tlsrpt stats --since 30d --group reporter --json
  tlsrpt stats --by month --group domain --csv > tlsrpt.csv
  tlsrpt stats --source both --by week`,
		Args: cmdutil.NoArgs,
		RunE: cmdutil.RunE(opts, func(cmd *cobra.Command, args []string) error {
			switch store.Period(opts.By) {
			case store.Day, store.Week, store.Month:
			default:
				return cmdutil.UsageErrorf("--by %q: want day, week or month", opts.By)
			}
			if err := checkSourceGroup(opts, cmd.Flags().Changed("group")); err != nil {
				return err
			}
			if opts.JSON && opts.CSV {
				return cmdutil.UsageErrorf("give --json or --csv, not both")
			}
			return nil
		}, runF, Run),
	}
	fl := cmd.Flags()
	fl.StringVar(&opts.Since, "since", "", "only reports whose range ends after this `DATE|DURATION` (2024-02-01, 90d)")
	fl.StringVar(&opts.By, "by", "day", "period: day, week or month")
	fl.StringVar(&opts.Group, "group", "", "group by reporter, domain, mx or result-type")
	fl.StringVar(&opts.Source, "source", string(stats.TLS), "reports to add up: tls, dmarc or both")
	fl.BoolVar(&opts.JSON, "json", false, "print a JSON array (rows carry day, the group key and the counts: successful, failed, failure_rate; messages, dmarc_pass, dmarc_fail)")
	fl.BoolVar(&opts.CSV, "csv", false, "print CSV with a header line")
	return cmd
}

// Run prints the statistics.
func Run(ctx context.Context, o *Options) error {
	since, err := cmdutil.ParseSince(o.Since, o.F.Now())
	if err != nil {
		return err
	}
	st, err := o.F.OpenStoreReadOnly()
	if err != nil {
		return err
	}
	defer st.Close()
	switch stats.Source(o.Source) {
	case stats.DMARC:
		return show(ctx, o, since, st.DMARCStats, stats.WriteDMARCJSON, stats.WriteDMARCCSV, stats.WriteDMARCTable)
	case stats.Both:
		return show(ctx, o, since, st.SideBySide, stats.WriteSideJSON, stats.WriteSideCSV, stats.WriteSideTable)
	}
	return show(ctx, o, since, st.SessionStats, stats.WriteJSON, stats.WriteCSV, stats.WriteTable)
}

// show adds up the rows of one source with query and prints them as
// --json or --csv ask, else as a table, with that source's writers.
func show[R any](ctx context.Context, o *Options, since time.Time,
	query func(context.Context, time.Time, store.Period, store.Group) ([]R, error),
	asJSON, asCSV, asTable func(io.Writer, []R, store.Group) error) error {
	group := store.Group(o.Group)
	rows, err := query(ctx, since, store.Period(o.By), group)
	if err != nil {
		return err
	}
	switch w := o.F.IO.Out; {
	case o.JSON:
		return asJSON(w, rows, group)
	case o.CSV:
		return asCSV(w, rows, group)
	default:
		return asTable(w, rows, group)
	}
}

// checkSourceGroup checks --source and --group together: DMARC reports
// have no receiving MX nor result-type, and with dmarc or both the group
// is reporter unless --group was given.
func checkSourceGroup(o *Options, groupGiven bool) error {
	switch stats.Source(o.Source) {
	case stats.TLS:
		switch store.Group(o.Group) {
		case store.NoGroup, store.ByReporter, store.ByDomain, store.ByMX, store.ByResultType:
			return nil
		}
		return cmdutil.UsageErrorf("--group %q: want reporter, domain, mx or result-type", o.Group)
	case stats.DMARC, stats.Both:
		if !groupGiven {
			o.Group = string(store.ByReporter)
		}
		switch store.Group(o.Group) {
		case store.NoGroup, store.ByReporter, store.ByDomain:
			return nil
		}
		return cmdutil.UsageErrorf("--group %q with --source %s: want reporter or domain (mx and result-type are TLS only)", o.Group, o.Source)
	}
	return cmdutil.UsageErrorf("--source %q: want tls, dmarc or both", o.Source)
}

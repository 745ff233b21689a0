// Package migratedb is the tlsrpt migrate-db command: copy a SQLite store
// into a new PostgreSQL database, for a fleet of MX hosts.
package migratedb

import (
	"context"
	"fmt"
	"slices"

	"github.com/spf13/cobra"

	"github.com/tlsrpt/tlsrpt/internal/cmd/cmdutil"
	"github.com/tlsrpt/tlsrpt/neutral"
	"github.com/tlsrpt/tlsrpt/store"
)

// Options are migrate-db's options.
type Options struct {
	F        *cmdutil.Factory
	From, To string
}

// NewCmdMigrateDB returns the migrate-db command; runF, when not nil,
// replaces the work.
func NewCmdMigrateDB(f *cmdutil.Factory, runF func(*Options) error) *cobra.Command {
	opts := &Options{F: f}
	cmd := &cobra.Command{
		Use:   "migrate-db --from SQLITE --to postgres://...",
		Short: "Copy a SQLite store into a new PostgreSQL database and check the counts",
		Long: `Copies every report with its policies and failure details, the audit log and the
DNS cache from a SQLite file into an empty PostgreSQL database, in one
transaction, keeping every key and column; rebuilds the per-address aggregate;
then checks that each table holds as many rows as the source. Refuses a
destination that already holds reports. A report with a name too long for
PostgreSQL to index (which an older SQLite store may hold, and which tlsrpt now
refuses on both engines) is left out, with its policies and details, and listed
with the reason. See docs/fleet.md.`,
		Example: `  tlsrpt migrate-db --from ~/.local/state/tlsrpt/tlsrpt.db --to 'postgres://tlsrpt_owner@db.example.com/tlsrpt?sslmode=verify-full'`,
		Args:    cmdutil.NoArgs,
		RunE: cmdutil.RunE(opts, func(cmd *cobra.Command, args []string) error {
			if opts.From == "" || opts.To == "" {
				return cmdutil.UsageErrorf("give --from SQLITE-FILE and --to URL")
			}
			return nil
		}, runF, Run),
	}
	cmd.Flags().StringVar(&opts.From, "from", "", "the SQLite database `file` to copy")
	cmd.Flags().StringVar(&opts.To, "to", "", "the database to fill: a postgres:// `URL` (or another SQLite file)")
	return cmd
}

// Run copies and reports the counts.
func Run(ctx context.Context, o *Options) error {
	if e, err := store.EngineOf(o.From); err != nil || e != store.SQLite {
		return cmdutil.UsageErrorf("--from %s: want a SQLite file", store.Redact(o.From))
	}
	src, err := store.OpenReadOnly(o.From)
	if err != nil {
		return cmdutil.Explain(err)
	}
	defer src.Close()
	dst, err := store.Open(o.To)
	if err != nil {
		return cmdutil.Explain(err)
	}
	defer dst.Close()
	c, err := store.Copy(ctx, dst, src)
	if err != nil {
		return err
	}
	for _, s := range c.Skipped {
		fmt.Fprintf(o.F.IO.Out, "left out report %d (organization-name %s, report-id %s): %s\n", s.ID,
			quoteCell(s.Org), quoteCell(s.ReportID), s.Why)
	}
	var tables []string
	for t := range c.Rows {
		tables = append(tables, t)
	}
	slices.Sort(tables)
	for _, t := range tables {
		if c.Left[t] > 0 {
			fmt.Fprintf(o.F.IO.Out, "%-16s %d rows copied, as many as the source less %d of the reports left out\n", t, c.Rows[t], c.Left[t])
			continue
		}
		fmt.Fprintf(o.F.IO.Out, "%-16s %d rows copied, as many as the source\n", t, c.Rows[t])
	}
	fmt.Fprintf(o.F.IO.Out, "copied %s into %s\n", store.Redact(o.From), store.Redact(o.To))
	return nil
}

// quoteCell shows a name from a report, which may be 20 KB of anything,
// quoted and cut for one line of terminal output.
func quoteCell(s string) string {
	return `"` + neutral.TerminalCell(s) + `"`
}

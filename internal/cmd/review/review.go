// Package review is the tlsrpt review command: the failing sending
// addresses with their evidence, trust and ban status.
package review

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"slices"
	"strings"
	"text/tabwriter"

	"github.com/go-json-experiment/json"
	"github.com/go-json-experiment/json/jsontext"
	jsonv1 "github.com/go-json-experiment/json/v1"
	"github.com/spf13/cobra"

	"github.com/tlsrpt/tlsrpt/assess"
	"github.com/tlsrpt/tlsrpt/internal/cmd/cmdutil"
	"github.com/tlsrpt/tlsrpt/neutral"
	"github.com/tlsrpt/tlsrpt/redeem"
	"github.com/tlsrpt/tlsrpt/store"
)

// Options are review's options.
type Options struct {
	F      *cmdutil.Factory
	JSON   bool
	Since  string
	NoBans bool
	// Outcome keeps only redeemed addresses with this outcome.
	Outcome string
	OutcomeFlags
}

// NewCmdReview returns the review command; runF, when not nil, replaces
// the work.
func NewCmdReview(f *cmdutil.Factory, runF func(*Options) error) *cobra.Command {
	opts := &Options{F: f}
	cmd := &cobra.Command{
		Use:   "review",
		Short: "List the failing sending addresses with evidence, trust and ban status",
		Long: `Lists one row per sending-mta-ip that reports name in failure details: failed
sessions, reports, reporters (an organization-name that no authenticated report
naming the address gives is marked "(unauthenticated)": anyone can write one),
result types, when seen, whether it is trusted (an
authenticated report names it and the address is proven to be the reporter's) and
why, and where it is banned on this host (? when a backend could not tell).

A redeemed address (an applied unban or keep in redeem's audit log) shows its
outcome since: awaiting (no report of its reporters since), confirmed (as many
as --confirm-reports authenticated reports since, for the policy domains where it
failed, with successful sessions and no failure for it), still-failing (a report
since names it again), banned-again (a ban backend has it banned again) or
inconclusive (its reporters sent nothing for --quiet-after). Only authenticated
reports move an outcome.

The database is only read: review works on a database you cannot write.`,
		Example: `  tlsrpt review
  tlsrpt review --since 7d --json
  tlsrpt review --no-bans --db /var/lib/tlsrpt/tlsrpt.db
  tlsrpt review --outcome still-failing`,
		Args: cmdutil.NoArgs,
		RunE: cmdutil.RunE(opts, nil, runF, Run),
	}
	fl := cmd.Flags()
	fl.BoolVar(&opts.JSON, "json", false, "print a JSON array instead of a table")
	fl.StringVar(&opts.Since, "since", "", "only reports whose range ends after this `DATE|DURATION` (2024-02-01, 7d, 36h)")
	fl.BoolVar(&opts.NoBans, "no-bans", false, "do not consult any ban backend")
	opts.OutcomeFlags.AddFlags(fl)
	fl.StringVar(&opts.Outcome, "outcome", "", "only redeemed addresses with this `OUTCOME` ("+strings.Join(assess.OutcomeWords, ", ")+")")
	f.Backends.AddFlags(fl)
	return cmd
}

// Run lists the rows.
func Run(ctx context.Context, o *Options) error {
	since, err := cmdutil.ParseSince(o.Since, o.F.Now())
	if err != nil {
		return err
	}
	if o.Outcome != "" && !assess.ValidOutcome(o.Outcome) {
		return cmdutil.UsageErrorf("--outcome %q: not an outcome; use one of %s", o.Outcome, strings.Join(assess.OutcomeWords, ", "))
	}
	oo, err := o.OutcomeFlags.Options(o.F.Now())
	if err != nil {
		return err
	}
	return o.F.ReadWithBans(ctx, o.NoBans, func(backends []redeem.Backend, st *store.Store) error {
		return o.list(ctx, st, assess.Options{Since: since, Backends: backends, Outcomes: &oo})
	})
}

// list reviews st as ao asks, with this host's trust checker, and prints
// the rows.
func (o *Options) list(ctx context.Context, st *store.Store, ao assess.Options) error {
	checker, err := o.F.Trust.Checker(st)
	if err != nil {
		return err
	}
	ao.Checker = checker
	rows, err := assess.Review(ctx, st, ao)
	if err != nil {
		return err
	}
	reportUnknown(o.F.IO.ErrOut, rows)
	recs := assess.Records(rows)
	if o.Outcome != "" {
		recs = slices.DeleteFunc(recs, func(r assess.Record) bool { return r.Outcome != o.Outcome })
	}
	if o.JSON {
		return WriteJSON(o.F.IO.Out, recs) // scripts read kind; no hint
	}
	hintDiagnose(o.F.IO.ErrOut, recs)
	return WriteTable(o.F.IO.Out, recs)
}

// hintDiagnose says once when some addresses failed in ways no ban
// explains: unbanning will not help them, probing our side may.
func hintDiagnose(w io.Writer, recs []assess.Record) {
	n := 0
	for _, r := range recs {
		if r.Kind == assess.KindDiagnose || r.Kind == assess.KindBoth {
			n++
		}
	}
	if n > 0 {
		fmt.Fprintf(w, "tlsrpt: review: %s failed in ways no ban explains (KIND diagnose or both): run tlsrpt diagnose to probe the cause\n",
			cmdutil.Plural(int64(n), "address", "addresses"))
	}
}

// reportUnknown says once per backend and reason why ban status is
// unknown: "?" in the table must not pass for "not banned".
func reportUnknown(w io.Writer, rows []assess.Row) {
	seen := map[string]bool{}
	for _, r := range rows {
		for _, u := range r.Unknown {
			line := fmt.Sprintf("tlsrpt: review: %s: ban status unknown (? in BANNED): %s", u.Backend, neutral.Error(cmdutil.Explain(u.Err)))
			if !seen[line] {
				seen[line] = true
				fmt.Fprintln(w, line)
			}
		}
	}
}

// recordOptions give encoding/json's output, indented two spaces under a
// two-space prefix.
var recordOptions = json.JoinOptions(jsonv1.DefaultOptionsV1(),
	jsontext.WithIndentPrefix("  "), jsontext.WithIndent("  "))

// WriteJSON writes the records as a JSON array, buffered.
func WriteJSON(w io.Writer, recs []assess.Record) error {
	bw := bufio.NewWriter(w)
	if len(recs) == 0 {
		bw.WriteString("[]\n")
		return bw.Flush()
	}
	// Record by record, the bytes encoding/json's Encoder with
	// SetIndent("", "  ") gives for the whole slice, without holding (and
	// re-indenting) the whole document: that took a third of review's
	// time at 20k rows. go-json-experiment/json with encoding/json's
	// options writes the same bytes (TestJSONAsEncodingJSON) and indents
	// as it encodes: the separate indent pass of MarshalIndent was a
	// sixth of review --json over a year.
	bw.WriteString("[\n")
	for i := range recs {
		bw.WriteString("  ")
		if err := json.MarshalWrite(bw, &recs[i], recordOptions); err != nil {
			return err
		}
		if i < len(recs)-1 {
			bw.WriteString(",")
		}
		bw.WriteString("\n")
	}
	bw.WriteString("]\n")
	return bw.Flush()
}

// WriteTable writes one line per address, every cell through
// neutral.TerminalCell (the last, WHY, through neutral.TerminalLine: it
// shifts no column), into one buffer flushed once.
func WriteTable(w io.Writer, recs []assess.Record) error {
	bw := bufio.NewWriter(w)
	if len(recs) == 0 {
		fmt.Fprintln(bw, "no failing sending addresses recorded")
		return bw.Flush()
	}
	tw := tabwriter.NewWriter(bw, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "IP\tFAILED\tREPORTS\tORGANIZATIONS\tRESULT TYPES\tFIRST SEEN\tLAST SEEN\tKIND\tTRUSTED\tBANNED\tOUTCOME\tWHY")
	cell := neutral.TerminalCell
	for _, r := range recs {
		fmt.Fprintf(tw, "%s\t%d\t%d\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", r.IP, r.FailedSessions, r.Reports,
			cell(strings.Join(r.Organizations, ", ")), cell(strings.Join(r.ResultTypes, ", ")),
			r.FirstSeen.Format("2006-01-02"), r.LastSeen.Format("2006-01-02"), r.Kind,
			yesNo(r.Trusted), cell(r.BannedText()), outcomeText(r), neutral.TerminalLine(r.Why))
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	return bw.Flush()
}

// outcomeText is the OUTCOME cell: the outcome and when redeemed, "-" for
// an address never redeemed.
func outcomeText(r assess.Record) string {
	if r.RedeemedAt == nil {
		return "-"
	}
	return r.Outcome + " (" + r.RedeemedAt.Format("2006-01-02") + ")"
}

func yesNo(b bool) string {
	if b {
		return "yes"
	}
	return "no"
}

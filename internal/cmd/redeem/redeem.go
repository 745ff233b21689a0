// Package redeem is the tlsrpt redeem command: the unban plan of trusted
// failing addresses (and those named with --ip), carried out with --apply.
package redeem

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/tlsrpt/tlsrpt/assess"
	"github.com/tlsrpt/tlsrpt/internal/cmd/cmdutil"
	"github.com/tlsrpt/tlsrpt/internal/cmd/review"
	"github.com/tlsrpt/tlsrpt/metrics"
	"github.com/tlsrpt/tlsrpt/neutral"
	"github.com/tlsrpt/tlsrpt/redeem"
	"github.com/tlsrpt/tlsrpt/store"
)

// Options are redeem's options.
type Options struct {
	F     *cmdutil.Factory
	Apply bool
	// ShowLog prints the audit log instead of planning: redeem log, or
	// the deprecated --log.
	ShowLog bool
	IPs     []string
	Since   string
	Host    string
	// OutcomeFlags judge the outcomes of earlier redeems (see tlsrpt
	// review).
	review.OutcomeFlags
}

// NewCmdRedeem returns the redeem command; runF, when not nil, replaces
// the work.
func NewCmdRedeem(f *cmdutil.Factory, runF func(*Options) error) *cobra.Command {
	opts := &Options{F: f}
	cmd := &cobra.Command{
		Use:   "redeem",
		Short: "Plan, and with --apply carry out, unbans of trusted senders",
		Long: `Plans the unban of every trusted failing address (see tlsrpt review) and of every
address named with --ip, in each ban backend of this host (fail2ban, ipqbdb,
iptables), and the step that keeps it from being banned again. Nothing changes
without --apply. Every planned and applied step goes to the audit log, with the
host that did it (--host); tlsrpt redeem log prints it, with the outcome of each
redeemed address today (see tlsrpt review). An address banned again since its
redeem is shown so, with the advice of a hard keep; one still failing in ways no
ban causes is shown so: unbanning it again will not help.

The keep steps of fail2ban (ignoreip) and iptables (an ACCEPT rule) are hard; the
ipqbdb one (whitelisting) is soft: ipqbdb can still ban the address, more slowly.`,
		Example: `  tlsrpt redeem
  tlsrpt redeem --apply
  tlsrpt redeem --ip 209.85.220.41 --backend fail2ban --apply
  tlsrpt redeem log`,
		Args: func(cmd *cobra.Command, args []string) error {
			if len(args) > 0 {
				return cmdutil.UsageErrorf("unexpected argument %q (name addresses with --ip)", args[0])
			}
			return nil
		},
		RunE: cmdutil.RunE(opts, func(cmd *cobra.Command, args []string) error {
			if cmd.Flags().Changed("log") {
				fmt.Fprintln(f.IO.ErrOut, deprecatedLog)
			}
			return nil
		}, runF, Run),
	}
	fl := cmd.Flags()
	fl.BoolVar(&opts.Apply, "apply", false, "carry out the plan (without it, nothing is changed)")
	fl.BoolVar(&opts.ShowLog, "log", false, "print the audit log, as tlsrpt redeem log does, and exit")
	// --log came before redeem log. It still works, hidden from the help
	// and the completion, with deprecatedLog on standard error. pflag's
	// own note is dropped: cobra prints it on the standard output, which
	// the log owns, and not in tlsrpt's voice.
	_ = fl.MarkDeprecated("log", "use tlsrpt redeem log")
	fl.SetOutput(io.Discard)
	fl.StringArrayVar(&opts.IPs, "ip", nil, "also redeem this `address`, trusted or not (repeatable)")
	fl.StringVar(&opts.Since, "since", "", "only consider reports whose range ends after this `DATE|DURATION`")
	cmdutil.HostVar(fl, &opts.Host)
	f.Backends.AddFlags(fl)
	opts.OutcomeFlags.AddFlags(fl)
	cmd.AddCommand(newCmdLog(f, runF))
	return cmd
}

// deprecatedLog is the note redeem --log prints on standard error.
const deprecatedLog = "tlsrpt: redeem: --log is deprecated: run tlsrpt redeem log (--log goes in the next release)"

// newCmdLog returns redeem log, which prints the audit log with the
// outcomes.
func newCmdLog(f *cmdutil.Factory, runF func(*Options) error) *cobra.Command {
	opts := &Options{F: f, ShowLog: true}
	cmd := &cobra.Command{
		Use:   "log",
		Short: "Print the audit log of redeem, with the outcome of each redeemed address today",
		Long: `Prints every planned and applied step of tlsrpt redeem, newest first, and under
each applied unban or keep the outcome of its address today: awaiting,
confirmed, still-failing, banned-again or inconclusive, with why (see tlsrpt
review). banned-again needs a ban backend to consult.`,
		Example: `  tlsrpt redeem log
  tlsrpt redeem log --backend fail2ban --quiet-after 3d`,
		Args: cmdutil.NoArgs,
		RunE: cmdutil.RunE(opts, nil, runF, printLog),
	}
	fl := cmd.Flags()
	f.Backends.AddFlags(fl)
	opts.OutcomeFlags.AddFlags(fl)
	return cmd
}

// Run plans, and applies with --apply.
func Run(ctx context.Context, o *Options) error {
	var err error
	if o.Host, err = cmdutil.HostName(o.Host); err != nil {
		return err
	}
	if o.ShowLog {
		return printLog(ctx, o)
	}
	named, err := parseIPs(o.IPs)
	if err != nil {
		return err
	}
	since, err := cmdutil.ParseSince(o.Since, o.F.Now())
	if err != nil {
		return err
	}
	if b := o.F.Backends; b.Fail2banReload && b.Fail2banSocket != "" && b.Fail2banConfig == "" {
		return cmdutil.UsageErrorf("--fail2ban-reload with --fail2ban-socket needs --fail2ban-config DIR, that server's configuration: without it the reload would load this machine's /etc/fail2ban into it")
	}
	backends, err := o.F.Backends.Open(ctx)
	if err != nil {
		return err
	}
	if len(backends) == 0 {
		return fmt.Errorf("no ban backend found on this machine (fail2ban, ipqbdb, iptables): name one with --backend")
	}
	// Never created; to write (--apply needs it; a plan records its steps
	// in the audit log when it may), or, for a plan, to read only.
	st, readOnly, err := o.F.OpenStoreExistingOrRead(!o.Apply)
	if err != nil {
		return err
	}
	defer st.Close()
	checker, err := o.F.Trust.Checker(st)
	if err != nil {
		return err
	}
	oo, err := o.OutcomeFlags.Options(o.F.Now())
	if err != nil {
		return err
	}
	rows, err := assess.Review(ctx, st, assess.Options{Since: since, Checker: checker})
	if err != nil {
		return err
	}
	p := &planner{o: o, st: st, readOnly: readOnly, out: bufio.NewWriter(o.F.IO.Out), outcomes: &oo}
	defer p.out.Flush()
	return p.run(ctx, backends, assess.Candidates(named, rows))
}

// parseIPs validates the --ip addresses with net/netip.
func parseIPs(ss []string) ([]netip.Addr, error) {
	var out []netip.Addr
	for _, s := range ss {
		ip, err := redeem.ParseAddr(s)
		if err != nil {
			return nil, cmdutil.UsageErrorf("--ip %q: %v", s, err)
		}
		out = append(out, ip)
	}
	return out, nil
}

// planner makes, shows, logs and applies one plan.
type planner struct {
	o        *Options
	st       *store.Store
	readOnly bool
	out      *bufio.Writer
	outcomes *assess.OutcomeOptions
}

func (p *planner) run(ctx context.Context, backends []redeem.Backend, cands []assess.Candidate) error {
	plan, err := assess.Plan(ctx, backends, cands)
	if err != nil {
		return err
	}
	for _, n := range plan.Notes {
		fmt.Fprintln(p.out, "note: "+neutral.TerminalLine(n.String()))
	}
	outs, err := planOutcomes(ctx, p.st, plan, *p.outcomes)
	if err != nil {
		return err
	}
	printPlan(p.out, cands, plan, outs)
	p.recordWaiting(ctx, plan)
	p.out.Flush()
	printErrors(p.o.F.IO.ErrOut, plan)
	actions := plan.Actions()
	if len(actions) == 0 {
		if plan.Err() != nil {
			fmt.Fprintln(p.out, "nothing planned: a backend could not be consulted")
			return cmdutil.Silent(cmdutil.ExitFailure)
		}
		fmt.Fprintln(p.out, "nothing to do")
		return nil
	}
	if !p.o.Apply {
		if p.readOnly {
			fmt.Fprintln(p.out, "\n(the database is read-only for you: this plan is not recorded in the audit log)")
		} else {
			for _, a := range actions {
				p.log(ctx, a, nil)
			}
		}
		fmt.Fprintf(p.out, "\n%s planned; nothing changed. Run again with --apply to carry them out.\n",
			cmdutil.Plural(int64(len(actions)), "action", "actions"))
		return exitIf(plan.Err() != nil)
	}
	results := redeem.ApplyAll(ctx, backends, actions)
	fmt.Fprintln(p.out, "\napplied:")
	for _, r := range results {
		p.log(ctx, r.Action, &r)
		status := "ok"
		if !r.OK {
			status = "FAILED: " + neutral.Error(r.Err)
		}
		fmt.Fprintf(p.out, "  %s: %s\n", neutral.TerminalLine(r.Action.String()), status)
	}
	return exitIf(redeem.Failed(results) || plan.Err() != nil)
}

// recordWaiting records, for the metrics, how many trusted addresses are
// banned on this host and wait for redeem.
func (p *planner) recordWaiting(ctx context.Context, plan redeem.Plan) {
	if p.readOnly || p.o.Apply {
		return
	}
	waiting := map[netip.Addr]bool{}
	for _, e := range plan.Entries {
		if len(e.Bans) > 0 {
			waiting[e.IP] = true
		}
	}
	p.st.SetSetting(ctx, metrics.WaitingKey(p.o.Host), strconv.Itoa(len(waiting)))
}

func exitIf(failed bool) error {
	if failed {
		return cmdutil.Silent(cmdutil.ExitFailure)
	}
	return nil
}

// printErrors prints each backend's errors to w, once each: a backend
// that could not be consulted fails the same way for every address, and
// the plan on stdout only points here. An error shared by every address
// of the plan is printed without them, else with the addresses it hit.
func printErrors(w io.Writer, plan redeem.Plan) {
	type key struct{ backend, msg string }
	var order []key
	hit := map[key][]string{}
	all := map[netip.Addr]bool{}
	for _, e := range plan.Entries {
		all[e.IP] = true
		if e.Err == nil {
			continue
		}
		k := key{e.Backend, neutral.Error(e.Err)}
		if _, ok := hit[k]; !ok {
			order = append(order, k)
		}
		hit[k] = append(hit[k], e.IP.String())
	}
	for _, k := range order {
		who := k.backend
		if len(hit[k]) < len(all) || len(all) == 1 {
			who += " " + strings.Join(hit[k], ", ")
		}
		fmt.Fprintf(w, "tlsrpt: redeem: %s: %s\n", who, k.msg)
	}
}

// printPlan shows, per address, why it is redeemed, where it is banned and
// the exact commands.
func printPlan(w io.Writer, cands []assess.Candidate, plan redeem.Plan, outs map[netip.Addr]assess.Outcome) {
	if len(cands) == 0 {
		fmt.Fprintln(w, "no trusted failing address, and none named with --ip (see tlsrpt review)")
		return
	}
	cell := neutral.TerminalLine
	for _, c := range cands {
		fmt.Fprintf(w, "%s (%s)\n", c.IP, cell(c.Why))
		if o, ok := outs[c.IP]; ok {
			fmt.Fprintf(w, "  redeemed %s, outcome %s: %s\n", o.At.UTC().Format(time.RFC3339), o.Outcome, cell(o.Why))
		}
		for _, e := range plan.Entries {
			if e.IP != c.IP {
				continue
			}
			switch {
			case e.Err != nil:
				fmt.Fprintf(w, "  %s: cannot consult: see the error on stderr\n", e.Backend)
			case len(e.Bans) == 0 && len(e.Actions) == 0:
				fmt.Fprintf(w, "  %s: not banned, nothing to do\n", e.Backend)
			}
			for _, b := range e.Bans {
				fmt.Fprintf(w, "  %s: banned in %s\n", e.Backend, cell(b.Where))
			}
			for _, a := range e.Actions {
				fmt.Fprintf(w, "  %s %s: %s\n", a.Kind, a.Backend, cell(a.Describe))
				if a.Op == redeem.OpExec || a.Op == redeem.OpIPTables {
					fmt.Fprintf(w, "      %s\n", cell(strings.Join(a.Argv, " ")))
				}
			}
		}
	}
}

// log writes one planned (r nil) or applied step to the audit log.
func (p *planner) log(ctx context.Context, a redeem.Action, r *redeem.Result) {
	e := store.Action{
		Time: p.o.F.Now().UTC(), IP: a.IP, Host: p.o.Host, Backend: a.Backend, Kind: a.Kind, Target: a.Target,
		Command: neutral.LogAttr(strings.Join(a.Argv, " ")),
	}
	if r != nil {
		e.Applied, e.OK = true, r.OK
		e.Result = neutral.LogAttr(r.Output)
		if r.Err != nil {
			e.Result = neutral.Error(r.Err)
		}
	}
	if _, err := p.st.LogAction(ctx, e); err != nil {
		p.out.Flush()
		fmt.Fprintf(p.o.F.IO.ErrOut, "tlsrpt: redeem: audit log: %s\n", neutral.Error(err))
	}
}

// printLog prints the audit log, newest first.
func printLog(ctx context.Context, o *Options) error {
	st, err := o.F.OpenStoreReadOnly()
	if errors.Is(err, store.ErrNoDatabase) {
		fmt.Fprintln(o.F.IO.Out, "the audit log is empty")
		return nil
	}
	if err != nil {
		return err
	}
	defer st.Close()
	acts, err := st.Actions(ctx, 0)
	if err != nil {
		return err
	}

	w := bufio.NewWriter(o.F.IO.Out)
	defer w.Flush()
	if len(acts) == 0 {
		fmt.Fprintln(w, "the audit log is empty")
		return nil
	}
	outs, err := logOutcomes(ctx, o, st)
	if err != nil {
		return err
	}
	cell := neutral.TerminalLine
	for _, a := range acts {
		state := "planned"
		if a.Applied {
			state = "applied ok"
			if !a.OK {
				state = "applied FAILED"
			}
		}
		host := a.Host
		if host == "" {
			host = "-"
		}
		fmt.Fprintf(w, "%s %-14s %-16s %-8s %-6s %-15s %s", a.Time.UTC().Format(time.RFC3339), state, cell(host),
			a.Backend, a.Kind, a.IP, cell(a.Command))
		if a.Result != "" {
			fmt.Fprintf(w, " -> %s", cell(a.Result))
		}
		fmt.Fprintln(w)
		if out, ok := outs[a.IP.Unmap()]; ok && a.Applied && a.OK && (a.Kind == redeem.KindUnban || a.Kind == redeem.KindKeep) {
			fmt.Fprintf(w, "    outcome today: %s: %s\n", out.Outcome, cell(out.Why))
		}
	}
	return nil
}

// planOutcomes judges the earlier redeems of the plan's addresses, with the
// ban status the plan found.
func planOutcomes(ctx context.Context, st *store.Store, plan redeem.Plan, opt assess.OutcomeOptions) (map[netip.Addr]assess.Outcome, error) {
	bans := map[netip.Addr][]redeem.Ban{}
	for _, e := range plan.Entries {
		bans[e.IP.Unmap()] = append(bans[e.IP.Unmap()], e.Bans...)
	}
	return outcomeMap(assess.Outcomes(ctx, st, bans, opt))
}

// logOutcomes judges every redeemed address for redeem log, consulting
// the backends the options name or find (none: banned-again is left out).
func logOutcomes(ctx context.Context, o *Options, st *store.Store) (map[netip.Addr]assess.Outcome, error) {
	oo, err := o.OutcomeFlags.Options(o.F.Now())
	if err != nil {
		return nil, err
	}
	rs, err := st.Redeemed(ctx)
	if err != nil {
		return nil, err
	}
	return outcomeMap(assess.JudgeAll(rs, logBans(ctx, o, rs), oo), nil)
}

func outcomeMap(outs []assess.Outcome, err error) (map[netip.Addr]assess.Outcome, error) {
	if err != nil {
		return nil, err
	}
	m := make(map[netip.Addr]assess.Outcome, len(outs))
	for _, o := range outs {
		m[o.IP] = o
	}
	return m, nil
}

// logBans is where the redeemed addresses are banned now, nil when no
// backend could be consulted: the audit log is printed all the same, and
// banned-again is left out, said once on stderr.
func logBans(ctx context.Context, o *Options, rs []store.Redeemed) map[netip.Addr][]redeem.Ban {
	if len(rs) == 0 {
		return nil
	}
	backends, err := o.F.Backends.Open(ctx)
	if err == nil && len(backends) == 0 {
		return nil
	}
	var bans map[netip.Addr][]redeem.Ban
	if err == nil {
		bans, err = assess.RedeemedBans(ctx, backends, rs)
	}
	if err != nil {
		fmt.Fprintf(o.F.IO.ErrOut, "tlsrpt: redeem log: ban status not consulted, so no outcome says banned-again: %s\n", neutral.Error(err))
		return nil
	}
	return bans
}

package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"net/netip"
	"strings"
	"time"

	"github.com/tlsrpt/tlsrpt/redeem"
	"github.com/tlsrpt/tlsrpt/store"
)

func init() {
	register("redeem", "plan, and with --apply carry out, unbans of trusted senders", runRedeem)
}

// redeemFlags are the flags of tlsrpt redeem.
type redeemFlags struct {
	db       string
	apply    bool
	showLog  bool
	ips      stringList
	since    string
	trust    trustFlags
	backends backendFlags
}

func runRedeem(args []string, std stdio) int {
	var f redeemFlags
	fs := flag.NewFlagSet("tlsrpt redeem", flag.ContinueOnError)
	fs.SetOutput(std.err)
	fs.StringVar(&f.db, "db", "", "SQLite database `path` (default $TLSRPT_DB, else $XDG_STATE_HOME/tlsrpt/tlsrpt.db)")
	fs.BoolVar(&f.apply, "apply", false, "carry out the plan (without it, nothing is changed)")
	fs.BoolVar(&f.showLog, "log", false, "print the audit log of planned and applied actions, and exit")
	fs.Var(&f.ips, "ip", "also redeem this `address`, trusted or not (repeatable)")
	fs.StringVar(&f.since, "since", "", "only consider reports whose range ends after this `DATE|DURATION`")
	f.trust.register(fs)
	f.backends.register(fs)
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if fs.NArg() > 0 {
		errorf(std.err, "redeem: unexpected argument %q (name addresses with --ip)", fs.Arg(0))
		return 2
	}
	st, err := openStore(f.db)
	if err != nil {
		errorf(std.err, "redeem: %v", err)
		return 1
	}
	defer st.Close()
	ctx := context.Background()
	if f.showLog {
		return printLog(ctx, st, std)
	}
	return redeemRun(ctx, st, &f, std)
}

// candidate is an address to redeem and why.
type candidate struct {
	ip  netip.Addr
	why string
}

// candidates are the trusted failing addresses and those named with --ip.
func candidates(ctx context.Context, st *store.Store, f *redeemFlags) ([]candidate, error) {
	var out []candidate
	seen := map[netip.Addr]bool{}
	for _, s := range f.ips {
		ip, err := redeem.ParseAddr(s)
		if err != nil {
			return nil, fmt.Errorf("--ip %q: %w", s, err)
		}
		if !seen[ip] {
			seen[ip] = true
			out = append(out, candidate{ip, "named with --ip"})
		}
	}
	since, err := parseSince(f.since, now())
	if err != nil {
		return nil, err
	}
	rows, err := reviewRows(ctx, st, since)
	if err == nil {
		err = addTrust(ctx, st, &f.trust, rows)
	}
	if err != nil {
		return nil, err
	}
	for _, r := range rows {
		if r.Trusted && !seen[r.addr] {
			seen[r.addr] = true
			out = append(out, candidate{r.addr, "trusted: " + r.Why})
		}
	}
	return out, nil
}

// redeemRun makes the plan, logs it, and applies it with --apply.
func redeemRun(ctx context.Context, st *store.Store, f *redeemFlags, std stdio) int {
	cands, err := candidates(ctx, st, f)
	if err != nil {
		errorf(std.err, "redeem: %v", err)
		return 2
	}
	backends, err := f.backends.backends(ctx)
	if err != nil {
		errorf(std.err, "redeem: %v (choose others with --backend)", err)
		return 2
	}
	if len(backends) == 0 {
		errorf(std.err, "redeem: no ban backend found on this machine (fail2ban, ipqbdb, iptables); name one with --backend")
		return 2
	}
	ips := make([]netip.Addr, len(cands))
	for i, c := range cands {
		ips[i] = c.ip
	}
	plan, err := redeem.MakePlan(ctx, backends, ips)
	if err != nil {
		errorf(std.err, "redeem: %v", err)
		return 2
	}
	printPlan(std.out, cands, plan)
	actions := plan.Actions()
	for _, e := range plan {
		if e.Err != nil {
			errorf(std.err, "redeem: %s %s: %s", e.Backend, e.IP, oneLineErr(e.Err))
		}
	}
	if len(actions) == 0 {
		if plan.Err() != nil {
			fmt.Fprintln(std.out, "nothing planned: a backend could not be consulted")
			return 1
		}
		fmt.Fprintln(std.out, "nothing to do")
		return 0
	}
	if !f.apply {
		for _, a := range actions {
			logAction(ctx, st, a, nil, std)
		}
		fmt.Fprintf(std.out, "\n%d actions planned; nothing changed. Run again with --apply to carry them out.\n", len(actions))
		return exitIf(plan.Err() != nil)
	}
	results := redeem.ApplyAll(ctx, backends, actions)
	fmt.Fprintln(std.out, "\napplied:")
	for _, r := range results {
		logAction(ctx, st, r.Action, &r, std)
		status := "ok"
		if !r.OK {
			status = "FAILED: " + oneLineErr(r.Err)
		}
		fmt.Fprintf(std.out, "  %s: %s\n", r.Action.Describe, status)
	}
	return exitIf(redeem.Failed(results) || plan.Err() != nil)
}

func exitIf(failed bool) int {
	if failed {
		return 1
	}
	return 0
}

func oneLineErr(err error) string {
	if err == nil {
		return "failed"
	}
	return strings.Join(strings.Fields(err.Error()), " ")
}

// printPlan shows, per address, why it is redeemed, where it is banned and
// the exact commands.
func printPlan(w io.Writer, cands []candidate, plan redeem.Plan) {
	if len(cands) == 0 {
		fmt.Fprintln(w, "no trusted failing address, and none named with --ip (see tlsrpt review)")
		return
	}
	for _, c := range cands {
		fmt.Fprintf(w, "%s (%s)\n", c.ip, c.why)
		for _, e := range plan {
			if e.IP != c.ip {
				continue
			}
			switch {
			case e.Err != nil:
				fmt.Fprintf(w, "  %s: cannot consult: %s\n", e.Backend, oneLineErr(e.Err))
			case len(e.Bans) == 0 && len(e.Actions) == 0:
				fmt.Fprintf(w, "  %s: not banned, nothing to do\n", e.Backend)
			}
			for _, b := range e.Bans {
				fmt.Fprintf(w, "  %s: banned in %s\n", e.Backend, b.Where)
			}
			for _, a := range e.Actions {
				fmt.Fprintf(w, "  %s %s: %s\n", a.Kind, a.Backend, a.Describe)
				if a.Op == redeem.OpExec || a.Op == redeem.OpIPTables {
					fmt.Fprintf(w, "      %s\n", strings.Join(a.Argv, " "))
				}
			}
		}
	}
}

// logAction writes one planned (r nil) or applied action to the audit log.
func logAction(ctx context.Context, st *store.Store, a redeem.Action, r *redeem.Result, std stdio) {
	e := store.Action{
		Time: now().UTC(), IP: a.IP, Backend: a.Backend, Kind: a.Kind, Target: a.Target,
		Command: strings.Join(a.Argv, " "),
	}
	if r != nil {
		e.Applied, e.OK = true, r.OK
		e.Result = strings.Join(strings.Fields(r.Output), " ")
		if r.Err != nil {
			e.Result = oneLineErr(r.Err)
		}
	}
	if _, err := st.LogAction(ctx, e); err != nil {
		errorf(std.err, "redeem: audit log: %v", err)
	}
}

// printLog prints the audit log, newest first.
func printLog(ctx context.Context, st *store.Store, std stdio) int {
	acts, err := st.Actions(ctx, 0)
	if err != nil {
		errorf(std.err, "redeem --log: %v", err)
		return 1
	}
	if len(acts) == 0 {
		fmt.Fprintln(std.out, "the audit log is empty")
		return 0
	}
	for _, a := range acts {
		state := "planned"
		if a.Applied {
			state = "applied ok"
			if !a.OK {
				state = "applied FAILED"
			}
		}
		fmt.Fprintf(std.out, "%s %-14s %-8s %-6s %-15s %s", a.Time.UTC().Format(time.RFC3339), state, a.Backend, a.Kind, a.IP, a.Command)
		if a.Result != "" {
			fmt.Fprintf(std.out, " -> %s", a.Result)
		}
		fmt.Fprintln(std.out)
	}
	return 0
}

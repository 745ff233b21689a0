// Package digest is the tlsrpt digest command: the text of the daily mail,
// printed only when something is notable.
package digest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/netip"
	"time"

	"github.com/spf13/cobra"

	"github.com/tlsrpt/tlsrpt/assess"
	"github.com/tlsrpt/tlsrpt/digest"
	"github.com/tlsrpt/tlsrpt/internal/cmd/cmdutil"
	"github.com/tlsrpt/tlsrpt/internal/cmd/diagnose"
	"github.com/tlsrpt/tlsrpt/neutral"
	"github.com/tlsrpt/tlsrpt/probe"
	"github.com/tlsrpt/tlsrpt/redeem"
	"github.com/tlsrpt/tlsrpt/store"
)

// Options are digest's options.
type Options struct {
	F          *cmdutil.Factory
	Since      string
	QuietAfter time.Duration
	Always     bool
	NoPlan     bool
	NoRecord   bool
	Host       string
	NoProbe    bool
	Domains    []string
	diagnose.ProbeOptions
}

// NewCmdDigest returns the digest command; runF, when not nil, replaces
// the work.
func NewCmdDigest(f *cmdutil.Factory, runF func(*Options) error) *cobra.Command {
	opts := &Options{F: f}
	cmd := &cobra.Command{
		Use:   "digest",
		Short: "Print what changed since the last digest; nothing when nothing is notable",
		Long: `Prints the text of a daily mail: new failing addresses since the last digest (or
--since), known addresses with more failures, reporters gone quiet (reported
regularly, then nothing for --quiet-after), failure rates that moved per policy
domain, the outcomes of redeemed addresses that changed since the last digest
(banned again and still failing first), the checks of tlsrpt diagnose that fail for the result types new since
the last digest (in authenticated reports only; --no-probe leaves them out),
the redeem plan of this host, and of DMARC aggregate reports the reporters
whose share of messages failing DMARC rose and the sources newly failing
DMARC for our domains (--domain, else the policy domains of the DMARC
reports), from authenticated reports only. Prints nothing and exits 0 when nothing
is notable (--always prints anyway), so that cron and the systemd timer in
contrib/systemd mail only when there is news. Each run records its time for the
next one (per --host), unless --since or --no-record is given. A database that
does not exist yet is never created: nothing is notable then.`,
		Example: `  tlsrpt digest
  tlsrpt digest --since 7d --always --no-record`,
		Args: cmdutil.NoArgs,
		RunE: cmdutil.RunE(opts, nil, runF, Run),
	}
	fl := cmd.Flags()
	fl.StringVar(&opts.Since, "since", "", "start of the span, a `DATE|DURATION` (default: the last digest of this host, else 24h)")
	cmdutil.DurationVar(fl, &opts.QuietAfter, "quiet-after", digest.DefaultQuietAfter, "a regular reporter silent this long has gone quiet")
	fl.BoolVar(&opts.Always, "always", false, "print even when nothing is notable")
	fl.BoolVar(&opts.NoPlan, "no-plan", false, "leave out the redeem plan (and consult no ban backend)")
	fl.BoolVar(&opts.NoRecord, "no-record", false, "do not record this digest as the last one")
	cmdutil.HostVar(fl, &opts.Host)
	fl.BoolVar(&opts.NoProbe, "no-probe", false, "run no checks of tlsrpt diagnose (connect to no MX host or policy server)")
	fl.StringVar(&opts.CAFile, "ca-file", "", "for the checks, trust the roots in this PEM `file` too (a private CA)")
	fl.DurationVar(&opts.Timeout, "probe-timeout", probe.DefaultTimeout, "bound each DNS query, SMTP session and policy fetch of the checks by this `DURATION`")
	fl.StringArrayVar(&opts.Domains, "domain", nil, "one of our `DOMAIN`s: sources failing DMARC as it or under it are named (repeatable; default: the policy domains of the authenticated DMARC reports)")
	f.Backends.AddFlags(fl)
	return cmd
}

// Run prints the digest when it is notable.
func Run(ctx context.Context, o *Options) error {
	var err error
	if o.Host, err = cmdutil.HostName(o.Host); err != nil {
		return err
	}
	now := o.F.Now().UTC()
	since, err := cmdutil.ParseSince(o.Since, now)
	if err != nil {
		return err
	}
	// Never created (a digest run by root first must not make the shared
	// store root's): to write, for the record of this digest, else, when
	// this user may not write it, to read.
	st, readOnly, err := o.F.OpenStoreExistingOrRead(true)
	if errors.Is(err, store.ErrNoDatabase) {
		// Nothing recorded yet is nothing notable; the timer stays quiet.
		if o.Always {
			fmt.Fprintln(o.F.IO.Out, "no reports recorded yet: tlsrpt filter or tlsrpt import creates the database")
		}
		return nil
	}
	if err != nil {
		return err
	}
	defer st.Close()
	for _, d := range o.Domains {
		if !probe.ValidDomain(d) {
			return cmdutil.UsageErrorf("--domain %q is not a domain name (give a domain such as example.org)", neutral.TerminalCell(d))
		}
	}
	opt := digest.Options{Since: since, Now: now, QuietAfter: o.QuietAfter, Host: o.Host, Domains: o.Domains}
	if opt.Prober, err = o.prober(); err != nil {
		return err
	}
	if !o.NoPlan {
		backends, err := o.F.Backends.Open(ctx)
		if err != nil {
			return err
		}
		if opt.Plan, err = planText(ctx, o, st, backends); err != nil {
			return err
		}
		if opt.Bans, err = redeemedBans(ctx, st, backends); err != nil {
			return err
		}
	}
	d, err := digest.Compute(ctx, st, opt)
	if err != nil {
		return err
	}
	if d.Notable() || o.Always {
		if err := d.WriteText(o.F.IO.Out); err != nil {
			return err
		}
	}
	if o.Since == "" && !o.NoRecord {
		if readOnly {
			fmt.Fprintf(o.F.IO.ErrOut, "tlsrpt: digest: not recorded as the last digest: %s cannot be written by this user (run as its owner, or give --no-record)\n", st.File())
			return nil
		}
		return digest.RecordSent(ctx, st, o.Host, d)
	}
	return nil
}

// prober is the prober of the checks, nil with --no-probe.
func (o *Options) prober() (*probe.Prober, error) {
	if o.NoProbe {
		return nil, nil
	}
	return o.ProbeOptions.Prober(o.F, "--probe-timeout")
}

// planText is the redeem plan of the trusted failing addresses banned on
// this host, "" when there is nothing to do or no backend here.
func planText(ctx context.Context, o *Options, st *store.Store, backends []redeem.Backend) (string, error) {
	if len(backends) == 0 {
		return "", nil
	}
	checker, err := o.F.Trust.Checker(st)
	if err != nil {
		return "", err
	}
	rows, err := assess.Review(ctx, st, assess.Options{Checker: checker})
	if err != nil {
		return "", err
	}
	cands := assess.Candidates(nil, rows)
	if len(cands) == 0 {
		return "", nil
	}
	plan, err := assess.Plan(ctx, backends, cands)
	if err != nil {
		return "", err
	}
	var b bytes.Buffer
	for _, e := range plan.Entries {
		for _, a := range e.Actions {
			fmt.Fprintf(&b, "%s: %s\n", e.IP, a.String())
		}
	}
	if b.Len() > 0 {
		b.WriteString("carry it out: tlsrpt redeem --apply\n")
	}
	return b.String(), nil
}

// redeemedBans is where the redeemed addresses are banned now, for the
// banned-again outcome; nil without a ban backend here.
func redeemedBans(ctx context.Context, st *store.Store, backends []redeem.Backend) (map[netip.Addr][]redeem.Ban, error) {
	if len(backends) == 0 {
		return nil, nil
	}
	rs, err := st.Redeemed(ctx)
	if err != nil || len(rs) == 0 {
		return nil, err
	}
	return assess.RedeemedBans(ctx, backends, rs)
}

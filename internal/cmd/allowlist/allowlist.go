// Package allowlist is the tlsrpt allowlist command: check an address
// against the too-big-to-block senders (fail2ban's ignorecommand), or
// export their ranges.
package allowlist

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net/netip"

	"github.com/spf13/cobra"

	"github.com/tlsrpt/tlsrpt/allowlist"
	"github.com/tlsrpt/tlsrpt/internal/cmd/cmdutil"
	"github.com/tlsrpt/tlsrpt/internal/pkgerr"
	"github.com/tlsrpt/tlsrpt/neutral"
	"github.com/tlsrpt/tlsrpt/store"
)

// NewCmdAllowlist returns the allowlist command with check and export.
func NewCmdAllowlist(f *cmdutil.Factory) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "allowlist",
		Short: "Check an address against the too-big-to-block senders, or export the list",
		Long: `The allowlist names senders too big to block, with what proves that an address is
theirs: ip: ranges, spf: domains, rdns: suffixes of their outbound hosts. The
built-in list (allowlist/default.list) can be extended with --allowlist FILE and
dropped with --no-default-allowlist.`,
		Args: func(cmd *cobra.Command, args []string) error {
			if len(args) > 0 {
				return cmdutil.UsageErrorf("unknown subcommand %q: want check or export (see tlsrpt allowlist --help)", args[0])
			}
			return cmdutil.UsageErrorf("want a subcommand: check IP, or export --format fail2ban|postscreen|cidr")
		},
		RunE: func(*cobra.Command, []string) error { return nil },
	}
	cmd.AddCommand(NewCmdCheck(f, nil), NewCmdExport(f, nil))
	return cmd
}

// CheckOptions are allowlist check's options.
type CheckOptions struct {
	F       *cmdutil.Factory
	IP      netip.Addr
	Verbose bool // the whole reason, not cut to a table cell
}

// NewCmdCheck returns allowlist check.
func NewCmdCheck(f *cmdutil.Factory, runF func(*CheckOptions) error) *cobra.Command {
	opts := &CheckOptions{F: f}
	cmd := &cobra.Command{
		Use:   "check IP",
		Short: "Exit 0 when IP belongs to a too-big-to-block sender, 1 when not, 3 when DNS failed",
		Long: `Checks one address against the allowlist: exit 0 when it is proven to belong to a
listed sender (usable as fail2ban's ignorecommand: the ban is skipped), 1 when not,
3 when DNS failed and no cached answer could decide (fail2ban then bans, as it
would without tlsrpt, and the reason goes to standard error). The check reads
no database and never creates one: DNS answers are cached in a file of its own,
check-cache.db in this user's state folder ($XDG_STATE_HOME/tlsrpt), so that a
database server away never stalls fail2ban; all lookups share a 2 s budget.
The reason is cut to 120 characters; --verbose prints it whole.`,
		Example: `  tlsrpt allowlist check 209.85.220.41
  tlsrpt allowlist check -v 198.51.100.7
  ignorecommand = /usr/local/bin/tlsrpt allowlist check <ip>     # fail2ban jail.d`,
		Args: cmdutil.ExactArgs(1, "one IP address", "tlsrpt allowlist check 209.85.220.41"),
		RunE: cmdutil.RunE(opts, func(cmd *cobra.Command, args []string) error {
			ip, err := netip.ParseAddr(args[0])
			if err != nil || ip.Zone() != "" {
				return cmdutil.UsageErrorf("%q is not an IP address", neutral.TerminalCell(args[0]))
			}
			opts.IP = ip.Unmap()
			return nil
		}, runF, RunCheck),
	}
	cmd.Flags().BoolVarP(&opts.Verbose, "verbose", "v", false, "print the whole reason, not only its first 120 characters")
	return cmd
}

// RunCheck checks the address and exits as fail2ban's ignorecommand wants.
func RunCheck(ctx context.Context, o *CheckOptions) error {
	budget := func(ctx context.Context, c *allowlist.Checker) (context.Context, context.CancelFunc) {
		return c.Resolver.WithBudget(ctx)
	}
	return checking(ctx, o.F, budget, func(ctx context.Context, c *allowlist.Checker) error {
		return check(ctx, o, c)
	})
}

// check checks the address with c and says the verdict.
func check(ctx context.Context, o *CheckOptions, c *allowlist.Checker) error {
	v := c.Check(ctx, o.IP)
	why := neutral.TerminalCell(v.Why)
	if o.Verbose {
		why = neutral.TerminalLine(v.Why)
	}
	if v.Trusted {
		fmt.Fprintf(o.F.IO.Out, "%s: trusted: %s\n", o.IP, why)
		return nil
	}
	fmt.Fprintf(o.F.IO.Out, "%s: not trusted: %s\n", o.IP, why)
	if v.DNSFailed {
		fmt.Fprintf(o.F.IO.ErrOut, "tlsrpt: allowlist check: DNS failed for %s: %s (check --resolver; fail2ban bans as it would without tlsrpt)\n",
			o.IP, why)
		return cmdutil.Silent(cmdutil.ExitDNS)
	}
	return cmdutil.Silent(cmdutil.ExitNotTrusted)
}

// checking runs do with the trust checker of check and export, on their
// DNS cache (checkCache), and ctx as bound bounds it; then it closes the
// cache.
func checking(ctx context.Context, f *cmdutil.Factory, bound func(context.Context, *allowlist.Checker) (context.Context, context.CancelFunc),
	do func(context.Context, *allowlist.Checker) error) error {
	cache, done := checkCache(f)
	defer done()
	c, err := f.Trust.Checker(cache)
	if err != nil {
		return err // a file that cannot be read: exit 1, not a usage error
	}
	ctx, cancel := bound(ctx, c)
	defer cancel()
	return do(ctx, c)
}

// checkCache opens the DNS cache of check and export: a file of its own
// in this user's state folder (Factory.CheckCachePath), never the shared
// database, which check (fail2ban's ignorecommand, run as root) must
// neither create nor write. No cache is no reason to fail.
func checkCache(f *cmdutil.Factory) (allowlist.Cache, func()) {
	path, err := f.CheckCachePath()
	if err != nil {
		return nil, func() {}
	}
	st, err := store.Open(path)
	if err != nil {
		st, err = store.OpenReadOnly(path)
	}
	if err != nil {
		return nil, func() {}
	}
	return st, func() { st.Close() }
}

// ExportOptions are allowlist export's options.
type ExportOptions struct {
	F      *cmdutil.Factory
	Format string
}

// NewCmdExport returns allowlist export.
func NewCmdExport(f *cmdutil.Factory, runF func(*ExportOptions) error) *cobra.Command {
	opts := &ExportOptions{F: f}
	cmd := &cobra.Command{
		Use:   "export",
		Short: "Print the allowlist's ranges, SPF expanded, for fail2ban, postscreen or as CIDR",
		Example: `  tlsrpt allowlist export --format fail2ban > /etc/fail2ban/jail.d/tlsrpt-ignoreip.local
  tlsrpt allowlist export --format postscreen > /etc/postfix/postscreen_tlsrpt.cidr`,
		Args: cmdutil.NoArgs,
		RunE: cmdutil.RunE(opts, func(cmd *cobra.Command, args []string) error {
			switch opts.Format {
			case "cidr", "fail2ban", "postscreen":
			default:
				return cmdutil.UsageErrorf("unknown --format %q: want cidr, fail2ban or postscreen", opts.Format)
			}
			return nil
		}, runF, RunExport),
	}
	cmd.Flags().StringVar(&opts.Format, "format", "cidr", "output `format`: cidr, fail2ban (an ignoreip line) or postscreen (a cidr access table)")
	return cmd
}

// RunExport prints the ranges.
func RunExport(ctx context.Context, o *ExportOptions) error {
	bound := func(ctx context.Context, _ *allowlist.Checker) (context.Context, context.CancelFunc) {
		return context.WithTimeout(ctx, 10*allowlist.DefaultBudget)
	}
	return checking(ctx, o.F, bound, func(ctx context.Context, c *allowlist.Checker) error {
		w := bufio.NewWriter(o.F.IO.Out)
		if err := c.List.Export(ctx, o.Format, c.Resolver, w); err != nil {
			w.Flush()
			return exportErrors(o.F.IO.ErrOut, err)
		}
		return w.Flush()
	})
}

// exportErrors prints each SPF domain that could not be expanded on a
// line of its own, then their count: joined, 17 of them made one line of
// 3 KB.
func exportErrors(w io.Writer, err error) error {
	errs := []error{err}
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		errs = j.Unwrap()
	}
	if len(errs) == 1 {
		return fmt.Errorf("%w (the output lacks its ranges; check --resolver)", errs[0])
	}
	for _, e := range errs {
		fmt.Fprintf(w, "tlsrpt: allowlist export: %s\n", neutral.TerminalLine(pkgerr.TrimPackage(e, e.Error())))
	}
	return &cmdutil.ExitError{Code: cmdutil.ExitFailure,
		Err: fmt.Errorf("%d SPF domains could not be expanded: the output lacks their ranges (check --resolver)", len(errs))}
}

package main

import (
	"context"
	"flag"
	"fmt"
	"net/netip"

	"github.com/tlsrpt/tlsrpt/allowlist"
)

func init() {
	register("allowlist", "check an address against the too-big-to-block list, or export the list", runAllowlist)
}

func runAllowlist(args []string, std stdio) int {
	if len(args) == 0 {
		errorf(std.err, "allowlist: want a subcommand: check IP, or export --format fail2ban|postscreen|cidr")
		return 2
	}
	switch args[0] {
	case "check":
		return runAllowlistCheck(args[1:], std)
	case "export":
		return runAllowlistExport(args[1:], std)
	}
	errorf(std.err, "allowlist: unknown subcommand %q: want check or export", args[0])
	return 2
}

// allowlistFlags parses the flags common to check and export.
func allowlistFlags(name string, args []string, std stdio, extra func(*flag.FlagSet)) (*trustFlags, string, []string, bool) {
	var t trustFlags
	fs := flag.NewFlagSet("tlsrpt allowlist "+name, flag.ContinueOnError)
	fs.SetOutput(std.err)
	db := fs.String("db", "", "SQLite database `path` used as DNS cache (default $TLSRPT_DB, else $XDG_STATE_HOME/tlsrpt/tlsrpt.db)")
	t.register(fs)
	if extra != nil {
		extra(fs)
	}
	if err := fs.Parse(args); err != nil {
		return nil, "", nil, false
	}
	return &t, *db, fs.Args(), true
}

// cachedChecker loads the allowlist, with the database as DNS cache when
// it can be opened (without one, lookups are not cached, which is no reason
// to fail). done closes the database.
func (t *trustFlags) cachedChecker(db string) (c *allowlist.Checker, done func(), err error) {
	st, err := openStore(db)
	if err != nil {
		st = nil
	}
	done = func() {
		if st != nil {
			st.Close()
		}
	}
	c, err = t.checker(st)
	if err != nil {
		done()
		return nil, nil, err
	}
	return c, done, nil
}

// runAllowlistCheck exits 0 when the address belongs to a too-big-to-block
// sender, 1 when not: usable as fail2ban's ignorecommand.
func runAllowlistCheck(args []string, std stdio) int {
	t, db, rest, ok := allowlistFlags("check", args, std, nil)
	if !ok {
		return 2
	}
	if len(rest) != 1 {
		errorf(std.err, "allowlist check: want one IP address, e.g. tlsrpt allowlist check 209.85.220.41")
		return 2
	}
	ip, err := netip.ParseAddr(rest[0])
	if err != nil || ip.Zone() != "" {
		errorf(std.err, "allowlist check: %q is not an IP address", rest[0])
		return 2
	}
	c, done, err := t.cachedChecker(db)
	if err != nil {
		errorf(std.err, "allowlist check: %v", err)
		return 2
	}
	defer done()
	ctx, cancel := c.Resolver.WithBudget(context.Background())
	defer cancel()
	v := c.Check(ctx, ip.Unmap())
	if v.Trusted {
		fmt.Fprintf(std.out, "%s: trusted: %s\n", ip.Unmap(), v.Why)
		return 0
	}
	fmt.Fprintf(std.out, "%s: not trusted: %s\n", ip.Unmap(), v.Why)
	return 1
}

// runAllowlistExport prints the ranges of the allowlist, SPF expanded.
func runAllowlistExport(args []string, std stdio) int {
	var format string
	t, db, rest, ok := allowlistFlags("export", args, std, func(fs *flag.FlagSet) {
		fs.StringVar(&format, "format", "cidr", "output `format`: cidr, fail2ban (an ignoreip line) or postscreen (a cidr access table)")
	})
	if !ok {
		return 2
	}
	if len(rest) != 0 {
		errorf(std.err, "allowlist export: unexpected argument %q", rest[0])
		return 2
	}
	switch format {
	case "cidr", "fail2ban", "postscreen":
	default:
		errorf(std.err, "allowlist export: unknown --format %q: want cidr, fail2ban or postscreen", format)
		return 2
	}
	c, done, err := t.cachedChecker(db)
	if err != nil {
		errorf(std.err, "allowlist export: %v", err)
		return 2
	}
	defer done()
	ctx, cancel := context.WithTimeout(context.Background(), 10*allowlist.DefaultBudget)
	defer cancel()
	if err := c.List.Export(ctx, format, c.Resolver, std.out); err != nil {
		errorf(std.err, "allowlist export: %v (the output lacks the ranges named; check --resolver)", err)
		return 1
	}
	return 0
}

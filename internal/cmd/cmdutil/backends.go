package cmdutil

import (
	"context"
	"errors"
	"fmt"

	"github.com/spf13/pflag"

	"github.com/tlsrpt/tlsrpt/redeem"
)

// BackendOptions choose and configure the ban backends, for the commands
// that read or change bans (review, redeem, dashboard, digest).
type BackendOptions struct {
	Names           []string
	Fail2banSocket  string
	Fail2banConfig  string
	Fail2banJailD   string
	Fail2banReload  bool
	Chains          []string
	IPQBDBBin       string
	IPQBDBCommands  string
	IPQBDBNoProbe   bool
	IPQBDBThreshold string
}

// AddFlags defines the backend flags on fs.
func (b *BackendOptions) AddFlags(fs *pflag.FlagSet) {
	fs.StringArrayVar(&b.Names, "backend", nil, "consult this ban `backend`: fail2ban, ipqbdb or iptables (repeatable; default every one installed here)")
	fs.StringVar(&b.Fail2banSocket, "fail2ban-socket", "", "fail2ban server socket `path` (default fail2ban-client's own)")
	fs.StringVar(&b.Fail2banConfig, "fail2ban-config", "", "fail2ban configuration `dir` (default /etc/fail2ban)")
	fs.StringVar(&b.Fail2banJailD, "fail2ban-jaild", "", "`dir` for the tlsrpt-redeemed.local drop-in (default /etc/fail2ban/jail.d)")
	fs.BoolVar(&b.Fail2banReload, "fail2ban-reload", false, "reload each jail after writing the drop-in")
	fs.StringArrayVar(&b.Chains, "chain", nil, "also look for bans in this iptables `chain` (repeatable; f2b-* chains always)")
	fs.StringVar(&b.IPQBDBBin, "ipqbdb-bin", "", "`dir` of the ipqbdb programs (default $PATH)")
	fs.StringVar(&b.IPQBDBCommands, "ipqbdb-commands", "", "ipqbdb command lines from this `file` instead of the built-in ones (see contrib/ipqbdb/commands.conf)")
	fs.BoolVar(&b.IPQBDBNoProbe, "ipqbdb-no-probe", false, "UNSAFE: do not check the ipqbdb command lines against each program's --help before running them")
	fs.StringVar(&b.IPQBDBThreshold, "ipqbdb-threshold", "1%", "an ipqbdb block record counts as a ban above this `probability` (25%, 0.25)")
}

// all returns every backend by name, configured from the flags.
func (b *BackendOptions) all() (map[string]redeem.Backend, error) {
	q := redeem.IPQBDBOptions{BinDir: b.IPQBDBBin, NoProbe: b.IPQBDBNoProbe}
	if b.IPQBDBCommands != "" {
		cmds, err := redeem.LoadIPQBDBCommands(b.IPQBDBCommands)
		if err != nil {
			return nil, err // exit 1: a file, not the command line, is wrong
		}
		q.Commands = cmds
	}
	th, err := redeem.ParseIPQBDBThreshold(b.IPQBDBThreshold)
	if err != nil {
		return nil, UsageErrorf("--ipqbdb-threshold: %w", err)
	}
	q.Threshold = th
	return map[string]redeem.Backend{
		"fail2ban": redeem.NewFail2ban(redeem.Fail2banOptions{
			Socket: b.Fail2banSocket, Config: b.Fail2banConfig, JailD: b.Fail2banJailD, Reload: b.Fail2banReload,
		}),
		"iptables": redeem.NewIPTables(redeem.IPTablesOptions{Chains: b.Chains}),
		"ipqbdb":   redeem.NewIPQBDB(q),
	}, nil
}

// Open returns the backends named with --backend, each of which must be
// available (an error otherwise), or, when none is named, every backend
// installed here: one that is installed but down (fail2ban's server
// stopped) is kept, so that its status comes out unknown, never "not
// banned".
func (b *BackendOptions) Open(ctx context.Context) ([]redeem.Backend, error) {
	all, err := b.all()
	if err != nil {
		return nil, err
	}
	var out []redeem.Backend
	if len(b.Names) == 0 {
		for _, n := range []string{"fail2ban", "ipqbdb", "iptables"} {
			if err := all[n].Available(ctx); err == nil || !errors.Is(err, redeem.ErrNotInstalled) {
				out = append(out, all[n])
			}
		}
		return out, nil
	}
	seen := map[string]bool{}
	for _, n := range b.Names {
		be, ok := all[n]
		if !ok {
			return nil, UsageErrorf("unknown backend %q: want fail2ban, ipqbdb or iptables", n)
		}
		if seen[n] {
			continue
		}
		seen[n] = true
		if err := be.Available(ctx); err != nil {
			return nil, fmt.Errorf("backend %s: %w (choose others with --backend)", n, err)
		}
		out = append(out, be)
	}
	return out, nil
}

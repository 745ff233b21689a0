package main

import (
	"context"
	"flag"
	"fmt"
	"strings"

	"github.com/tlsrpt/tlsrpt/redeem"
)

// backendFlags choose and configure the ban backends, for review and
// redeem.
type backendFlags struct {
	names          stringList
	fail2banSocket string
	fail2banConfig string
	fail2banJailD  string
	fail2banReload bool
	chains         stringList
	ipqbdbBin      string
	ipqbdbDB       string
}

func (b *backendFlags) register(fs *flag.FlagSet) {
	fs.Var(&b.names, "backend", "consult this ban `backend`: fail2ban, ipqbdb or iptables (repeatable; default every one found on this machine)")
	fs.StringVar(&b.fail2banSocket, "fail2ban-socket", "", "fail2ban server socket `path` (default fail2ban-client's own)")
	fs.StringVar(&b.fail2banConfig, "fail2ban-config", "", "fail2ban configuration `dir` (default /etc/fail2ban)")
	fs.StringVar(&b.fail2banJailD, "fail2ban-jaild", "", "`dir` for the tlsrpt-redeemed.local drop-in (default /etc/fail2ban/jail.d)")
	fs.BoolVar(&b.fail2banReload, "fail2ban-reload", false, "reload each jail after writing the drop-in")
	fs.Var(&b.chains, "chain", "also look for bans in this iptables `chain` (repeatable; f2b-* chains always)")
	fs.StringVar(&b.ipqbdbBin, "ipqbdb-bin", "", "`dir` of ibd-del and ibd-white (default $PATH)")
	fs.StringVar(&b.ipqbdbDB, "ipqbdb-db", "", "ipqbdb database `dir` (default the tools' own)")
}

// all returns every backend by name, configured from the flags.
func (b *backendFlags) all() map[string]redeem.Backend {
	return map[string]redeem.Backend{
		"fail2ban": redeem.NewFail2ban(redeem.Fail2banOptions{
			Socket: b.fail2banSocket, Config: b.fail2banConfig, JailD: b.fail2banJailD, Reload: b.fail2banReload,
		}),
		"iptables": redeem.NewIPTables(redeem.IPTablesOptions{Chains: b.chains}),
		"ipqbdb":   redeem.NewIPQBDB(redeem.IPQBDBOptions{BinDir: b.ipqbdbBin, DBPath: b.ipqbdbDB}),
	}
}

// backends returns the backends named with --backend, each of which must
// be available, or, when none is named, every available one.
func (b *backendFlags) backends(ctx context.Context) ([]redeem.Backend, error) {
	all := b.all()
	var out []redeem.Backend
	if len(b.names) == 0 {
		for _, n := range []string{"fail2ban", "ipqbdb", "iptables"} {
			if all[n].Available(ctx) == nil {
				out = append(out, all[n])
			}
		}
		return out, nil
	}
	for _, n := range b.names {
		be, ok := all[n]
		if !ok {
			return nil, fmt.Errorf("unknown backend %q: want fail2ban, ipqbdb or iptables", n)
		}
		if err := be.Available(ctx); err != nil {
			return nil, fmt.Errorf("backend %s: %w", n, err)
		}
		out = append(out, be)
	}
	return out, nil
}

// banJSON is one ban in review's JSON.
type banJSON struct {
	Backend string `json:"backend"`
	Where   string `json:"where"`
	Detail  string `json:"detail,omitempty"`
}

func bansText(bans []banJSON) string {
	if len(bans) == 0 {
		return "-"
	}
	var s []string
	for _, b := range bans {
		s = append(s, b.Backend+":"+b.Where)
	}
	return strings.Join(s, ",")
}

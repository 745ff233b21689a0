package redeem

import (
	"context"
	"fmt"
	"net/netip"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
)

// IPQBDBOptions configures the ipqbdb backend. The zero value runs ibd-del
// and ibd-white from $PATH on their default database directory.
type IPQBDBOptions struct {
	BinDir string // directory of ibd-del and ibd-white; default: $PATH
	DBPath string // database directory passed as --db-path; default: the tools' own
	Run    Runner // default ExecRunner
}

// IPQBDB is the ipqbdb backend (https://www.tana.it/sw/ipqbdb/, by
// Alessandro Vesely). ipqbdb's block database holds IPv4 records only, so
// IPv6 addresses are never banned there.
//
// The command lines are NOT verified against a real ipqbdb, which Debian
// does not package; they follow the interface of the stand-in scripts in
// contrib/ipqbdb-standin, and are built only in the argv functions below:
//
//	ibd-del   [--db-path DIR] --list      list block records, one a line, address first
//	ibd-del   [--db-path DIR] --ip ADDR   delete ADDR's block record
//	ibd-white [--db-path DIR] --list      list whitelist records, address first
//	ibd-white [--db-path DIR] --ip ADDR   whitelist ADDR
type IPQBDB struct{ opts IPQBDBOptions }

// NewIPQBDB returns the ipqbdb backend.
func NewIPQBDB(opts IPQBDBOptions) *IPQBDB {
	if opts.Run == nil {
		opts.Run = ExecRunner
	}
	return &IPQBDB{opts: opts}
}

// Name returns "ipqbdb".
func (q *IPQBDB) Name() string { return "ipqbdb" }

func (q *IPQBDB) bin(tool string) string {
	if q.opts.BinDir == "" {
		return tool
	}
	return filepath.Join(q.opts.BinDir, tool)
}

func (q *IPQBDB) argv(tool string, args ...string) []string {
	argv := []string{q.bin(tool)}
	if q.opts.DBPath != "" {
		argv = append(argv, "--db-path", q.opts.DBPath)
	}
	return append(argv, args...)
}

func (q *IPQBDB) listArgv(tool string) []string { return q.argv(tool, "--list") }

func (q *IPQBDB) delArgv(ip netip.Addr) []string { return q.argv("ibd-del", "--ip", ip.String()) }

func (q *IPQBDB) whiteArgv(ip netip.Addr) []string { return q.argv("ibd-white", "--ip", ip.String()) }

// Available checks that ibd-del and ibd-white can be found.
func (q *IPQBDB) Available(ctx context.Context) error {
	for _, tool := range []string{"ibd-del", "ibd-white"} {
		if _, err := exec.LookPath(q.bin(tool)); err != nil {
			return fmt.Errorf("looking for %q: %w: %v", q.bin(tool), ErrUnavailable, err)
		}
	}
	return nil
}

// records runs a listing and returns the lines whose first word is ip.
func (q *IPQBDB) records(ctx context.Context, tool string, ip netip.Addr) ([]string, error) {
	argv := q.listArgv(tool)
	out, err := q.opts.Run(ctx, argv[0], argv[1:]...)
	if err != nil {
		return nil, fmt.Errorf("listing with %s: %w", tool, err)
	}
	var lines []string
	for _, line := range strings.Split(string(out), "\n") {
		f := strings.Fields(line)
		if len(f) == 0 {
			continue
		}
		if a, err := netip.ParseAddr(f[0]); err == nil && a.Unmap() == ip {
			lines = append(lines, strings.TrimSpace(line))
		}
	}
	return lines, nil
}

// Banned returns ip's block record, found in ibd-del's listing.
func (q *IPQBDB) Banned(ctx context.Context, ip netip.Addr) ([]Ban, error) {
	ip, err := CheckAddr(ip)
	if err != nil {
		return nil, err
	}
	if !ip.Is4() {
		return nil, nil
	}
	lines, err := q.records(ctx, "ibd-del", ip)
	if err != nil {
		return nil, err
	}
	var bans []Ban
	for _, l := range lines {
		bans = append(bans, Ban{Backend: q.Name(), Where: "ipqbdb block record", Detail: l, IP: ip})
	}
	return bans, nil
}

// Plan returns: whitelist ip unless ibd-white lists it already (first, so
// ibd-parse cannot ban it again meanwhile), then delete its block record
// when it has one.
func (q *IPQBDB) Plan(ctx context.Context, ip netip.Addr, bans []Ban) ([]Action, error) {
	ip, err := CheckAddr(ip)
	if err != nil {
		return nil, err
	}
	banned := slices.ContainsFunc(bans, func(b Ban) bool { return b.Backend == q.Name() && b.IP == ip })
	if !ip.Is4() {
		return nil, nil
	}
	white, err := q.records(ctx, "ibd-white", ip)
	if err != nil {
		return nil, err
	}
	if !banned && len(white) == 0 {
		return nil, nil // neither banned nor redeemed here
	}
	var acts []Action
	if len(white) == 0 {
		acts = append(acts, Action{Backend: q.Name(), Kind: KindKeep, Target: "ipqbdb whitelist", IP: ip, Op: OpExec,
			Argv: q.whiteArgv(ip), Describe: fmt.Sprintf("ipqbdb: whitelist %s", ip)})
	}
	if banned {
		acts = append(acts, Action{Backend: q.Name(), Kind: KindUnban, Target: "ipqbdb block database", IP: ip, Op: OpExec,
			Argv: q.delArgv(ip), Describe: fmt.Sprintf("ipqbdb: delete the block record of %s", ip)})
	}
	return acts, nil
}

// Apply runs an ibd-white or ibd-del command Plan made.
func (q *IPQBDB) Apply(ctx context.Context, a Action) Result {
	ip, err := CheckAddr(a.IP)
	if err != nil {
		return Result{Action: a, Err: err}
	}
	if a.Backend != q.Name() || a.Op != OpExec || !ip.Is4() ||
		!(slices.Equal(a.Argv, q.whiteArgv(ip)) || slices.Equal(a.Argv, q.delArgv(ip))) {
		return Result{Action: a, Err: fmt.Errorf("applying %q: %w", a.Describe, ErrForeignAction)}
	}
	out, err := q.opts.Run(ctx, a.Argv[0], a.Argv[1:]...)
	return result(a, out, err)
}

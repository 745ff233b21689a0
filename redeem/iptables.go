package redeem

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"os/exec"
	"slices"
	"strings"

	"github.com/coreos/go-iptables/iptables"

	"github.com/tlsrpt/tlsrpt/internal/pkgerr"
)

const filterTable = "filter"

// IPTablesClient is the part of *iptables.IPTables the backend uses.
type IPTablesClient interface {
	ListChains(table string) ([]string, error)
	List(table, chain string) ([]string, error)
	Exists(table, chain string, rulespec ...string) (bool, error)
	NewChain(table, chain string) error
	AppendUnique(table, chain string, rulespec ...string) error
	Insert(table, chain string, pos int, rulespec ...string) error
	DeleteIfExists(table, chain string, rulespec ...string) error
}

// IPTablesOptions configures the iptables backend. The zero value looks in
// fail2ban's f2b-* chains of the filter table and keeps redeemed addresses
// in the chain TLSRPT-REDEEMED.
type IPTablesOptions struct {
	Chains    []string // more filter-table chains to search for bans (the operator's own)
	KeepChain string   // chain of ACCEPT rules for redeemed addresses; default "TLSRPT-REDEEMED"
	// Open returns the client for a protocol; default
	// iptables.NewWithProtocol, which runs iptables or ip6tables.
	Open func(iptables.Protocol) (IPTablesClient, error)
}

// IPTables is the iptables backend (IPv4 through iptables, IPv6 through
// ip6tables, chosen by the address's family, driven by go-iptables).
//
// A ban is a REJECT or DROP rule whose source is exactly the address
// (-s ADDR/32 or -s ADDR/128) in a chain named f2b-* (fail2ban's
// iptables actions) or given in Options.Chains; rules for wider networks
// are left alone, and bans kept in ipsets (fail2ban's iptables-ipset
// actions) are not seen. Unbanning deletes the rule. Keeping adds
// "-s ADDR -j ACCEPT" to the keep chain, creating it if missing, and makes
// "-j TLSRPT-REDEEMED" the first rule of INPUT: fail2ban inserts its own
// jumps at the top of INPUT when a jail starts, so a jump found lower is
// moved back to the top (deleted and inserted at position 1).
type IPTables struct{ opts IPTablesOptions }

// NewIPTables returns the iptables backend.
func NewIPTables(opts IPTablesOptions) *IPTables {
	if opts.KeepChain == "" {
		opts.KeepChain = "TLSRPT-REDEEMED"
	}
	if opts.Open == nil {
		opts.Open = func(p iptables.Protocol) (IPTablesClient, error) { return iptables.NewWithProtocol(p) }
	}
	return &IPTables{opts: opts}
}

// Name returns "iptables".
func (t *IPTables) Name() string { return "iptables" }

func protoOf(ip netip.Addr) iptables.Protocol {
	if ip.Is4() {
		return iptables.ProtocolIPv4
	}
	return iptables.ProtocolIPv6
}

// familyOf groups addresses by family for byGroup: IPv4 first.
func familyOf(ip netip.Addr) (iptables.Protocol, error) { return protoOf(ip), nil }

func binOf(p iptables.Protocol) string {
	if p == iptables.ProtocolIPv6 {
		return "ip6tables"
	}
	return "iptables"
}

func (t *IPTables) open(p iptables.Protocol) (IPTablesClient, error) {
	c, err := t.opts.Open(p)
	if err != nil {
		return nil, fmt.Errorf("opening %s: %w", binOf(p), err)
	}
	return c, nil
}

// Available checks that iptables can list the filter table.
func (t *IPTables) Available(ctx context.Context) error {
	c, err := t.open(iptables.ProtocolIPv4)
	if err != nil {
		kinds := []error{ErrUnavailable}
		if errors.Is(err, exec.ErrNotFound) {
			kinds = append(kinds, ErrNotInstalled) // go-iptables found no iptables program
		}
		return pkgerr.Mark(err.Error(), err, kinds...)
	}
	if _, err := c.ListChains(filterTable); err != nil {
		return mark(ErrUnavailable, "listing iptables chains: %v", err)
	}
	return nil
}

// hostSpec is the source match iptables prints for a single address.
func hostSpec(ip netip.Addr) string {
	return netip.PrefixFrom(ip, ip.BitLen()).String()
}

// Banned returns the REJECT and DROP rules for exactly each address in the
// f2b-* chains and the operator's chains that exist (a chain missing from
// one family's table is skipped: it is checked with ListChains first
// because iptables-nft reports a missing chain as an odd error). Each
// family's chains are listed once, whatever the number of addresses.
func (t *IPTables) Banned(ctx context.Context, ips []netip.Addr) []Lookup {
	ips = slices.Clone(ips)
	out := make([]Lookup, len(ips))
	byGroup(ips, familyOf, t.banRulesOf, func(rules []chainRules, i int) {
		for _, cr := range rules {
			out[i].Bans = append(out[i].Bans, banRules(ips[i], cr.chain, cr.rules)...)
		}
	}, func(i int, err error) { out[i].Err = err })
	return out
}

type chainRules struct {
	chain string
	rules []string
}

// banRulesOf lists the searched chains of one family, sorted by name.
func (t *IPTables) banRulesOf(proto iptables.Protocol) ([]chainRules, error) {
	c, err := t.open(proto)
	if err != nil {
		return nil, err
	}
	chains, err := c.ListChains(filterTable)
	if err != nil {
		return nil, fmt.Errorf("listing %s chains: %w", binOf(proto), err)
	}
	slices.Sort(chains)
	var out []chainRules
	for _, chain := range chains {
		if chain == t.opts.KeepChain || !t.searched(chain) {
			continue
		}
		rules, err := c.List(filterTable, chain)
		if err != nil {
			return nil, fmt.Errorf("listing %s chain %q: %w", binOf(proto), chain, err)
		}
		out = append(out, chainRules{chain, rules})
	}
	return out, nil
}

func (t *IPTables) searched(chain string) bool {
	return strings.HasPrefix(chain, "f2b-") || slices.Contains(t.opts.Chains, chain)
}

// banRules returns the rules of chain (iptables -S lines) that ban ip.
func banRules(ip netip.Addr, chain string, rules []string) []Ban {
	var bans []Ban
	n := 0
	for _, line := range rules {
		spec, ok := ruleSpec(chain, line)
		if !ok {
			continue
		}
		n++
		if bansAddr(spec, ip) {
			bans = append(bans, Ban{
				Backend: "iptables",
				Where:   fmt.Sprintf("%s/%s rule %d", filterTable, chain, n),
				Detail:  line,
				IP:      ip,
			})
		}
	}
	return bans
}

// ruleSpec returns the rule specification of an "-A chain ..." line.
func ruleSpec(chain, line string) ([]string, bool) {
	f := splitRule(line)
	if len(f) < 2 || f[0] != "-A" || f[1] != chain {
		return nil, false
	}
	return f[2:], true
}

// bansAddr reports whether spec matches source ip exactly and jumps to
// REJECT or DROP.
func bansAddr(spec []string, ip netip.Addr) bool {
	src, target := false, ""
	for i := 0; i+1 < len(spec); i++ {
		switch spec[i] {
		case "-s", "--source":
			if i > 0 && spec[i-1] == "!" {
				return false
			}
			p, err := netip.ParsePrefix(spec[i+1])
			if err != nil {
				if a, aerr := netip.ParseAddr(spec[i+1]); aerr == nil {
					p = netip.PrefixFrom(a, a.BitLen())
				}
			}
			src = p.IsValid() && p.Addr().Unmap() == ip && p.Bits() == p.Addr().BitLen()
		case "-j", "--jump":
			target = spec[i+1]
		}
	}
	return src && (target == "REJECT" || target == "DROP")
}

// splitRule splits an iptables -S line into words, honouring the double
// quotes iptables puts around words with spaces (comments).
func splitRule(line string) []string {
	var words []string
	var cur strings.Builder
	inWord, inQuote := false, false
	for i := 0; i < len(line); i++ {
		ch := line[i]
		switch {
		case inQuote && ch == '\\' && i+1 < len(line):
			i++
			cur.WriteByte(line[i])
		case ch == '"':
			inQuote, inWord = !inQuote, true
		case !inQuote && (ch == ' ' || ch == '\t'):
			if inWord {
				words = append(words, cur.String())
				cur.Reset()
				inWord = false
			}
		default:
			cur.WriteByte(ch)
			inWord = true
		}
	}
	if inWord {
		words = append(words, cur.String())
	}
	return words
}

// Plan returns, for each address banned here or kept before: create the
// keep chain if missing, add the ACCEPT rule for the address, put the jump
// to the keep chain first in INPUT; then delete each ban rule. The chain
// creation and the jump are planned once per family, with the first
// address that needs them. Each family's chains, keep chain and INPUT are
// listed once, whatever the number of addresses.
func (t *IPTables) Plan(ctx context.Context, ips []netip.Addr, bans [][]Ban) []Steps {
	ips = slices.Clone(ips)
	out := make([]Steps, len(ips))
	byGroup(ips, familyOf, t.keepSnapshot, func(snap *keepState, i int) {
		var b []Ban
		if i < len(bans) {
			b = bans[i]
		}
		out[i].Actions, out[i].Err = t.planOne(snap, ips[i], b)
	}, func(i int, err error) { out[i].Err = err })
	return out
}

// keepState is what one family's keep chain and INPUT hold, updated as the
// plan adds steps so that the chain and the jump are planned once.
type keepState struct {
	hasChain bool
	accepted map[string]bool // rule specs of the keep chain, joined by spaces
	jumpPos  int             // 1-based position of the jump in INPUT, 0 when missing
	planned  bool            // the chain and the jump are planned already
}

func (t *IPTables) keepSnapshot(proto iptables.Protocol) (*keepState, error) {
	c, err := t.open(proto)
	if err != nil {
		return nil, err
	}
	bin := binOf(proto)
	chains, err := c.ListChains(filterTable)
	if err != nil {
		return nil, fmt.Errorf("listing %s chains: %w", bin, err)
	}
	kc := t.opts.KeepChain
	s := &keepState{hasChain: slices.Contains(chains, kc), accepted: map[string]bool{}}
	if s.hasChain {
		rules, err := c.List(filterTable, kc)
		if err != nil {
			return nil, fmt.Errorf("listing %s chain %q: %w", bin, kc, err)
		}
		for _, line := range rules {
			if spec, ok := ruleSpec(kc, line); ok {
				s.accepted[strings.Join(spec, " ")] = true
			}
		}
	}
	if s.jumpPos, err = t.jumpPosition(c, bin); err != nil {
		return nil, err
	}
	return s, nil
}

func (t *IPTables) planOne(s *keepState, ip netip.Addr, bans []Ban) ([]Action, error) {
	var mine []Ban
	for _, b := range bans {
		if b.Backend == t.Name() && b.IP == ip {
			mine = append(mine, b)
		}
	}
	accept := []string{"-s", hostSpec(ip), "-j", "ACCEPT"}
	hasAccept := s.accepted[strings.Join(accept, " ")]
	if len(mine) == 0 && !hasAccept {
		return nil, nil // neither banned nor redeemed here
	}
	kc := t.opts.KeepChain
	var acts []Action
	if !s.hasChain {
		acts = append(acts, t.action(KindKeep, ip, fmt.Sprintf("create chain %s", kc), "-N", kc))
		s.hasChain = true
	}
	if !hasAccept {
		acts = append(acts, t.action(KindKeep, ip, fmt.Sprintf("accept %s in chain %s", ip, kc), "-A", kc, accept...))
	}
	if !s.planned {
		switch {
		case s.jumpPos == 0:
			acts = append(acts, t.action(KindKeep, ip, fmt.Sprintf("jump to %s first in INPUT", kc), "-I", "INPUT", "1", "-j", kc))
		case s.jumpPos > 1:
			acts = append(acts,
				t.action(KindKeep, ip, fmt.Sprintf("remove the jump to %s at INPUT rule %d", kc, s.jumpPos), "-D", "INPUT", "-j", kc),
				t.action(KindKeep, ip, fmt.Sprintf("jump to %s first in INPUT", kc), "-I", "INPUT", "1", "-j", kc))
		}
		s.planned = true
	}
	for _, b := range mine {
		chain, spec, err := banSpec(b)
		if err != nil {
			return nil, err
		}
		acts = append(acts, t.action(KindUnban, ip, fmt.Sprintf("delete %s (%s)", b.Where, strings.Join(spec, " ")), "-D", chain, spec...))
	}
	return acts, nil
}

// banSpec recovers chain and rule spec from a Ban made by Banned.
func banSpec(b Ban) (string, []string, error) {
	f := splitRule(b.Detail)
	if len(f) < 3 || f[0] != "-A" {
		return "", nil, fmt.Errorf("reading iptables rule %q of %s: not an -A rule", b.Detail, b.Where)
	}
	return f[1], f[2:], nil
}

// jumpPosition returns the 1-based position of "-j KeepChain" in INPUT,
// or 0 when INPUT does not jump to it.
func (t *IPTables) jumpPosition(c IPTablesClient, bin string) (int, error) {
	rules, err := c.List(filterTable, "INPUT")
	if err != nil {
		return 0, fmt.Errorf("listing %s chain INPUT: %w", bin, err)
	}
	n := 0
	for _, line := range rules {
		spec, ok := ruleSpec("INPUT", line)
		if !ok {
			continue
		}
		n++
		if slices.Equal(spec, []string{"-j", t.opts.KeepChain}) {
			return n, nil
		}
	}
	return 0, nil
}

// action builds an iptables action whose Argv is the equivalent command.
func (t *IPTables) action(kind string, ip netip.Addr, describe, op, chain string, rest ...string) Action {
	argv := append([]string{binOf(protoOf(ip)), "-t", filterTable, op, chain}, rest...)
	return Action{Backend: t.Name(), Kind: kind, Target: filterTable + "/" + chain, IP: ip, Op: OpIPTables, Argv: argv, Describe: describe}
}

// Apply carries out an action Plan made, through go-iptables. Each step is
// idempotent: creating an existing chain, adding an existing rule or
// deleting a missing one succeeds without change.
func (t *IPTables) Apply(ctx context.Context, a Action) Result {
	op, chain, rest, err := t.check(a)
	if err != nil {
		return Result{Action: a, Err: err}
	}
	c, err := t.open(protoOf(a.IP.Unmap()))
	if err != nil {
		return result(a, nil, err)
	}
	switch op {
	case "-N":
		err = t.ensureChain(c, chain)
	case "-A":
		err = c.AppendUnique(filterTable, chain, rest...)
	case "-D":
		err = c.DeleteIfExists(filterTable, chain, rest...)
	case "-I":
		err = t.ensureFirst(c, chain, rest[1:])
	}
	return result(a, nil, err)
}

func (t *IPTables) ensureChain(c IPTablesClient, chain string) error {
	chains, err := c.ListChains(filterTable)
	if err != nil {
		return err
	}
	if slices.Contains(chains, chain) {
		return nil
	}
	return c.NewChain(filterTable, chain)
}

// ensureFirst inserts spec at the top of chain unless it is there already.
func (t *IPTables) ensureFirst(c IPTablesClient, chain string, spec []string) error {
	rules, err := c.List(filterTable, chain)
	if err != nil {
		return err
	}
	for _, line := range rules {
		if s, ok := ruleSpec(chain, line); ok {
			if slices.Equal(s, spec) {
				return nil
			}
			break
		}
	}
	return c.Insert(filterTable, chain, 1, spec...)
}

// check accepts only the shapes of action Plan makes, for a.IP's family,
// and returns the operation, chain and the rest of the command.
func (t *IPTables) check(a Action) (op, chain string, rest []string, err error) {
	ip, err := CheckAddr(a.IP)
	if err != nil {
		return "", "", nil, err
	}
	bad := mark(ErrForeignAction, "refusing to apply %q: not an action iptables planned", a.Describe)
	if a.Backend != t.Name() || a.Op != OpIPTables || len(a.Argv) < 5 ||
		a.Argv[0] != binOf(protoOf(ip)) || a.Argv[1] != "-t" || a.Argv[2] != filterTable {
		return "", "", nil, bad
	}
	op, chain, rest = a.Argv[3], a.Argv[4], a.Argv[5:]
	kc := t.opts.KeepChain
	jump := []string{"-j", kc}
	ok := false
	switch op {
	case "-N":
		ok = chain == kc && len(rest) == 0
	case "-A":
		ok = chain == kc && slices.Equal(rest, []string{"-s", hostSpec(ip), "-j", "ACCEPT"})
	case "-I":
		ok = chain == "INPUT" && len(rest) == 3 && rest[0] == "1" && slices.Equal(rest[1:], jump)
	case "-D":
		ok = (chain == "INPUT" && slices.Equal(rest, jump)) ||
			(chain != kc && t.searched(chain) && bansAddr(rest, ip))
	}
	if !ok {
		return "", "", nil, bad
	}
	return op, chain, rest, nil
}

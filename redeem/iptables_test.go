package redeem

import (
	"net/netip"
	"slices"
	"strings"
	"testing"

	"github.com/tlsrpt/tlsrpt/internal/netnstest"
)

// TestIPTablesInNetns redeems an IPv4 and an IPv6 address against real
// iptables and ip6tables in a network namespace of its own: fail2ban's
// chain, an operator's chain and an unrelated one. Only the rules for
// exactly those addresses go (not the /24 around one, nor the unrelated
// chain's), the keep chain's jump stands first in INPUT, applying twice
// changes nothing, and after fail2ban puts its jump on top again the next
// plan moves ours back first.
func TestIPTablesInNetns(t *testing.T) {
	if !netnstest.Run(t, "TestIPTablesInNetns") {
		return
	}
	ctx := t.Context()
	// fail2ban's iptables-multiport layout, an operator chain, an
	// unrelated chain and rules that must stay.
	for _, args := range [][]string{
		{"-N", "f2b-sshd"},
		{"-A", "f2b-sshd", "-s", "203.0.113.0/24", "-j", "REJECT", "--reject-with", "icmp-port-unreachable"},
		{"-A", "f2b-sshd", "-s", "203.0.113.5/32", "-j", "REJECT", "--reject-with", "icmp-port-unreachable"},
		{"-A", "f2b-sshd", "-s", "203.0.113.99/32", "-j", "REJECT", "--reject-with", "icmp-port-unreachable"},
		{"-A", "f2b-sshd", "-j", "RETURN"},
		{"-I", "INPUT", "-p", "tcp", "-m", "multiport", "--dports", "22", "-j", "f2b-sshd"},
		{"-N", "blocklist"},
		{"-A", "blocklist", "-s", "203.0.113.5", "-m", "comment", "--comment", "spam source", "-j", "DROP"},
		{"-A", "INPUT", "-j", "blocklist"},
		{"-N", "unrelated"},
		{"-A", "unrelated", "-s", "203.0.113.5/32", "-j", "DROP"},
	} {
		netnstest.IPTables(t, "iptables", args...)
	}
	for _, args := range [][]string{
		{"-N", "f2b-sshd"},
		{"-A", "f2b-sshd", "-s", "2001:db8::5/128", "-j", "REJECT", "--reject-with", "icmp6-port-unreachable"},
		{"-A", "f2b-sshd", "-j", "RETURN"},
		{"-I", "INPUT", "-p", "tcp", "-j", "f2b-sshd"},
	} {
		netnstest.IPTables(t, "ip6tables", args...)
	}

	b := NewIPTables(IPTablesOptions{Chains: []string{"blocklist", "missing-chain"}})
	if err := b.Available(ctx); err != nil {
		t.Fatalf("Available: %v", err)
	}
	v4 := netip.MustParseAddr("203.0.113.5")
	v6 := netip.MustParseAddr("2001:db8::5")
	looks := b.Banned(ctx, []netip.Addr{v4, v6})
	if looks[0].Err != nil || looks[1].Err != nil {
		t.Fatal(looks[0].Err, looks[1].Err)
	}
	var where []string
	for _, ban := range looks[0].Bans {
		where = append(where, ban.Where)
	}
	if !slices.Equal(where, []string{"filter/blocklist rule 1", "filter/f2b-sshd rule 2"}) {
		t.Fatalf("Banned(%s) = %v", v4, looks[0].Bans)
	}
	if bans := looks[1].Bans; len(bans) != 1 || bans[0].Where != "filter/f2b-sshd rule 1" {
		t.Fatalf("Banned(%s) = %v", v6, bans)
	}

	plan := mustPlan(t, "", b, v4, v6)
	wantPlan(t, "", plan,
		"keep iptables filter/TLSRPT-REDEEMED iptables -t filter -N TLSRPT-REDEEMED",
		"keep iptables filter/TLSRPT-REDEEMED iptables -t filter -A TLSRPT-REDEEMED -s 203.0.113.5/32 -j ACCEPT",
		"keep iptables filter/INPUT iptables -t filter -I INPUT 1 -j TLSRPT-REDEEMED",
		"unban iptables filter/blocklist iptables -t filter -D blocklist -s 203.0.113.5/32 -m comment --comment spam source -j DROP",
		"unban iptables filter/f2b-sshd iptables -t filter -D f2b-sshd -s 203.0.113.5/32 -j REJECT --reject-with icmp-port-unreachable",
		"keep iptables filter/TLSRPT-REDEEMED ip6tables -t filter -N TLSRPT-REDEEMED",
		"keep iptables filter/TLSRPT-REDEEMED ip6tables -t filter -A TLSRPT-REDEEMED -s 2001:db8::5/128 -j ACCEPT",
		"keep iptables filter/INPUT ip6tables -t filter -I INPUT 1 -j TLSRPT-REDEEMED",
		"unban iptables filter/f2b-sshd ip6tables -t filter -D f2b-sshd -s 2001:db8::5/128 -j REJECT --reject-with icmp6-port-unreachable",
	)
	if results := ApplyAll(ctx, []Backend{b}, plan.Actions()); Failed(results) {
		for _, r := range results {
			t.Errorf("%s: ok=%v %v", r.Action.Describe, r.OK, r.Err)
		}
		t.FailNow()
	}

	check := func(when string) {
		t.Helper()
		wantRules := map[string][]string{
			"f2b-sshd": {
				"-A f2b-sshd -s 203.0.113.0/24 -j REJECT --reject-with icmp-port-unreachable",
				"-A f2b-sshd -s 203.0.113.99/32 -j REJECT --reject-with icmp-port-unreachable",
				"-A f2b-sshd -j RETURN",
			},
			"blocklist":       nil,
			"unrelated":       {"-A unrelated -s 203.0.113.5/32 -j DROP"},
			"TLSRPT-REDEEMED": {"-A TLSRPT-REDEEMED -s 203.0.113.5/32 -j ACCEPT"},
		}
		for chain, w := range wantRules {
			if r := netnstest.Rules(t, "iptables", chain); !slices.Equal(r, w) {
				t.Errorf("%s: iptables chain %s is %q, want %q", when, chain, r, w)
			}
		}
		if r := netnstest.Rules(t, "iptables", "INPUT"); len(r) == 0 || r[0] != "-A INPUT -j TLSRPT-REDEEMED" || len(r) != 3 {
			t.Errorf("%s: iptables INPUT is %q, want the jump to TLSRPT-REDEEMED first, once", when, r)
		}
		if r := netnstest.Rules(t, "ip6tables", "f2b-sshd"); !slices.Equal(r, []string{"-A f2b-sshd -j RETURN"}) {
			t.Errorf("%s: ip6tables f2b-sshd is %q", when, r)
		}
		if r := netnstest.Rules(t, "ip6tables", "TLSRPT-REDEEMED"); !slices.Equal(r, []string{"-A TLSRPT-REDEEMED -s 2001:db8::5/128 -j ACCEPT"}) {
			t.Errorf("%s: ip6tables TLSRPT-REDEEMED is %q", when, r)
		}
		if r := netnstest.Rules(t, "ip6tables", "INPUT"); len(r) != 2 || r[0] != "-A INPUT -j TLSRPT-REDEEMED" {
			t.Errorf("%s: ip6tables INPUT is %q", when, r)
		}
	}
	check("after apply")

	// Applying the same actions again changes nothing and succeeds.
	if results := ApplyAll(ctx, []Backend{b}, plan.Actions()); Failed(results) {
		t.Fatalf("re-applying failed: %v", results)
	}
	check("after re-applying")

	wantPlan(t, "again", mustPlan(t, "again", b, v4, v6))

	// fail2ban restarting puts its jump on top of INPUT and bans again:
	// the plan moves our jump back first and deletes the ban.
	netnstest.IPTables(t, "iptables", "-I", "INPUT", "1", "-p", "tcp", "-m", "multiport", "--dports", "25", "-j", "f2b-sshd")
	netnstest.IPTables(t, "iptables", "-I", "f2b-sshd", "1", "-s", "203.0.113.5/32", "-j", "REJECT", "--reject-with", "icmp-port-unreachable")
	plan = mustPlan(t, "after rebanning", b, v4)
	wantPlan(t, "after rebanning", plan,
		"keep iptables filter/INPUT iptables -t filter -D INPUT -j TLSRPT-REDEEMED",
		"keep iptables filter/INPUT iptables -t filter -I INPUT 1 -j TLSRPT-REDEEMED",
		"unban iptables filter/f2b-sshd iptables -t filter -D f2b-sshd -s 203.0.113.5/32 -j REJECT --reject-with icmp-port-unreachable",
	)
	if results := ApplyAll(ctx, []Backend{b}, plan.Actions()); Failed(results) {
		t.Fatalf("apply after rebanning: %v", results)
	}
	if r := netnstest.Rules(t, "iptables", "INPUT"); len(r) != 4 || r[0] != "-A INPUT -j TLSRPT-REDEEMED" || !strings.Contains(r[1], "--dports 25") {
		t.Fatalf("INPUT after moving the jump: %q", r)
	}

	// Apply refuses what Plan would not make.
	for name, a := range map[string]Action{
		"unrelated chain": b.action(KindUnban, v4, "x", "-D", "unrelated", "-s", "203.0.113.5/32", "-j", "DROP"),
		"accept all":      b.action(KindKeep, v4, "x", "-A", "TLSRPT-REDEEMED", "-j", "ACCEPT"),
		"flush INPUT":     b.action(KindKeep, v4, "x", "-F", "INPUT"),
		"wrong family": func() Action {
			a := b.action(KindKeep, v4, "x", "-N", "TLSRPT-REDEEMED")
			a.Argv[0] = "ip6tables"
			return a
		}(),
		"other address": b.action(KindUnban, v4, "x", "-D", "f2b-sshd", "-s", "203.0.113.99/32", "-j", "REJECT", "--reject-with", "icmp-port-unreachable"),
	} {
		if r := b.Apply(ctx, a); r.OK {
			t.Errorf("%s: applied", name)
		}
	}
	if r := netnstest.Rules(t, "iptables", "unrelated"); len(r) != 1 {
		t.Fatalf("refused action changed chain unrelated: %q", r)
	}
}

func TestSplitRuleAndBansAddr(t *testing.T) {
	f := splitRule(`-A blocklist -s 203.0.113.5/32 -m comment --comment "spam \"source\" here" -j DROP`)
	want := []string{"-A", "blocklist", "-s", "203.0.113.5/32", "-m", "comment", "--comment", `spam "source" here`, "-j", "DROP"}
	if !slices.Equal(f, want) {
		t.Fatalf("splitRule = %q, want %q", f, want)
	}
	ip := netip.MustParseAddr("203.0.113.5")
	for spec, banned := range map[string]bool{
		"-s 203.0.113.5/32 -j DROP":                         true,
		"-s 203.0.113.5/32 -j REJECT":                       true,
		"-s 203.0.113.5/32 -j ACCEPT":                       false,
		"-s 203.0.113.0/24 -j DROP":                         false,
		"! -s 203.0.113.5/32 -j DROP":                       false,
		"-s 203.0.113.6/32 -j DROP":                         false,
		"-d 203.0.113.5/32 -j DROP":                         false,
		"-p tcp -s 203.0.113.5/32 --dport 25 -j REJECT":     true,
		"-s 203.0.113.5 -j DROP":                            true,
		"-s 203.0.113.5/32 -m comment --comment x -j DROP ": true,
	} {
		if got := bansAddr(splitRule(spec), ip); got != banned {
			t.Errorf("bansAddr(%q) = %v, want %v", spec, got, banned)
		}
	}
}

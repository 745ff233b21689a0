package redeem

import (
	"context"
	"fmt"
	"net/netip"
	"strings"
	"sync"
	"testing"

	"github.com/coreos/go-iptables/iptables"

	"github.com/tlsrpt/tlsrpt/internal/netnstest"
)

// The ban status and the plan of many addresses cost as many commands as
// those of one: each backend lists what it needs once. These tests count
// the commands (through the Runner, or the iptables client's calls), not
// the time.

// counter counts the commands a Runner runs.
type counter struct {
	mu   sync.Mutex
	n    int
	ran  []string
	next Runner
}

func (c *counter) Run(ctx context.Context, name string, args ...string) ([]byte, error) {
	c.mu.Lock()
	c.n++
	c.ran = append(c.ran, name+" "+strings.Join(args, " "))
	c.mu.Unlock()
	return c.next(ctx, name, args...)
}

func (c *counter) reset() (int, []string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	n, ran := c.n, c.ran
	c.n, c.ran = 0, nil
	return n, ran
}

// manyAddrs returns n addresses: first, then 192.0.2.x, 198.51.100.x...
func manyAddrs(first netip.Addr, n int, v6 bool) []netip.Addr {
	out := []netip.Addr{first}
	for i := 0; len(out) < n; i++ {
		if v6 && i%4 == 3 {
			out = append(out, netip.MustParseAddr(fmt.Sprintf("2001:db8::%x", 0x100+i)))
			continue
		}
		out = append(out, netip.AddrFrom4([4]byte{198, 18, byte(i >> 8), byte(i)}))
	}
	return out
}

// costOf runs BanStatusAll then MakePlan for ips with fresh backends and
// returns the commands each ran.
func costOf(t *testing.T, c *counter, newBackends func() []Backend, ips []netip.Addr) (status, plan int) {
	t.Helper()
	ctx := t.Context()
	c.reset()
	st, err := BanStatusAll(ctx, newBackends(), ips)
	if err != nil {
		t.Fatal(err)
	}
	for ip, s := range st {
		if !s.Known() {
			t.Fatalf("%s: %v", ip, s.Unknown)
		}
	}
	status, _ = c.reset()
	p, err := MakePlan(ctx, newBackends(), ips)
	if err != nil || p.Err() != nil {
		t.Fatalf("MakePlan: %v %v", err, p.Err())
	}
	plan, _ = c.reset()
	return status, plan
}

func TestCostFail2ban(t *testing.T) {
	s := startFail2ban(t)
	banned := netip.MustParseAddr("203.0.113.5")
	for _, j := range []string{"testjail", "otherjail"} {
		s.Client("set", j, "banip", banned.String())
		s.Client("set", j, "banip", "198.18.0.7")
		s.Client("set", j, "banip", "2001:db8::103")
	}
	c := &counter{next: ExecRunner}
	newBackends := func() []Backend {
		o := fail2banOpts(s)
		o.Run = c.Run
		o.JailD = t.TempDir()
		return []Backend{NewFail2ban(o)}
	}
	s1, p1 := costOf(t, c, newBackends, manyAddrs(banned, 1, false))
	s200, p200 := costOf(t, c, newBackends, manyAddrs(banned, 200, true))
	t.Logf("fail2ban commands: status %d/%d, plan %d/%d for 1/200 addresses", s1, s200, p1, p200)
	if s1 != 1 || s200 != s1 || p200 != p1 {
		t.Errorf("fail2ban: status %d then %d commands, plan %d then %d, for 1 then 200 addresses", s1, s200, p1, p200)
	}

	// fail2ban before 0.10.6: "status" and one "status JAIL" per jail.
	var ran []string
	old := func() []Backend {
		return []Backend{NewFail2ban(Fail2banOptions{Socket: "/s", JailD: t.TempDir(), Run: fakeClient(t, true, &ran)})}
	}
	for _, n := range []int{1, 200} {
		ran = nil
		if _, err := BanStatusAll(t.Context(), old(), manyAddrs(banned, n, true)); err != nil {
			t.Fatal(err)
		}
		if len(ran) != 4 {
			t.Errorf("old fail2ban, %d addresses: ran %q", n, ran)
		}
	}
}

func TestCostIPQBDB(t *testing.T) {
	st := newStandins(t)
	banned := netip.MustParseAddr("192.0.2.7")
	st.ban("-i", banned.String())
	st.ban("-i", "198.18.0.7")
	st.ban("-i", "198.18.0.9")
	c := &counter{next: ExecRunner}
	newBackends := func() []Backend { return []Backend{NewIPQBDB(IPQBDBOptions{BinDir: standinDir, Run: c.Run})} }
	s1, p1 := costOf(t, c, newBackends, manyAddrs(banned, 1, false))
	s200, p200 := costOf(t, c, newBackends, manyAddrs(banned, 200, false))
	t.Logf("ipqbdb commands: status %d/%d, plan %d/%d for 1/200 addresses", s1, s200, p1, p200)
	// The probe's two --help and one listing; the plan adds the
	// whitelist's listing.
	if s1 != 3 || s200 != s1 || p1 != 4 || p200 != p1 {
		t.Errorf("ipqbdb: status %d then %d commands, plan %d then %d, for 1 then 200 addresses", s1, s200, p1, p200)
	}
}

// countingClient counts the calls of an iptables client, each of which
// runs iptables once.
type countingClient struct {
	IPTablesClient
	n *int
}

func (c countingClient) ListChains(table string) ([]string, error) {
	*c.n++
	return c.IPTablesClient.ListChains(table)
}

func (c countingClient) List(table, chain string) ([]string, error) {
	*c.n++
	return c.IPTablesClient.List(table, chain)
}

func (c countingClient) Exists(table, chain string, rulespec ...string) (bool, error) {
	*c.n++
	return c.IPTablesClient.Exists(table, chain, rulespec...)
}

func TestCostIPTablesInNetns(t *testing.T) {
	if !netnstest.Run(t, "TestCostIPTablesInNetns") {
		return
	}
	for _, args := range [][]string{
		{"-N", "f2b-sshd"},
		{"-A", "f2b-sshd", "-s", "203.0.113.5/32", "-j", "REJECT"},
		{"-A", "f2b-sshd", "-s", "198.18.0.7/32", "-j", "REJECT"},
		{"-A", "f2b-sshd", "-j", "RETURN"},
		{"-N", "f2b-postfix"},
		{"-A", "f2b-postfix", "-s", "198.18.0.9/32", "-j", "DROP"},
		{"-I", "INPUT", "-j", "f2b-sshd"},
	} {
		netnstest.IPTables(t, "iptables", args...)
	}
	netnstest.IPTables(t, "ip6tables", "-N", "f2b-sshd")
	netnstest.IPTables(t, "ip6tables", "-A", "f2b-sshd", "-s", "2001:db8::103/128", "-j", "REJECT")
	n := 0
	c := &counter{next: ExecRunner} // unused by iptables; counts stay in n
	newBackends := func() []Backend {
		return []Backend{NewIPTables(IPTablesOptions{Open: func(p iptables.Protocol) (IPTablesClient, error) {
			cl, err := iptables.NewWithProtocol(p)
			if err != nil {
				return nil, err
			}
			return countingClient{cl, &n}, nil
		}})}
	}
	banned := netip.MustParseAddr("203.0.113.5")
	cost := func(ips []netip.Addr) (int, int) {
		n = 0
		costOf(t, c, newBackends, ips)
		s := n
		n = 0
		p, err := MakePlan(t.Context(), newBackends(), ips)
		if err != nil || p.Err() != nil {
			t.Fatalf("MakePlan: %v %v", err, p.Err())
		}
		return s, n
	}
	// Both families in both runs, so that the counts compare.
	one := []netip.Addr{banned, netip.MustParseAddr("2001:db8::103")}
	s1, p1 := cost(one)
	s200, p200 := cost(manyAddrs(banned, 200, true))
	t.Logf("iptables calls: status+plan %d/%d, plan %d/%d for 2/200 addresses", s1, s200, p1, p200)
	if s200 != s1 || p200 != p1 {
		t.Errorf("iptables: %d then %d calls, plan %d then %d, for 2 then 200 addresses", s1, s200, p1, p200)
	}
}

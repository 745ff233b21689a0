package redeem

import (
	"context"
	"errors"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/coreos/go-iptables/iptables"

	"github.com/tlsrpt/tlsrpt/internal/testenv"
)

// noRun is a Runner that fails the test when any command runs.
func noRun(t *testing.T) Runner {
	return func(ctx context.Context, name string, args ...string) ([]byte, error) {
		t.Fatalf("command ran: %s %v", name, args)
		return nil, nil
	}
}

func TestBadAddressesRunNoCommand(t *testing.T) {
	ctx := t.Context()
	backends := []Backend{
		NewFail2ban(Fail2banOptions{Run: noRun(t), JailD: t.TempDir()}),
		NewIPQBDB(IPQBDBOptions{Run: noRun(t), NoProbe: true}),
		NewIPTables(IPTablesOptions{Open: func(p iptables.Protocol) (IPTablesClient, error) {
			t.Fatalf("iptables opened")
			return nil, nil
		}}),
	}
	good := netip.MustParseAddr("192.0.2.1")
	bad := map[string]struct {
		ip   netip.Addr
		want error
	}{
		"zero":        {netip.Addr{}, ErrInvalidAddr},
		"zoned":       {netip.MustParseAddr("fe80::1%eth0"), ErrZonedAddr},
		"zoned5":      {netip.MustParseAddr("2001:db8::1%5"), ErrZonedAddr},
		"zoned4in6":   {netip.MustParseAddr("::ffff:192.0.2.1%lo"), ErrZonedAddr},
		"invalid4in6": {netip.Addr{}.WithZone("x"), ErrInvalidAddr},
	}
	for name, c := range bad {
		if _, err := MakePlan(ctx, backends, []netip.Addr{good, c.ip}); !errors.Is(err, c.want) {
			t.Errorf("%s: MakePlan error %v, want %v", name, err, c.want)
		}
		if _, err := BanStatusAll(ctx, backends, []netip.Addr{good, c.ip}); !errors.Is(err, c.want) {
			t.Errorf("%s: BanStatusAll error %v, want %v", name, err, c.want)
		}
		if _, err := BanStatus(ctx, backends, c.ip); !errors.Is(err, c.want) {
			t.Errorf("%s: BanStatus error %v, want %v", name, err, c.want)
		}
		for _, b := range backends {
			if l := b.Banned(ctx, []netip.Addr{c.ip}); len(l) != 1 || !errors.Is(l[0].Err, c.want) {
				t.Errorf("%s: %s.Banned = %+v", name, b.Name(), l)
			}
			if st := b.Plan(ctx, []netip.Addr{c.ip}, nil); len(st) != 1 || !errors.Is(st[0].Err, c.want) {
				t.Errorf("%s: %s.Plan = %+v", name, b.Name(), st)
			}
			a := Action{Backend: b.Name(), Kind: KindUnban, IP: c.ip, Op: OpExec, Argv: []string{"true"}}
			if r := b.Apply(ctx, a); r.OK || !errors.Is(r.Err, c.want) {
				t.Errorf("%s: %s.Apply = %+v", name, b.Name(), r)
			}
		}
		results := ApplyAll(ctx, backends, []Action{{Backend: "fail2ban", IP: c.ip, Op: OpExec, Argv: []string{"true"}}})
		if !Failed(results) || !errors.Is(results[0].Err, c.want) {
			t.Errorf("%s: ApplyAll = %+v", name, results)
		}
	}
}

func TestParseAddr(t *testing.T) {
	for _, tt := range []struct {
		in, want string // want: the address ParseAddr gives, when err is nil
		err      error
	}{
		{"192.0.2.1", "192.0.2.1", nil},
		{" 2001:DB8::1 ", "2001:db8::1", nil},
		{"::ffff:192.0.2.1", "192.0.2.1", nil},
		{"fe80::1%eth0", "", ErrZonedAddr},
		{"", "", ErrInvalidAddr},
		{"192.0.2.1/32", "", ErrInvalidAddr},
		{"192.0.2.1; reboot", "", ErrInvalidAddr},
		{"-s", "", ErrInvalidAddr},
		{"example.com", "", ErrInvalidAddr},
		{"192.0.2.256", "", ErrInvalidAddr},
	} {
		got, err := ParseAddr(tt.in)
		if !errors.Is(err, tt.err) || err == nil && got.String() != tt.want {
			t.Errorf("ParseAddr(%q) = %v, %v; want %q, %v", tt.in, got, err, tt.want, tt.err)
		}
	}
}

func TestApplyAllUnknownBackend(t *testing.T) {
	r := ApplyAll(t.Context(), nil, []Action{{Backend: "pf", IP: netip.MustParseAddr("192.0.2.1")}})
	if len(r) != 1 || r[0].OK || !errors.Is(r[0].Err, ErrUnknownBackend) {
		t.Fatalf("ApplyAll = %+v", r)
	}
}

func TestDropInMergesAndKeepsOperatorEntries(t *testing.T) {
	path := filepath.Join(t.TempDir(), "jail.d", "tlsrpt-redeemed.local")
	old := "# hand edited\n[sshd]\nignoreip = %(known/ignoreip)s 198.51.100.0/24 192.0.2.9\n    192.0.2.3\nbantime = 1\n\n[postfix]\nignoreip = %(known/ignoreip)s 2001:db8::1\n"
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(old), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, step := range []struct{ jail, ip string }{
		{"sshd", "192.0.2.1"}, {"sshd", "192.0.2.9"}, {"dovecot", "192.0.2.1"}, {"postfix", "192.0.2.1"},
	} {
		if err := addToDropIn(path, step.jail, netip.MustParseAddr(step.ip)); err != nil {
			t.Fatal(err)
		}
	}
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	want := dropInHeader + `
[dovecot]
ignoreip = %(known/ignoreip)s 192.0.2.1

[postfix]
ignoreip = %(known/ignoreip)s 192.0.2.1 2001:db8::1

[sshd]
ignoreip = %(known/ignoreip)s 192.0.2.1 192.0.2.3 192.0.2.9 198.51.100.0/24
`
	if string(data) != want {
		t.Fatalf("drop-in:\n%s\nwant:\n%s", data, want)
	}
	fi, err := os.Stat(path)
	if err != nil || fi.Mode().Perm() != 0o644 {
		t.Fatalf("drop-in mode %v, %v", fi.Mode(), err)
	}
	entries, _ := os.ReadDir(filepath.Dir(path))
	if len(entries) != 1 {
		t.Fatalf("temporary files left: %v", entries)
	}
	// Parsing what we write gives back the same lists.
	if again := parseDropIn(data).format(); string(again) != want {
		t.Fatalf("format(parse(x)) != x:\n%s", again)
	}
	if !strings.HasPrefix(string(data), "# Generated by tlsrpt") {
		t.Fatal("no header")
	}
}

// A backend that cannot be consulted makes the status unknown, naming it
// and the reason, while the bans found elsewhere are kept.
func TestBanStatusUnknownIsNotNotBanned(t *testing.T) {
	testenv.MustHaveExec(t, "fail2ban-client", "fail2ban") // installed, its server down
	s := newStandins(t)
	s.ban("-i", "192.0.2.7")
	ctx := t.Context()
	down := NewFail2ban(Fail2banOptions{Socket: filepath.Join(t.TempDir(), "none.sock"), JailD: t.TempDir()})
	q := NewIPQBDB(IPQBDBOptions{BinDir: standinDir})
	ips := []netip.Addr{netip.MustParseAddr("192.0.2.7"), netip.MustParseAddr("192.0.2.8")}
	st, err := BanStatusAll(ctx, []Backend{down, q}, ips)
	if err != nil {
		t.Fatal(err)
	}
	for i, ip := range ips {
		s := st[ip]
		if s.Known() || len(s.Unknown) != 1 || s.Unknown[0].Backend != "fail2ban" ||
			!strings.HasPrefix(s.Unknown[0].Error(), "fail2ban: fail2ban-client status: ") {
			t.Errorf("%s: unknown %v", ip, s.Unknown)
		}
		if (len(s.Bans) == 1) != (i == 0) {
			t.Errorf("%s: bans %v", ip, s.Bans)
		}
	}
	plan, err := MakePlan(ctx, []Backend{down, q}, ips[:1])
	if err != nil {
		t.Fatal(err)
	}
	if e := plan.Entries[0]; e.Backend != "fail2ban" || e.Err == nil || !strings.HasPrefix(e.Err.Error(), "fail2ban-client status: exit status 255: ") {
		t.Errorf("entry %+v", e)
	}
	if err := plan.Err(); err == nil || !strings.HasPrefix(err.Error(), "fail2ban 192.0.2.7: fail2ban-client status: ") {
		t.Errorf("plan.Err() = %v", err)
	}
	if len(plan.Actions()) != 2 {
		t.Errorf("the ipqbdb actions are planned all the same: %v", actionSummary(plan.Actions()))
	}
}

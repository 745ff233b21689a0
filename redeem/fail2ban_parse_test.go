package redeem

import (
	"context"
	"errors"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/tlsrpt/tlsrpt/internal/testenv"
)

// fakeClient answers fail2ban-client commands from testdata files and
// records what ran; "banned" fails when old is set, as before 0.10.6.
func fakeClient(t *testing.T, old bool, ran *[]string) Runner {
	return func(ctx context.Context, name string, args ...string) ([]byte, error) {
		if name != "fail2ban-client" || len(args) < 2 || args[0] != "-s" {
			t.Fatalf("unexpected command %s %v", name, args)
		}
		cmd := args[2:]
		*ran = append(*ran, strings.Join(cmd, " "))
		file := ""
		switch {
		case cmd[0] == "banned" && old:
			return nil, errors.New("exit status 255: ERROR  Invalid command 'banned'")
		case len(cmd) == 1 && cmd[0] == "banned":
			file = "banned.txt"
		case cmd[0] == "banned":
			file = "banned-ip.txt"
		case len(cmd) == 1 && cmd[0] == "status":
			file = "status.txt"
		case cmd[0] == "status":
			file = "status-" + cmd[1] + ".txt"
		case cmd[0] == "get" && cmd[1] == "sshd":
			file = "get-ignoreip.txt"
		case cmd[0] == "get":
			file = "get-ignoreip-empty.txt"
		default:
			t.Fatalf("unexpected fail2ban-client %v", cmd)
		}
		return os.ReadFile(filepath.Join("testdata", "fail2ban-1.0.2", file))
	}
}

func TestFail2banParsingAndFallback(t *testing.T) {
	ctx := t.Context()
	for _, old := range []bool{false, true} {
		var ran []string
		f := NewFail2ban(Fail2banOptions{Socket: "/s", JailD: t.TempDir(), Run: fakeClient(t, old, &ran)})
		jails, err := f.Jails(ctx)
		if err != nil || !slices.Equal(jails, []string{"postfix-sasl", "sshd"}) {
			t.Fatalf("Jails = %v, %v", jails, err)
		}
		ips := []netip.Addr{netip.MustParseAddr("198.51.100.7"), netip.MustParseAddr("192.0.2.1"), netip.MustParseAddr("::ffff:203.0.113.9")}
		want := [][]string{{"sshd"}, nil, {"sshd"}}
		ran = nil
		looks := f.Banned(ctx, ips)
		for i, l := range looks {
			if l.Err != nil {
				t.Fatal(l.Err)
			}
			var where []string
			for _, b := range l.Bans {
				where = append(where, b.Where)
			}
			if !slices.Equal(where, want[i]) {
				t.Errorf("old=%v: Banned(%s) in %v, want %v", old, ips[i], where, want[i])
			}
		}
		// One command for every address; the fallback reads each jail once.
		wantRan := []string{"banned"}
		if old {
			wantRan = []string{"banned", "status", "status postfix-sasl", "status sshd"}
		}
		if !slices.Equal(ran, wantRan) {
			t.Errorf("old=%v: ran %q, want %q", old, ran, wantRan)
		}
	}
	var ran []string
	f := NewFail2ban(Fail2banOptions{Socket: "/s", JailD: t.TempDir(), Run: fakeClient(t, false, &ran)})
	ign, err := f.IgnoreList(ctx, "sshd")
	if err != nil || !slices.Equal(ign, []string{"127.0.0.0/8", "203.0.113.9", "::1", "192.0.2.200"}) {
		t.Fatalf("IgnoreList = %q, %v", ign, err)
	}
	if ign, err := f.IgnoreList(ctx, "postfix-sasl"); err != nil || len(ign) != 0 {
		t.Fatalf("empty IgnoreList = %q, %v", ign, err)
	}
	// 203.0.113.9 is ignored at runtime in sshd but not in the drop-in:
	// only the drop-in step remains, then the unban.
	ip := netip.MustParseAddr("203.0.113.9")
	steps := f.Plan(ctx, []netip.Addr{ip}, [][]Ban{{{Backend: "fail2ban", Where: "sshd", IP: ip}}})
	acts, err := steps[0].Actions, steps[0].Err
	if err != nil {
		t.Fatal(err)
	}
	if got := actionSummary(acts); len(got) != 2 || acts[0].Op != OpWrite || acts[1].Kind != KindUnban {
		t.Fatalf("plan %q", got)
	}
	// A jail name that would break the drop-in is refused.
	if st := f.Plan(ctx, []netip.Addr{ip}, [][]Ban{{{Backend: "fail2ban", Where: "sshd]\n[x", IP: ip}}}); !errors.Is(st[0].Err, ErrForeignAction) {
		t.Fatalf("odd jail name: %v", st[0].Err)
	}
}

func TestIgnoredHow(t *testing.T) {
	ip := netip.MustParseAddr("192.0.2.9")
	for _, c := range []struct {
		entries      []string
		exact, wider bool
	}{
		{nil, false, false},
		{[]string{"192.0.2.9"}, true, false},
		{[]string{"192.0.2.9/32"}, true, false},
		{[]string{"192.0.2.0/24"}, false, true},
		{[]string{"mail.example.com", "192.0.2.10"}, false, false},
		{[]string{"192.0.2.0/24", "192.0.2.9"}, true, true},
	} {
		exact, wider := ignoredHow(c.entries, ip)
		if exact != c.exact || wider != c.wider {
			t.Errorf("ignoredHow(%v) = %v, %v; want %v, %v", c.entries, exact, wider, c.exact, c.wider)
		}
	}
}

func TestFail2banUnavailable(t *testing.T) {
	ctx := t.Context()
	client := filepath.Join(t.TempDir(), "fail2ban-client")
	f := NewFail2ban(Fail2banOptions{Client: client})
	if err := f.Available(ctx); !errors.Is(err, ErrUnavailable) || !errors.Is(err, ErrNotInstalled) || err.Error() != client+" not found" {
		t.Errorf("Available without the client = %v", err)
	}
	f = NewFail2ban(Fail2banOptions{Client: "no-such-fail2ban-client"})
	if err := f.Available(ctx); !errors.Is(err, ErrNotInstalled) || err.Error() != "no-such-fail2ban-client not found in $PATH" {
		t.Errorf("Available without the client in $PATH = %v", err)
	}
	// Installed, server down: unavailable, but installed, so review
	// consults it and reports its status as unknown.
	testenv.MustHaveExec(t, "fail2ban-client", "fail2ban")
	f = NewFail2ban(Fail2banOptions{Socket: filepath.Join(t.TempDir(), "none.sock")})
	if err := f.Available(ctx); !errors.Is(err, ErrUnavailable) || errors.Is(err, ErrNotInstalled) ||
		!strings.HasPrefix(err.Error(), "fail2ban-client ping: exit status 255: ") {
		t.Errorf("Available without a server = %v", err)
	}
}

func TestParseBannedAll(t *testing.T) {
	m, err := parseBannedAll(`[{'sshd': ['192.0.2.1', '::ffff:192.0.2.2', 'fe80::1%eth0', 'host.example', '2001:DB8::1']}, {"it's": []}, {'sshd': ['192.0.2.3']}]` + "\n")
	if err != nil {
		t.Fatal(err)
	}
	want := map[string][]string{"sshd": {"192.0.2.1", "192.0.2.2", "192.0.2.3", "2001:db8::1"}, "it's": nil}
	if len(m) != len(want) {
		t.Fatalf("jails %v", m)
	}
	for j, ips := range want {
		if len(m[j]) != len(ips) {
			t.Errorf("%s: %v, want %v", j, m[j], ips)
		}
		for _, ip := range ips {
			if !m[j][netip.MustParseAddr(ip)] {
				t.Errorf("%s lacks %s", j, ip)
			}
		}
	}
	for _, bad := range []string{
		"", "[", "[[]]", "[{'sshd': '192.0.2.1'}]", "[{'sshd': [192.0.2.1]}]", "[{'sshd': ['192.0.2.1'}]",
		"[{'sshd': ['x\n']}]", "[{'a': []}] trailing", "ERROR  Invalid command", "[{'a': []},]",
	} {
		if _, err := parseBannedAll(bad); err == nil {
			t.Errorf("%q parsed", bad)
		}
	}
}

// A jail name from fail2ban's answer that would break the drop-in is
// refused when planning, whatever the answer held.
func TestFail2banHostileJailName(t *testing.T) {
	ctx := t.Context()
	run := func(ctx context.Context, name string, args ...string) ([]byte, error) {
		switch args[len(args)-1] {
		case "banned":
			return []byte(`[{"sshd]\nignoreip = 0.0.0.0/0\n[x": ['192.0.2.1']}, {'a b': ['192.0.2.1']}]`), nil
		}
		return []byte("These IP addresses/networks are ignored:\n"), nil
	}
	f := NewFail2ban(Fail2banOptions{Socket: "/s", JailD: t.TempDir(), Run: run})
	plan, err := MakePlan(ctx, []Backend{f}, []netip.Addr{netip.MustParseAddr("192.0.2.1")})
	if err != nil {
		t.Fatal(err)
	}
	if len(plan.Actions()) != 0 || !errors.Is(plan.Err(), ErrForeignAction) {
		t.Fatalf("plan %v, err %v", actionSummary(plan.Actions()), plan.Err())
	}
}

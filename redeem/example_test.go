package redeem_test

import (
	"context"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"strings"

	"github.com/tlsrpt/tlsrpt/redeem"
)

// A plan, then its application, with the ipqbdb backend, command lines of
// the operator's own and a Runner that stands for the ipqbdb tools: it
// answers --help in popt's layout, lists one block record and one
// whitelisted address, and records the rest.
func Example() {
	commands := `
list-blocked addr=1 prob=2 = ibd-del --dump
unban = ibd-del --remove --ip-addr=<ip>
keep = ibd-white --add <ip>
list-kept = ibd-white --dump
`
	cs, err := redeem.ParseIPQBDBCommands(strings.NewReader(commands), "my-ipqbdb.conf")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return
	}
	run := func(ctx context.Context, name string, args ...string) ([]byte, error) {
		switch tool := filepath.Base(name); {
		case args[0] == "--help" && tool == "ibd-del":
			return []byte("Usage: ibd-del [OPTION...]\n      --dump\n      --remove\n      --ip-addr=addr\n"), nil
		case args[0] == "--help":
			return []byte("Usage: ibd-white [OPTION...]\n      --dump\n  -a, --add=addr\n"), nil
		case args[0] == "--dump" && tool == "ibd-del":
			return []byte("192.0.2.7 25.00% 1 spam\n198.51.100.1 0.10% 1 spam\n"), nil
		case args[0] == "--dump":
			return []byte("203.0.113.9 3600\n"), nil
		}
		fmt.Println("ran:", filepath.Base(name), strings.Join(args, " "))
		return nil, nil
	}
	q := redeem.NewIPQBDB(redeem.IPQBDBOptions{BinDir: "/usr/local/sbin", Commands: cs, Run: run})
	backends := []redeem.Backend{q}

	ips := []netip.Addr{netip.MustParseAddr("192.0.2.7"), netip.MustParseAddr("198.51.100.1")}
	plan, err := redeem.MakePlan(context.Background(), backends, ips)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return
	}
	for _, e := range plan.Entries {
		fmt.Println(e.IP, "banned:", len(e.Bans) > 0)
	}
	for _, a := range plan.Actions() {
		fmt.Println("plan:", a.Kind, a.Argv)
	}
	for _, r := range redeem.ApplyAll(context.Background(), backends, plan.Actions()) {
		fmt.Println("done:", r.Action.Kind, r.OK)
	}
	// Output:
	// 192.0.2.7 banned: true
	// 198.51.100.1 banned: false
	// plan: keep [/usr/local/sbin/ibd-white --add 192.0.2.7]
	// plan: unban [/usr/local/sbin/ibd-del --remove --ip-addr=192.0.2.7]
	// ran: ibd-white --add 192.0.2.7
	// ran: ibd-del --remove --ip-addr=192.0.2.7
	// done: keep true
	// done: unban true
}

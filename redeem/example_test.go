package redeem_test

import (
	"context"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"

	"github.com/tlsrpt/tlsrpt/redeem"
)

// A plan, then its application, with the ipqbdb backend and a Runner that
// stands for the ipqbdb tools.
func Example() {
	db := map[string]bool{"192.0.2.7": true} // banned addresses
	white := map[string]bool{}
	run := func(ctx context.Context, name string, args ...string) ([]byte, error) {
		switch {
		case args[0] == "--list" && filepath.Base(name) == "ibd-del":
			out := ""
			for ip := range db {
				out += ip + "\t1\tspam\n"
			}
			return []byte(out), nil
		case args[0] == "--list":
			return nil, nil
		case filepath.Base(name) == "ibd-white":
			white[args[1]] = true
		case filepath.Base(name) == "ibd-del":
			delete(db, args[1])
		}
		return nil, nil
	}
	q := redeem.NewIPQBDB(redeem.IPQBDBOptions{BinDir: "/usr/local/sbin", Run: run})
	backends := []redeem.Backend{q}

	plan, err := redeem.MakePlan(context.Background(), backends, []netip.Addr{netip.MustParseAddr("192.0.2.7")})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return
	}
	for _, a := range plan.Actions() {
		fmt.Println("plan:", a.Kind, a.Argv)
	}
	for _, r := range redeem.ApplyAll(context.Background(), backends, plan.Actions()) {
		fmt.Println("done:", r.Action.Describe, r.OK)
	}
	fmt.Println("still banned:", db["192.0.2.7"], "whitelisted:", white["192.0.2.7"])
	// Output:
	// plan: keep [/usr/local/sbin/ibd-white --ip 192.0.2.7]
	// plan: unban [/usr/local/sbin/ibd-del --ip 192.0.2.7]
	// done: ipqbdb: whitelist 192.0.2.7 true
	// done: ipqbdb: delete the block record of 192.0.2.7 true
	// still banned: false whitelisted: true
}

package redeem

import (
	"context"
	"fmt"
	"net/netip"
	"strings"
	"testing"
)

// Benchmarks of the ban status of a year of review rows (20,000
// addresses) against backends holding 20,000 records, with Runners that
// answer from memory: the cost of parsing and matching, not of the tools.

func benchAddrs(n int) []netip.Addr {
	out := make([]netip.Addr, n)
	for i := range out {
		out[i] = netip.AddrFrom4([4]byte{10, byte(i >> 16), byte(i >> 8), byte(i)})
	}
	return out
}

func BenchmarkBanStatusAllIPQBDB(b *testing.B) {
	ips := benchAddrs(20000)
	var listing strings.Builder
	for i, ip := range ips {
		if i%2 == 0 {
			fmt.Fprintf(&listing, "%s\t%.2f%%\t%d\tsmtp abuse\n", ip, float64(i%100), i%7)
		}
	}
	for i := 0; i < 10000; i++ {
		fmt.Fprintf(&listing, "172.16.%d.%d\t50.00%%\t1\tother\n", i>>8, i&255)
	}
	help := []byte("Usage: ibd-del [OPTION...]\n  -i, --ip-addr=ip   x\n      --list   x\n")
	out := []byte(listing.String())
	run := func(ctx context.Context, name string, args ...string) ([]byte, error) {
		if args[0] == "--help" {
			return help, nil
		}
		return out, nil
	}
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		q := NewIPQBDB(IPQBDBOptions{Run: run})
		st, err := BanStatusAll(context.Background(), []Backend{q}, ips)
		if err != nil || len(st) != len(ips) {
			b.Fatal(err)
		}
	}
}

func BenchmarkBanStatusAllFail2ban(b *testing.B) {
	ips := benchAddrs(20000)
	var answer strings.Builder
	answer.WriteString("[")
	for j, jail := range []string{"sshd", "postfix", "dovecot"} {
		if j > 0 {
			answer.WriteString(", ")
		}
		fmt.Fprintf(&answer, "{'%s': [", jail)
		for i, ip := range ips[j*5000 : j*5000+10000] {
			if i > 0 {
				answer.WriteString(", ")
			}
			fmt.Fprintf(&answer, "'%s'", ip)
		}
		answer.WriteString("]}")
	}
	answer.WriteString("]\n")
	out := []byte(answer.String())
	run := func(ctx context.Context, name string, args ...string) ([]byte, error) { return out, nil }
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		f := NewFail2ban(Fail2banOptions{Socket: "/s", Run: run})
		st, err := BanStatusAll(context.Background(), []Backend{f}, ips)
		if err != nil || len(st) != len(ips) {
			b.Fatal(err)
		}
	}
}

package redeem

import (
	"bytes"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// FuzzParseIPQBDBCommands: any input parses or fails with ErrCommandsFile;
// what parses has the four commands, <ip> once in unban and keep and
// never in the listings, and every expansion is one argument per word.
func FuzzParseIPQBDBCommands(f *testing.F) {
	f.Add(defaultIPQBDBCommands)
	if b, err := os.ReadFile(filepath.Join(altStandinDir, "commands.conf")); err == nil {
		f.Add(b)
	}
	f.Add([]byte("unban ipv6 = ibd-del --ip-addr=<ip>\n"))
	f.Add([]byte("list-blocked addr=3 prob=1 = /x -- -y\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		cs, err := ParseIPQBDBCommands(bytes.NewReader(data), "f")
		if err != nil {
			if !strings.HasPrefix(err.Error(), "f:") && !strings.HasPrefix(err.Error(), "f ") {
				t.Fatalf("error without the file name: %v", err)
			}
			return
		}
		ip := netip.MustParseAddr("2001:db8::1")
		for _, c := range cs.All() {
			n := 0
			exp := c.Expand(ip)
			if len(exp) != len(c.Args) {
				t.Fatalf("%s: expansion changed the number of arguments", c.Name)
			}
			for i, a := range exp {
				if a != c.Args[i] {
					n++
				}
			}
			if c.isListing() != (n == 0) || n > 1 {
				t.Fatalf("%s: <ip> replaced %d times in %q", c.Name, n, c.Args)
			}
			if c.Program == "" || strings.HasPrefix(c.Program, "-") {
				t.Fatalf("%s: program %q", c.Name, c.Program)
			}
		}
	})
}

// FuzzIPQBDBListing: a listing parses or fails with ErrListing; records
// have valid prefixes and probabilities from 0 to 1.
func FuzzIPQBDBListing(f *testing.F) {
	f.Add([]byte("192.0.2.7\t25.00%\t1\tspam\n2001:db8::/48 0.5 2\n"))
	f.Add([]byte("1 192.0.2.7 3 0.250000 x\n"))
	f.Add([]byte("::ffff:192.0.2.0/120 100%\n"))
	lb := DefaultIPQBDBCommands().ListBlocked
	f.Fuzz(func(t *testing.T, data []byte) {
		recs, err := parseIPQBDBListing(bytes.NewReader(data), lb)
		if err != nil {
			return
		}
		for _, r := range recs {
			if !r.Prefix.IsValid() || r.Prefix != r.Prefix.Masked() || r.Prefix.Addr().Is4In6() || r.Prob < 0 || r.Prob > 1 {
				t.Fatalf("record %+v", r)
			}
		}
		idx := indexRecords(recs)
		for _, r := range recs {
			if len(idx.holding(r.Prefix.Addr())) == 0 {
				t.Fatalf("record %s not found by its own address", r.Prefix)
			}
		}
	})
}

// FuzzParseBannedAll: fail2ban's answer parses or fails; addresses found
// are valid, unzoned and unmapped.
func FuzzParseBannedAll(f *testing.F) {
	f.Add("[{'sshd': ['192.0.2.1', '2001:db8::1']}, {'postfix': []}]")
	f.Add(`[{"it's": ['::ffff:192.0.2.1']}]`)
	f.Add("[]")
	f.Fuzz(func(t *testing.T, s string) {
		m, err := parseBannedAll(s)
		if err != nil {
			return
		}
		for _, set := range m {
			for a := range set {
				if !a.IsValid() || a.Zone() != "" || a.Is4In6() {
					t.Fatalf("address %v", a)
				}
			}
		}
	})
}

// FuzzHelpOptions: every option read from a help output is a well-formed
// option name.
func FuzzHelpOptions(f *testing.F) {
	if b, err := os.ReadFile("testdata/popt/logrotate-3.21.0-help.txt"); err == nil {
		f.Add(string(b))
	}
	f.Add("  -i, --ip-addr=ip   x\n      --list[=N]\n")
	f.Fuzz(func(t *testing.T, s string) {
		for o := range helpOptions(s) {
			if !helpOption().MatchString(o) {
				t.Fatalf("option %q", o)
			}
		}
	})
}

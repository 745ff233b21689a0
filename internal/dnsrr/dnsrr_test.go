package dnsrr

import (
	"errors"
	"io/fs"
	"net"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/miekg/dns"
)

// records parses each line as one resource record in zone-file form.
func records(t *testing.T, lines ...string) []dns.RR {
	t.Helper()
	var rrs []dns.RR
	for _, l := range lines {
		rr, err := dns.NewRR(l)
		if err != nil {
			t.Fatalf("%s: %v", l, err)
		}
		rrs = append(rrs, rr)
	}
	return rrs
}

func TestMapPassesOverOtherTypes(t *testing.T) {
	rrs := records(t,
		`example.org. 60 IN CNAME other.example.`,
		`other.example. 60 IN TXT "v=TLSRPTv1;" " rua=mailto:a@b"`,
		`other.example. 60 IN MX 10 mx.other.example.`,
		`other.example. 60 IN TXT "second"`,
	)
	if got := Map(rrs, func(r *dns.TXT) int { return len(r.Txt) }); !slices.Equal(got, []int{2, 1}) {
		t.Fatalf("Map over TXT = %v, want [2 1]", got)
	}
	if got := Map(rrs, func(r *dns.PTR) string { return r.Ptr }); got != nil {
		t.Fatalf("Map over PTR = %v, want none", got)
	}
}

func TestIP(t *testing.T) {
	rrs := records(t, "a.example. 60 IN A 192.0.2.1", "a.example. 60 IN AAAA 2001:db8::1", "a.example. 60 IN MX 10 mx.example.")
	for i, want := range []net.IP{net.ParseIP("192.0.2.1"), net.ParseIP("2001:db8::1"), nil} {
		if got := IP(rrs[i]); !got.Equal(want) {
			t.Errorf("IP(%s) = %v, want %v", rrs[i], got, want)
		}
	}
}

// TestSystemServer reads the first name server of a resolv.conf, an IPv6
// one in brackets; a file naming none gives "" and no error, a missing
// file its error.
func TestSystemServer(t *testing.T) {
	dir := t.TempDir()
	for name, want := range map[string]string{
		"nameserver 192.0.2.53\nnameserver 192.0.2.54\n": "192.0.2.53:53",
		"# none\nnameserver 2001:db8::53\n":              "[2001:db8::53]:53",
		"search example.org\n":                           "",
	} {
		file := filepath.Join(dir, "resolv.conf")
		if err := os.WriteFile(file, []byte(name), 0o644); err != nil {
			t.Fatal(err)
		}
		if got, err := SystemServer(file); got != want || err != nil {
			t.Errorf("SystemServer(%q) = %q, %v; want %q", name, got, err, want)
		}
	}
	if got, err := SystemServer(filepath.Join(dir, "missing")); got != "" || !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("SystemServer(missing) = %q, %v", got, err)
	}
}

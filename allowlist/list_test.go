package allowlist

import (
	"errors"
	"net/netip"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

func TestParseErrors(t *testing.T) {
	tests := []struct{ name, text, want string }{
		{"bad prefix length", "# partners\n\nok.example ip:10.0.0.0/8\nbad.example ip:10.0.0.0/33\n",
			`allowlist: corp.list:4: bad ip: "10.0.0.0/33": netip.ParsePrefix("10.0.0.0/33"): prefix length out of range`},
		{"bad address", "a.example ip:10.0.0.300",
			`allowlist: corp.list:1: bad ip: "10.0.0.300": netip.ParsePrefix("10.0.0.300"): ParseAddr("10.0.0.300"): IPv4 field has value >255`},
		{"domain without proof", "a.example\n",
			`allowlist: corp.list:1: a.example has no ip:, spf: or rdns: proof`},
		{"unknown proof", "a.example dkim:a.example",
			`allowlist: corp.list:1: unknown proof "dkim" in "dkim:a.example" (want ip:, spf: or rdns:)`},
		{"bare word", "a.example 10.0.0.0/8",
			`allowlist: corp.list:1: "10.0.0.0/8" is not ip:CIDR, spf:DOMAIN or rdns:SUFFIX`},
		{"bad domain", "ip:10.0.0.0/8 a.example",
			`allowlist: corp.list:1: bad domain: "ip:10.0.0.0/8": not a domain name`},
		{"single label", "localhost ip:127.0.0.1",
			`allowlist: corp.list:1: bad domain: "localhost": not a domain name`},
		{"bad spf domain", "a.example spf:-spf.a.example",
			`allowlist: corp.list:1: bad spf: "-spf.a.example": not a domain name`},
		{"empty rdns", "a.example rdns:",
			`allowlist: corp.list:1: bad rdns: "": not a domain name`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Parse(strings.NewReader(tt.text), "corp.list")
			if err == nil || err.Error() != tt.want {
				t.Fatalf("Parse error =\n\t%v\nwant\n\t%s", err, tt.want)
			}
			var se *SyntaxError
			if !errors.As(err, &se) || se.File != "corp.list" {
				t.Errorf("error %v is not a *SyntaxError for corp.list", err)
			}
		})
	}
}

func TestDefault(t *testing.T) {
	l := Default()
	for _, reporter := range []string{"google.com", "microsoft.com", "outlook.com", "yahoo.com", "aol.com",
		"icloud.com", "amazonses.com", "mail.ru", "comcast.net", "gmx.net", "web.de", "zoho.com", "fastmail.com"} {
		if e := l.ForReporter(reporter); e == nil || e.Domain != reporter {
			t.Errorf("ForReporter(%q) = %v", reporter, e)
		}
	}
	if e := l.ForReporter("corp.mail.ru"); e == nil || e.Domain != "mail.ru" {
		t.Errorf("ForReporter(corp.mail.ru) = %v, want the mail.ru entry", e)
	}
	if e := l.ForReporter("Google Inc.", "evil.example", "google.com.evil.example"); e != nil {
		t.Errorf("ForReporter(non-domains and strangers) = %v, want nil", e)
	}
	// Every default entry round-trips through the file format.
	var text strings.Builder
	for _, e := range l.Entries {
		text.WriteString(e.String() + "\n")
	}
	again, err := Parse(strings.NewReader(text.String()), "roundtrip")
	if err != nil || !reflect.DeepEqual(again, l.Entries) {
		t.Errorf("default list does not round-trip: %v", err)
	}
}

func TestLoad(t *testing.T) {
	l, err := Load([]string{"testdata/corp.list"}, false)
	if err != nil {
		t.Fatal(err)
	}
	g := l.ForReporter("google.com")
	if g == nil || len(g.SPF) != 1 || len(g.IPs) != 1 || g.IPs[0].String() != "198.51.100.0/24" {
		t.Errorf("google.com after loading corp.list = %v, want the built-in entry plus ip:198.51.100.0/24", g)
	}
	if len(l.Entries) != len(Default().Entries)+2 {
		t.Errorf("%d entries, want the defaults + 2", len(l.Entries))
	}

	// With noDefault, the file's entries alone, as written.
	l, err = Load([]string{"testdata/corp.list"}, true)
	want := []Entry{
		{Domain: "partner.example", IPs: []netip.Prefix{netip.MustParsePrefix("192.0.2.0/24"), netip.MustParsePrefix("2001:db8:1::/48")}},
		{Domain: "google.com", IPs: []netip.Prefix{netip.MustParsePrefix("198.51.100.0/24")}},
		{Domain: "mailer.example.org", SPF: []string{"_spf.mailer.example.org"}, RDNS: []string{"out.mailer.example.org"}},
	}
	if err != nil || !reflect.DeepEqual(l.Entries, want) {
		t.Fatalf("Load with noDefault =\n%v, %v\nwant\n%v", l.Entries, err, want)
	}

	_, err = Load([]string{"testdata/corp.list", "testdata/bad-ip.list"}, false)
	wantErr := `allowlist: testdata/bad-ip.list:3: bad ip: "10.0.0.0/33"`
	if err == nil || !strings.HasPrefix(err.Error(), wantErr) {
		t.Errorf("Load(bad-ip.list) error = %v, want %s...", err, wantErr)
	}

	_, err = Load([]string{filepath.Join(t.TempDir(), "missing.list")}, false)
	if !errors.Is(err, os.ErrNotExist) {
		t.Errorf("Load(missing) error = %v, want not exist", err)
	}
}

func TestUnderSuffix(t *testing.T) {
	for _, tt := range []struct {
		name, suffix string
		want         bool
	}{
		{"mail-sor-f41.google.com.", "google.com", true},
		{"google.com", "google.com", true},
		{"MX.Google.COM", "google.com", true},
		{"evilgoogle.com", "google.com", false},
		{"google.com.evil.example", "google.com", false},
		{"a.outbound.protection.outlook.com", "outbound.protection.outlook.com", true},
		{"protection.outlook.com", "outbound.protection.outlook.com", false},
	} {
		if got := underSuffix(tt.name, tt.suffix); got != tt.want {
			t.Errorf("underSuffix(%q, %q) = %v", tt.name, tt.suffix, got)
		}
	}
}

func FuzzParse(f *testing.F) {
	f.Add(defaultList)
	for _, name := range []string{"testdata/corp.list", "testdata/bad-ip.list"} {
		b, err := os.ReadFile(name)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(string(b))
	}
	f.Add("a.example ip:::ffff:10.0.0.1/128 rdns:x.y")
	f.Fuzz(func(t *testing.T, text string) {
		entries, err := Parse(strings.NewReader(text), "fuzz")
		if err != nil {
			if !strings.HasPrefix(err.Error(), "allowlist: ") {
				t.Errorf("error without prefix: %v", err)
			}
			return
		}
		// What parses is written back and parses the same.
		var b strings.Builder
		for _, e := range entries {
			b.WriteString(e.String() + "\n")
		}
		again, err := Parse(strings.NewReader(b.String()), "again")
		if err != nil {
			t.Fatalf("re-parsing %q: %v", b.String(), err)
		}
		if len(entries) > 0 && !reflect.DeepEqual(again, entries) {
			t.Errorf("round trip changed entries:\n%v\n%v", entries, again)
		}
	})
}

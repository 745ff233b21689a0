package allowlist

import (
	"errors"
	"strings"
	"testing"

	"github.com/tlsrpt/tlsrpt/internal/dnstest"
)

func TestExport(t *testing.T) {
	records := testRecords(t)
	records.TXT["_spf.zoho.example"] = []string{"v=spf1 a:mx1.zoho.example/28 mx//64 -ip4:10.0.0.0/8 ?ip4:10.1.0.0/16 exists:%{i}.x.zoho.example ~all"}
	records.Host["mx1.zoho.example"] = []string{"203.0.113.70"}
	records.Host["mx2.zoho.example"] = []string{"2001:db8:2::9"}
	records.MX = map[string][]string{"_spf.zoho.example": {"mx2.zoho.example"}}
	r := &Resolver{Server: dnstest.Start(t, records)}
	entries, err := Parse(strings.NewReader(testList+"zoho.example spf:_spf.zoho.example\n"), "test.list")
	if err != nil {
		t.Fatal(err)
	}
	l := &List{Entries: entries}
	prefixes := []string{
		"94.100.180.10/32",    // mail.ru a:smtp.mail.ru
		"192.0.2.128/25",      // partner.example ip:
		"203.0.113.64/28",     // zoho a:mx1/28
		"209.85.128.0/17",     // google include:_netblocks.google.com
		"217.69.128.0/20",     // mail.ru ip4:
		"2001:db8:1::/48",     // partner.example ip:
		"2001:db8:2::/64",     // zoho mx//64
		"2001:4860:4000::/36", // google ip6:
	}
	for format, want := range map[string]string{
		"cidr":       strings.Join(prefixes, "\n") + "\n",
		"postscreen": strings.Join(prefixes, " permit\n") + " permit\n",
		"fail2ban":   "ignoreip = " + strings.Join(prefixes, " ") + "\n",
	} {
		var b strings.Builder
		if err := l.Export(t.Context(), format, r, &b); err != nil {
			t.Errorf("Export(%s): %v", format, err)
		}
		if b.String() != want {
			t.Errorf("Export(%s) =\n%s\nwant\n%s", format, b.String(), want)
		}
	}
	if err := l.Export(t.Context(), "hosts", r, &strings.Builder{}); !errors.Is(err, ErrFormat) {
		t.Errorf("Export(hosts) error = %v, want ErrFormat", err)
	}
}

func TestExportLimitsAndErrors(t *testing.T) {
	records := dnstest.Records{TXT: map[string][]string{
		"loop.example": {"v=spf1 include:loop.example ip4:192.0.2.1 -all"},
		"many.example": {"v=spf1 " + strings.Repeat("include:leaf.example ", 11) + "-all"},
		"leaf.example": {"v=spf1 ip4:198.51.100.1 -all"},
		"ok.example":   {"v=spf1 ip4:203.0.113.0/24 -all"},
	}}
	r := &Resolver{Server: dnstest.Start(t, records)}
	l := &List{Entries: []Entry{
		{Domain: "loop.example", SPF: []string{"loop.example"}},
		{Domain: "many.example", SPF: []string{"many.example"}},
		{Domain: "none.example", SPF: []string{"none.example"}},
		{Domain: "ok.example", SPF: []string{"ok.example"}},
	}}
	var b strings.Builder
	err := l.Export(t.Context(), "cidr", r, &b)
	for _, want := range []string{
		"expanding spf:loop.example of loop.example: spf: more than 10 DNS lookups",
		"expanding spf:many.example of many.example: spf: more than 10 DNS lookups",
		"expanding spf:none.example of none.example: spf record of none.example: lookup none.example.",
	} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("Export error = %v\nwant it to contain %q", err, want)
		}
	}
	// What could be expanded is still written.
	if !strings.Contains(b.String(), "203.0.113.0/24\n") || !strings.Contains(b.String(), "198.51.100.1/32\n") {
		t.Errorf("Export wrote %q, want ok.example's and leaf.example's ranges", b.String())
	}
}

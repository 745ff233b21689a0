package allowlist

import (
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/tlsrpt/tlsrpt/arrival"
	"github.com/tlsrpt/tlsrpt/internal/dnstest"
	"github.com/tlsrpt/tlsrpt/internal/testenv"
)

const testList = `
google.com      spf:_spf.google.com rdns:google.com
mail.ru         spf:_spf.mail.ru rdns:mail.ru
partner.example ip:192.0.2.128/25 ip:2001:db8:1::/48
`

func testChecker(t *testing.T, server string) *Checker {
	t.Helper()
	entries, err := Parse(strings.NewReader(testList), "test.list")
	if err != nil {
		t.Fatal(err)
	}
	return &Checker{Resolver: &Resolver{Server: server}, List: &List{Entries: entries}}
}

func TestProve(t *testing.T) {
	c := testChecker(t, dnstest.Start(t, testRecords(t)))
	g, mr, p := &c.List.Entries[0], &c.List.Entries[1], &c.List.Entries[2]
	tests := []struct {
		ip    string
		entry *Entry
		want  Proof
	}{
		{"209.85.220.41", g, Proof{OK: true, Method: "spf", Detail: "209.85.220.41 passes SPF for _spf.google.com"}},
		{"2001:4860:4000::25", g, Proof{OK: true, Method: "spf", Detail: "2001:4860:4000::25 passes SPF for _spf.google.com"}},
		{"198.51.100.7", g, Proof{OK: true, Method: "rdns", Detail: "198.51.100.7 has forward-confirmed rDNS relay7.google.com under google.com"}},
		{"::ffff:198.51.100.7", g, Proof{OK: true, Method: "rdns", Detail: "198.51.100.7 has forward-confirmed rDNS relay7.google.com under google.com"}},
		{"192.0.2.10", g, Proof{OK: false, Method: "", Detail: "192.0.2.10 is not google.com's: fails SPF for _spf.google.com (softfail), " +
			"no forward-confirmed rDNS under google.com (mail.google.com does not resolve to 192.0.2.10)"}},
		{"192.0.2.20", g, Proof{OK: false, Method: "", Detail: "192.0.2.20 is not google.com's: fails SPF for _spf.google.com (softfail), " +
			"no forward-confirmed rDNS under google.com"}},
		{"192.0.2.1", g, Proof{OK: false, Method: "", Detail: "192.0.2.1 is not google.com's: fails SPF for _spf.google.com (softfail), " +
			"no forward-confirmed rDNS under google.com (no PTR: not found)"}},
		{"94.100.180.10", mr, Proof{OK: true, Method: "spf", Detail: "94.100.180.10 passes SPF for _spf.mail.ru"}},
		{"217.69.130.1", mr, Proof{OK: true, Method: "spf", Detail: "217.69.130.1 passes SPF for _spf.mail.ru"}},
		{"209.85.220.41", mr, Proof{OK: false, Method: "", Detail: "209.85.220.41 is not mail.ru's: fails SPF for _spf.mail.ru (fail), " +
			"no forward-confirmed rDNS under mail.ru"}},
		{"192.0.2.200", p, Proof{OK: true, Method: "ip", Detail: "192.0.2.200 is in 192.0.2.128/25"}},
		{"2001:db8:1::5", p, Proof{OK: true, Method: "ip", Detail: "2001:db8:1::5 is in 2001:db8:1::/48"}},
		{"192.0.2.20", p, Proof{OK: false, Method: "", Detail: "192.0.2.20 is not partner.example's: not in its ranges"}},
	}
	for _, tt := range tests {
		t.Run(tt.ip+" "+tt.entry.Domain, func(t *testing.T) {
			got := c.Prove(t.Context(), netip.MustParseAddr(tt.ip), tt.entry)
			if got != tt.want {
				t.Errorf("Prove =\n\t%+v\nwant\n\t%+v", got, tt.want)
			}
		})
	}
}

func TestJudge(t *testing.T) {
	c := testChecker(t, dnstest.Start(t, testRecords(t)))
	dkimGoogle := arrival.Auth{Authenticated: true, Method: "dkim", Domain: "google.com", Detail: "dkim pass d=google.com matches reporter google.com"}
	byGoogle := Evidence{Organization: "Google LLC", Submitter: "google.com", Auth: dkimGoogle, Transport: "mail"}
	unsigned := Evidence{Organization: "Google LLC", Submitter: "google.com", Auth: arrival.Auth{Detail: "no DKIM signature"}, Transport: "mail"}
	tests := []struct {
		name        string
		ip          string
		ev          []Evidence
		wantTrusted bool
		wantWhy     string
	}{
		{"authenticated Google report, SPF", "209.85.220.41", []Evidence{unsigned, byGoogle}, true,
			"google.com: DKIM-authenticated report, 209.85.220.41 passes SPF for _spf.google.com"},
		{"authres, rDNS", "198.51.100.7", []Evidence{{Submitter: "google.com", Transport: "mail",
			Auth: arrival.Auth{Authenticated: true, Method: "authres", Domain: "google.com", Detail: "authres mx.example.net: dkim=pass"}}}, true,
			"google.com: report authenticated by our Authentication-Results, 198.51.100.7 has forward-confirmed rDNS relay7.google.com under google.com"},
		{"Mail.ru as corp.mail.ru", "217.69.130.1", []Evidence{{Submitter: "mail.ru", Transport: "mail",
			Auth: arrival.Auth{Authenticated: true, Method: "dkim", Domain: "corp.mail.ru", Detail: "dkim pass d=corp.mail.ru matches reporter mail.ru"}}}, true,
			"mail.ru: DKIM-authenticated report, 217.69.130.1 passes SPF for _spf.mail.ru"},
		{"unsigned reports", "209.85.220.41", []Evidence{unsigned, unsigned}, false,
			"no authenticated report (2 reports: no DKIM signature)"},
		{"HTTPS is never authenticated", "209.85.220.41", []Evidence{{Submitter: "google.com", Auth: dkimGoogle, Transport: "https"}}, false,
			"no authenticated report (1 report: 1 by HTTPS, which cannot be authenticated)"},
		{"reporter not on the allowlist", "209.85.220.41", []Evidence{{Submitter: "evil.example", Transport: "mail",
			Auth: arrival.Auth{Authenticated: true, Method: "dkim", Domain: "evil.example", Detail: "dkim pass d=evil.example matches reporter evil.example"}}}, false,
			"reporter evil.example is not on the allowlist"},
		{"a foreign reporter naming a Google address while claiming Google as submitter", "209.85.220.41", []Evidence{{Submitter: "google.com",
			ContactInfo: "evil.example", Transport: "mail",
			Auth: arrival.Auth{Authenticated: true, Method: "dkim", Domain: "evil.example", Detail: "dkim pass d=evil.example matches reporter evil.example"}}}, false,
			"reporter evil.example is not on the allowlist"},
		{"address outside the reporter's", "192.0.2.1", []Evidence{byGoogle}, false,
			"192.0.2.1 is not google.com's: fails SPF for _spf.google.com (softfail), no forward-confirmed rDNS under google.com (no PTR: not found)"},
		{"rDNS not forward-confirmed", "192.0.2.10", []Evidence{byGoogle}, false,
			"192.0.2.10 is not google.com's: fails SPF for _spf.google.com (softfail), no forward-confirmed rDNS under google.com (mail.google.com does not resolve to 192.0.2.10)"},
		{"no evidence", "192.0.2.10", nil, false, "no report names it"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			v := c.Judge(t.Context(), netip.MustParseAddr(tt.ip), tt.ev)
			if v.Trusted != tt.wantTrusted || v.Why != tt.wantWhy {
				t.Errorf("Judge = %v %q\nwant      %v %q", v.Trusted, v.Why, tt.wantTrusted, tt.wantWhy)
			}
			if v.Trusted && (v.Entry == nil || !v.Proof.OK) {
				t.Errorf("trusted verdict without entry or proof: %+v", v)
			}
		})
	}
}

// TestChain runs a signed report message through Authenticate and Judge.
func TestChain(t *testing.T) {
	addr := dnstest.Start(t, testRecords(t))
	c := testChecker(t, addr)
	v := &Verifier{Resolver: c.Resolver}
	ip := netip.MustParseAddr("209.85.220.41")
	for _, tt := range []struct {
		name string
		raw  []byte
		want bool
	}{
		{"signed by google.com", sign(t, reportMessage("google.com", "google.com"), "google.com", "tlsrpt", time.Time{}), true},
		{"signed by evil.example", sign(t, reportMessage("google.com", "google.com"), "evil.example", "rsa", time.Time{}), false},
		{"unsigned", reportMessage("google.com", "google.com"), false},
	} {
		auth := v.Authenticate(t.Context(), tt.raw, google)
		verdict := c.Judge(t.Context(), ip, []Evidence{{Submitter: "google.com", Auth: auth, Transport: "mail"}})
		if verdict.Trusted != tt.want {
			t.Errorf("%s: trusted %v (%s), want %v", tt.name, verdict.Trusted, verdict.Why, tt.want)
		}
	}
}

func TestCheck(t *testing.T) {
	c := testChecker(t, dnstest.Start(t, testRecords(t)))
	for _, tt := range []struct {
		ip          string
		wantTrusted bool
		wantWhy     string
	}{
		{"209.85.220.41", true, "google.com: 209.85.220.41 has forward-confirmed rDNS mail-sor-f41.google.com under google.com"},
		{"209.85.220.42", true, "google.com: 209.85.220.42 passes SPF for _spf.google.com"},
		{"217.69.130.1", true, "mail.ru: 217.69.130.1 passes SPF for _spf.mail.ru"},
		{"192.0.2.130", true, "partner.example: 192.0.2.130 is in 192.0.2.128/25"},
		{"192.0.2.20", false, "192.0.2.20: no allowlist entry claims it (in no ip: range, no forward-confirmed rDNS under an rdns: suffix, passes no spf: domain)"},
		{"192.0.2.10", false, "192.0.2.10: no allowlist entry claims it (in no ip: range, no forward-confirmed rDNS under an rdns: suffix, passes no spf: domain)"},
	} {
		v := c.Check(t.Context(), netip.MustParseAddr(tt.ip))
		if v.Trusted != tt.wantTrusted || v.Why != tt.wantWhy {
			t.Errorf("Check(%s) = %v %q\nwant %v %q", tt.ip, v.Trusted, v.Why, tt.wantTrusted, tt.wantWhy)
		}
	}
}

// TestCheckDNSDownServesCache: with the DNS server down (its port
// refuses), a stale cache entry still proves the address, and without the
// cache the address is not trusted. Both checks end on the refusal: every
// timer of the offline resolver is an hour, so a check that waited for a
// time-out instead would still be waiting when testenv.Returns gives up.
func TestCheckDNSDownServesCache(t *testing.T) {
	cache := &MemCache{}
	c := testChecker(t, dnstest.Start(t, testRecords(t)))
	c.Resolver.Cache = cache
	ip := netip.MustParseAddr("209.85.220.42")
	if v := c.Check(t.Context(), ip); !v.Trusted {
		t.Fatalf("online: %s", v.Why)
	}
	off := &Checker{List: c.List, Resolver: &Resolver{Server: dnstest.Down(t), Cache: cache,
		Timeout: time.Hour, Budget: time.Hour,
		Now: func() time.Time { return time.Now().Add(48 * time.Hour) }}}
	var stale, none Verdict
	testenv.Returns(t, "offline checks", func() {
		stale = off.Check(t.Context(), ip)
		off.Resolver.Cache = nil
		none = off.Check(t.Context(), ip)
	})
	if !stale.Trusted {
		t.Errorf("offline with a stale cache: %s", stale.Why)
	}
	if none.Trusted {
		t.Errorf("offline without cache: trusted: %s", none.Why)
	}
}

func TestCheckDefaultApple(t *testing.T) {
	// No DNS at all: the ip: range of the built-in list suffices.
	c := &Checker{List: Default(), Resolver: &Resolver{Server: dnstest.Down(t)}}
	v := c.Check(t.Context(), netip.MustParseAddr("17.58.63.1"))
	if !v.Trusted || v.Why != "icloud.com: 17.58.63.1 is in 17.0.0.0/8" {
		t.Errorf("Check(17.58.63.1) = %v %q", v.Trusted, v.Why)
	}
}

// TestResidentialLineOfAFreemailProvider attacks the built-in list with a
// report signed by a comcast.net mailbox (anyone can have one) naming a
// Comcast residential line, forward-confirmed under comcast.net. The
// built-in entry must not trust it; an outbound server in Comcast's SPF is
// trusted. A list with rdns:comcast.net (what the built-in list said
// before) would trust the line: the test can fail.
func TestResidentialLineOfAFreemailProvider(t *testing.T) {
	addr := dnstest.Start(t, dnstest.Records{
		TXT: map[string][]string{
			"comcast.net":      {"v=spf1 include:_spf.comcast.net -all"},
			"_spf.comcast.net": {"v=spf1 ip4:96.114.154.0/24 -all"},
		},
		PTR:  map[string][]string{"73.1.2.3": {"c-73-1-2-3.hsd1.il.comcast.net"}},
		Host: map[string][]string{"c-73-1-2-3.hsd1.il.comcast.net": {"73.1.2.3"}},
	})
	signed := []Evidence{{Organization: "Comcast", Submitter: "comcast.net", Transport: "mail",
		Auth: arrival.Auth{Authenticated: true, Method: "dkim", Domain: "comcast.net", Detail: "dkim pass d=comcast.net"}}}
	line, outbound := netip.MustParseAddr("73.1.2.3"), netip.MustParseAddr("96.114.154.10")

	c := &Checker{List: Default(), Resolver: &Resolver{Server: addr}}
	if v := c.Judge(t.Context(), line, signed); v.Trusted || v.DNSFailed {
		t.Errorf("a residential line is trusted (or DNS failed): %+v", v)
	}
	if v := c.Judge(t.Context(), outbound, signed); !v.Trusted {
		t.Errorf("Comcast's outbound server is not trusted: %s", v.Why)
	}
	old, err := Parse(strings.NewReader("comcast.net spf:comcast.net rdns:comcast.net"), "old.list")
	if err != nil {
		t.Fatal(err)
	}
	c.List = &List{Entries: old}
	if v := c.Judge(t.Context(), line, signed); !v.Trusted {
		t.Errorf("control: a whole-domain rdns: suffix should have trusted the line: %s", v.Why)
	}
}

// TestDefaultListRDNSIsOutboundOnly checks every rdns: suffix of the
// built-in list against the rule: never a whole organizational domain, and
// documented above its line.
func TestDefaultListRDNSIsOutboundOnly(t *testing.T) {
	for _, e := range Default().Entries {
		for _, s := range e.RDNS {
			if OrgDomain(s) == s {
				t.Errorf("%s: rdns:%s is a whole provider domain", e.Domain, s)
			}
			if !strings.Contains(defaultList, "*."+s) {
				t.Errorf("%s: rdns:%s has no comment naming the outbound hosts (*.%s)", e.Domain, s, s)
			}
		}
	}
}

// TestDNSFailedNamed checks that a verdict kept from a decision by DNS
// says so, and that a DNS answer of "no" is not called a DNS failure.
func TestDNSFailedNamed(t *testing.T) {
	dead := testChecker(t, dnstest.Down(t))
	dead.Resolver.Budget = 500 * time.Millisecond
	ip := netip.MustParseAddr("209.85.220.41")
	v := dead.Check(t.Context(), ip)
	if v.Trusted || !v.DNSFailed || !strings.HasPrefix(v.Why, "DNS failed: ") {
		t.Errorf("Check with DNS down = %+v", v)
	}
	signed := []Evidence{{Submitter: "google.com", Transport: "mail",
		Auth: arrival.Auth{Authenticated: true, Method: "dkim", Domain: "google.com"}}}
	if v := dead.Judge(t.Context(), ip, signed); v.Trusted || !v.DNSFailed || !strings.HasPrefix(v.Why, "DNS failed: ") {
		t.Errorf("Judge with DNS down = %+v", v)
	}
	live := testChecker(t, dnstest.Start(t, testRecords(t)))
	if v := live.Check(t.Context(), netip.MustParseAddr("192.0.2.1")); v.Trusted || v.DNSFailed {
		t.Errorf("Check of an address DNS says no about = %+v", v)
	}
	if v := live.Judge(t.Context(), netip.MustParseAddr("192.0.2.1"), signed); v.Trusted || v.DNSFailed {
		t.Errorf("Judge of an address DNS says no about = %+v", v)
	}
}

// TestJudgeAll checks that JudgeAll gives each address the verdict Judge
// gives it alone, in order, with many at once on one resolver.
func TestJudgeAll(t *testing.T) {
	c := testChecker(t, dnstest.Start(t, testRecords(t)))
	c.Resolver.Cache = &MemCache{}
	c.Concurrency = 4
	signed := []Evidence{{Submitter: "google.com", Transport: "mail",
		Auth: arrival.Auth{Authenticated: true, Method: "dkim", Domain: "google.com"}}}
	var ips []netip.Addr
	var evs [][]Evidence
	for i := range 40 {
		ips = append(ips, netip.AddrFrom4([4]byte{209, 85, 220, byte(40 + i)}), netip.AddrFrom4([4]byte{192, 0, 2, byte(i)}))
		evs = append(evs, signed, signed)
	}
	got := c.JudgeAll(t.Context(), ips, evs)
	for i, ip := range ips {
		want := c.Judge(t.Context(), ip, evs[i])
		if got[i] != want {
			t.Fatalf("JudgeAll[%d] (%s) = %+v, Judge = %+v", i, ip, got[i], want)
		}
		if got[i].Trusted != (ip.As4()[0] == 209) {
			t.Fatalf("%s: trusted %v: %s", ip, got[i].Trusted, got[i].Why)
		}
	}
}

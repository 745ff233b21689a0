package store

import (
	"net/netip"
	"reflect"
	"testing"
	"time"

	"github.com/tlsrpt/tlsrpt/arrival"
	"github.com/tlsrpt/tlsrpt/report"
)

// redeemScenario stores, on day 5, Google's and Yahoo's signed reports
// naming four addresses; logs their unbans on day 6 (and a keep of .1, a
// planned-only and a failed action that must not count); then day 7's
// reports: Google's clean one, Google naming .2 again, Yahoo silent, and
// forgeries claiming Google (naming .1) and Yahoo (clean), which must move
// nothing.
func redeemScenario(t *testing.T, s *Store) time.Time {
	t.Helper()
	ctx := t.Context()
	add := func(r *report.Report, src arrival.Source) {
		t.Helper()
		if _, _, err := s.AddReport(ctx, r, src); err != nil {
			t.Fatal(err)
		}
	}
	add(mkReport("Google Inc.", "g-before", 5, detail("192.0.2.1", "starttls-not-supported", 3),
		detail("192.0.2.2", "starttls-not-supported", 2), detail("192.0.2.4", "validation-failure", 1)), signed("google.com"))
	add(mkReport("Yahoo", "y-before", 5, detail("192.0.2.3", "starttls-not-supported", 4)), signed("yahoo.com"))
	at := day(6).Add(12 * time.Hour)
	for _, a := range []Action{
		{Time: at.Add(-time.Hour), IP: netip.MustParseAddr("192.0.2.1"), Backend: "fail2ban", Kind: "keep", Target: "/etc/fail2ban/jail.d/x.local", Applied: true, OK: true},
		{Time: at, IP: netip.MustParseAddr("192.0.2.1"), Backend: "fail2ban", Kind: "unban", Target: "postfix", Applied: true, OK: true},
		{Time: at, IP: netip.MustParseAddr("192.0.2.2"), Backend: "fail2ban", Kind: "unban", Target: "postfix", Applied: true, OK: true},
		{Time: at, IP: netip.MustParseAddr("192.0.2.3"), Backend: "iptables", Kind: "unban", Target: "filter/INPUT", Applied: true, OK: true},
		{Time: at, IP: netip.MustParseAddr("192.0.2.4"), Backend: "fail2ban", Kind: "unban", Applied: false, OK: true},
		{Time: at, IP: netip.MustParseAddr("192.0.2.5"), Backend: "fail2ban", Kind: "unban", Applied: true, OK: false},
	} {
		if _, err := s.LogAction(ctx, a); err != nil {
			t.Fatal(err)
		}
	}
	// A range that overlaps the unban counts for nothing since.
	overlap := mkReport("Google Inc.", "g-overlap", 6, detail("192.0.2.2", "starttls-not-supported", 1))
	add(overlap, signed("google.com"))
	add(mkReport("Google Inc.", "g-clean", 7), signed("google.com"))
	add(mkReport("Google Inc.", "g-again", 8, detail("192.0.2.2", "certificate-expired", 5)), signed("google.com"))
	add(mkReport("Google Inc.", "forged-after", 9, detail("192.0.2.1", "starttls-not-supported", 9)), unsigned("google.com"))
	add(mkReport("Yahoo", "forged-clean", 9), unsigned("yahoo.com"))
	return at
}

// TestRedeemedFollowUp checks what the store says of each redeemed
// address, on both engines; the forged reports of redeemScenario attack
// "only authenticated reports count".
func TestRedeemedFollowUp(t *testing.T) {
	s := openTemp(t)
	at := redeemScenario(t, s)
	got, err := s.Redeemed(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	byIP := map[string]Redeemed{}
	for _, r := range got {
		if !r.At.Equal(at) {
			t.Errorf("%s: redeemed at %v, want %v", r.IP, r.At, at)
		}
		byIP[r.IP.String()] = r
	}
	if len(got) != 3 || len(byIP["192.0.2.1"].Actions) != 2 {
		t.Fatalf("redeemed = %+v, want .1 (keep and unban), .2, .3: no planned-only or failed action", got)
	}
	end8 := day(9).Add(-time.Second)
	want := map[string][]FollowUp{
		"192.0.2.1": {{Reporter: "google.com", Domains: []string{"example.net"}, Clean: 2, Successful: 200, Later: 2, LastEnd: end8}},
		"192.0.2.2": {{Reporter: "google.com", Domains: []string{"example.net"}, Clean: 1, Successful: 100,
			Failing: 1, ResultTypes: []string{"certificate-expired"}, Later: 2, LastEnd: end8}},
		"192.0.2.3": {{Reporter: "yahoo.com", Domains: []string{"example.net"}, LastEnd: day(6).Add(-time.Second)}},
	}
	for ip, w := range want {
		if g := byIP[ip].Reporters; !reflect.DeepEqual(g, w) {
			t.Errorf("%s: follow-up\n got %+v\nwant %+v", ip, g, w)
		}
	}
}

// TestRedeemedStatements counts statements: Redeemed runs as many for 600
// redeemed addresses as for 3.
func TestRedeemedStatements(t *testing.T) {
	sqliteOnly(t, "the statement counter wraps the SQLite driver; the queries are the same on both engines")
	ctx := t.Context()
	measure := func(n int) [2]int64 {
		s := openCounting(t)
		var ds []report.FailureDetail
		for i := range n {
			ip := netip.AddrFrom4([4]byte{10, 3, byte(i >> 8), byte(i)})
			ds = append(ds, detail(ip.String(), "starttls-not-supported", 1))
			a := Action{Time: day(2), IP: ip, Backend: "fail2ban", Kind: "unban", Applied: true, OK: true}
			if _, err := s.LogAction(ctx, a); err != nil {
				t.Fatal(err)
			}
		}
		for i, r := range []*report.Report{mkReport("Google Inc.", "before", 1, ds...),
			mkReport("Google Inc.", "clean", 3), mkReport("Google Inc.", "again", 4, ds[:n/2]...)} {
			if _, _, err := s.AddReport(ctx, r, signed("google.com")); err != nil {
				t.Fatal(i, err)
			}
		}
		var got []Redeemed
		p, r := statements(t, func() (err error) { got, err = s.Redeemed(ctx); return err })
		if len(got) != n || got[0].Reporters[0].Later != 2 {
			t.Fatalf("%d addresses: Redeemed gave %d, first %+v", n, len(got), got[0])
		}
		return [2]int64{p, r}
	}
	few, many := measure(3), measure(600)
	if few != many {
		t.Errorf("Redeemed: (prepared, run) = %v for 3 addresses, %v for 600", few, many)
	}
	t.Logf("Redeemed: (prepared, run) = %v", few)
}

// TestRedeemedTwoDomains: an address that failed for two policy domains
// counts a later report with policies for both once, with the successful
// sessions of both.
func TestRedeemedTwoDomains(t *testing.T) {
	s := openTemp(t)
	ctx := t.Context()
	two := func(id string, start int, ds ...report.FailureDetail) *report.Report {
		r := mkReport("Google Inc.", id, start, ds...)
		p := r.Policies[0]
		p.Domain = "example.org"
		r.Policies = append(r.Policies, p)
		return r
	}
	for _, r := range []*report.Report{two("before", 5, detail("192.0.2.9", "starttls-not-supported", 1)), two("after", 7)} {
		if _, _, err := s.AddReport(ctx, r, signed("google.com")); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := s.LogAction(ctx, Action{Time: day(6), IP: netip.MustParseAddr("192.0.2.9"), Backend: "iptables", Kind: "unban", Applied: true, OK: true}); err != nil {
		t.Fatal(err)
	}
	got, err := s.Redeemed(ctx)
	if err != nil {
		t.Fatal(err)
	}
	want := []FollowUp{{Reporter: "google.com", Domains: []string{"example.net", "example.org"}, Clean: 1, Successful: 200, Later: 1,
		LastEnd: day(8).Add(-time.Second)}}
	if len(got) != 1 || !reflect.DeepEqual(got[0].Reporters, want) {
		t.Errorf("follow-up\n got %+v\nwant %+v", got, want)
	}
}

func TestActions(t *testing.T) {
	s := openTemp(t)
	ctx := t.Context()
	if as, err := s.Actions(ctx, 0); err != nil || len(as) != 0 {
		t.Fatalf("Actions(empty) = %+v, %v", as, err)
	}
	t0 := time.Date(2026, 11, 23, 19, 0, 0, 0, time.UTC)
	in := []Action{
		{Time: t0, IP: netip.MustParseAddr("192.0.2.10"), Host: "mx1.example.com", Backend: "fail2ban", Kind: "unban", Target: "postfix",
			Command: "fail2ban-client set postfix unbanip 192.0.2.10", Applied: true, OK: true, Result: "1"},
		{Time: t0.Add(time.Minute), IP: netip.MustParseAddr("::ffff:192.0.2.11"), Host: "mx2.example.com", Backend: "iptables", Kind: "unban",
			Target: "tlsrpt-test", Command: "iptables -D tlsrpt-test -s 192.0.2.11 -j DROP", Applied: true,
			Result: "iptables: Bad rule"},
		{Time: t0.Add(time.Minute), IP: netip.MustParseAddr("2001:db8::1"), Backend: "ipqbdb", Kind: "keep",
			Command: "ibd-del --ip 2001:db8::1"},
	}
	for i, a := range in {
		id, err := s.LogAction(ctx, a)
		if err != nil {
			t.Fatal(err)
		}
		in[i].ID = id
		in[i].IP = in[i].IP.Unmap()
	}
	as, err := s.Actions(ctx, 0)
	if err != nil {
		t.Fatal(err)
	}
	want := []Action{in[2], in[1], in[0]} // newest first; same second: last logged first
	if !reflect.DeepEqual(as, want) {
		t.Errorf("Actions(0):\n got %+v\nwant %+v", as, want)
	}
	as, err = s.Actions(ctx, 2)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(as, want[:2]) {
		t.Errorf("Actions(2) = %+v, want %+v", as, want[:2])
	}
	// Zero time means now; zero IP is stored as absent.
	before := time.Now().Add(-time.Second)
	if _, err := s.LogAction(ctx, Action{Backend: "fail2ban", Kind: "plan"}); err != nil {
		t.Fatal(err)
	}
	as, err = s.Actions(ctx, 1)
	if err != nil {
		t.Fatal(err)
	}
	if len(as) != 1 || as[0].Kind != "plan" || as[0].IP.IsValid() || as[0].Time.Before(before) {
		t.Errorf("Actions(1) after zero-time entry = %+v", as)
	}
}

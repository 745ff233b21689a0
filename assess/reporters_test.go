package assess

import (
	"context"
	"fmt"
	"math/rand/v2"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/tlsrpt/tlsrpt/allowlist"
	"github.com/tlsrpt/tlsrpt/arrival"
	"github.com/tlsrpt/tlsrpt/internal/storetest"
	"github.com/tlsrpt/tlsrpt/report"
)

// TestVerdictsFromReporters: the advice Verdicts gives from the reports
// folded by reporter is, byte for byte, the advice judged from every
// report (Evidence of EvidenceFor), over random histories of several
// sizes mixing listed, unlisted and unauthenticated reporters, HTTPS,
// several reasons, reports naming an address twice, and addresses in and
// out of the listed ranges.
func TestVerdictsFromReporters(t *testing.T) {
	entries, err := allowlist.Parse(strings.NewReader("partner.example ip:192.0.2.0/25\nother.example ip:198.51.100.0/24\n"), "test.list")
	if err != nil {
		t.Fatal(err)
	}
	c := &allowlist.Checker{List: &allowlist.List{Entries: entries}, Resolver: &allowlist.Resolver{Server: "127.0.0.1:9"}}
	sources := []arrival.Source{
		{Transport: "mail", Submitter: "partner.example", Auth: arrival.Auth{Authenticated: true, Method: "dkim", Domain: "partner.example"}},
		{Transport: "mail", Submitter: "partner.example", Auth: arrival.Auth{Authenticated: true, Method: "authres", Domain: "partner.example"}},
		{Transport: "mail", Submitter: "other.example", Auth: arrival.Auth{Authenticated: true, Method: "dkim", Domain: "other.example"}},
		{Transport: "mail", Submitter: "unlisted.example", Auth: arrival.Auth{Authenticated: true, Method: "dkim", Domain: "unlisted.example"}},
		{Transport: "mail", Submitter: "a.example", Auth: arrival.Auth{Detail: "no DKIM signature"}},
		{Transport: "mail", Submitter: "b.example", Auth: arrival.Auth{Detail: "DKIM fails"}},
		{Transport: "mail", Submitter: "c.example", Auth: arrival.Auth{Detail: "not our authserv-id"}},
		{Transport: "https"},
	}
	ips := []netip.Addr{netip.MustParseAddr("192.0.2.10"), netip.MustParseAddr("192.0.2.200"), netip.MustParseAddr("198.51.100.7")}
	ctx := context.Background()
	for seed := range 12 {
		st := storetest.Open(t)
		rng := rand.New(rand.NewPCG(uint64(seed), 7))
		n := []int{1, 2, 5, 40}[seed%4]
		for i := range n {
			var ds []report.FailureDetail
			for _, ip := range ips {
				for range rng.IntN(3) {
					ds = append(ds, report.FailureDetail{ResultType: "certificate-expired", SendingMTAIP: ip, FailedSessions: 1})
				}
			}
			start := day.AddDate(0, 0, rng.IntN(n/3+1))
			r := &report.Report{OrganizationName: "Org", ReportID: fmt.Sprint("r", i), Start: start, End: start.Add(24*time.Hour - time.Second),
				Policies: []report.Policy{{Type: "sts", Domain: "example.com", Failed: int64(len(ds)), Details: ds}}}
			src := sources[rng.IntN(len(sources))]
			if seed%3 == 0 { // none authenticated: the counts decide the advice
				src = sources[4+rng.IntN(len(sources)-4)]
			}
			if _, _, err := st.AddReport(ctx, r, src); err != nil {
				t.Fatal(err)
			}
		}
		ev, err := st.EvidenceFor(ctx, ips)
		if err != nil {
			t.Fatal(err)
		}
		vs, err := Verdicts(ctx, ctx, st, c, ips)
		if err != nil {
			t.Fatal(err)
		}
		for _, ip := range ips {
			want := Advice(ip, c.Judge(ctx, ip, Evidence(ev[ip])))
			if got := Advice(ip, vs[ip]); got != want {
				t.Errorf("seed %d, %d reports, %s:\n got %s\nwant %s", seed, n, ip, got, want)
			}
		}
	}
}

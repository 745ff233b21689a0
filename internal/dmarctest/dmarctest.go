// Package dmarctest builds DMARC aggregate reports and their sources for
// the tests of the packages that read them back from a store (the
// dashboard, the digest, the metrics).
package dmarctest

import (
	"context"
	"net/netip"
	"testing"
	"time"

	"github.com/tlsrpt/tlsrpt/arrival"
	"github.com/tlsrpt/tlsrpt/dmarc"
	"github.com/tlsrpt/tlsrpt/store"
)

// Rec is one record of a report: a source address, its messages, the
// From domain ("" is the policy domain), and whether they passed DMARC
// (aligned DKIM pass; aligned SPF fails either way). Disposition ""
// is "none" for a pass, "reject" for a fail.
type Rec struct {
	IP          string
	N           int64
	Pass        bool
	From        string
	Disposition string
}

// Report is a report of reporter (its org_name) about domain over the UTC
// day that starts at begin, with one record per rec.
func Report(reporter, id, domain string, begin time.Time, recs ...Rec) *dmarc.Report {
	r := &dmarc.Report{
		Version: "1.0",
		Metadata: dmarc.Metadata{Reporter: reporter, OrgName: reporter, Email: "noreply-dmarc@example.com",
			ReportID: id, Begin: begin, End: begin.Add(24*time.Hour - time.Second)},
		Policy: dmarc.PolicyPublished{Domain: domain, ADKIM: "r", ASPF: "r", P: "reject", SP: "reject", Pct: 100},
	}
	for _, x := range recs {
		dk, disp, from := "fail", x.Disposition, x.From
		if x.Pass {
			dk = "pass"
		}
		if disp == "" {
			disp = map[bool]string{true: "none", false: "reject"}[x.Pass]
		}
		if from == "" {
			from = domain
		}
		r.Records = append(r.Records, dmarc.Record{SourceIP: netip.MustParseAddr(x.IP), Count: x.N,
			Disposition: disp, DKIM: dk, SPF: "fail", HeaderFrom: from, EnvelopeFrom: from,
			DKIMResults: []dmarc.DKIMResult{{Domain: from, Selector: "s1", Result: dk}},
			SPFResults:  []dmarc.SPFResult{{Domain: from, Scope: "mfrom", Result: "softfail"}}})
	}
	return r
}

// Signed is a mail Source whose DKIM signature by domain verified.
func Signed(domain string) arrival.Source {
	return arrival.Source{Transport: "mail", FromDomain: domain, Submitter: domain,
		Auth: arrival.Auth{Authenticated: true, Method: "dkim", Domain: domain, Detail: "dkim=pass d=" + domain}}
}

// Unsigned is a mail Source that claims domain as its From domain, with
// no signature.
func Unsigned(domain string) arrival.Source {
	return arrival.Source{Transport: "mail", FromDomain: domain, Submitter: domain, Auth: arrival.Auth{Detail: "no signature"}}
}

// Add stores r from src with the store's clock at storedAt, failing the
// test on an error.
func Add(tb testing.TB, st *store.Store, storedAt time.Time, r *dmarc.Report, src arrival.Source) {
	tb.Helper()
	st.SetClock(func() time.Time { return storedAt })
	defer st.SetClock(nil)
	if _, _, err := st.AddDMARC(context.Background(), r, src); err != nil {
		tb.Fatal(err)
	}
}

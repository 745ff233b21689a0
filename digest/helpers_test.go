package digest

import (
	"bytes"
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/tlsrpt/tlsrpt/arrival"
	"github.com/tlsrpt/tlsrpt/internal/storetest"
	"github.com/tlsrpt/tlsrpt/store"
)

// compute makes the digest of st with opt, failing t when it cannot.
func compute(t *testing.T, st *store.Store, opt Options) Digest {
	t.Helper()
	d, err := Compute(context.Background(), st, opt)
	if err != nil {
		t.Fatal(err)
	}
	return d
}

// recordSent keeps d as the last digest sent for host, failing t when it
// cannot.
func recordSent(t *testing.T, st *store.Store, host string, d Digest) {
	t.Helper()
	if err := RecordSent(context.Background(), st, host, d); err != nil {
		t.Fatal(err)
	}
}

// mailText is d's text, as the digest mail carries it, failing t when
// it cannot be written.
func mailText(t *testing.T, d Digest) string {
	t.Helper()
	var b bytes.Buffer
	if err := d.WriteText(&b); err != nil {
		t.Fatal(err)
	}
	return b.String()
}

// first is the first day of the month of reports month stores, now the
// digests' clock in the tests: the day after that month.
var (
	first = time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)
	now   = time.Date(2026, 12, 1, 13, 0, 0, 0, time.UTC)
)

// month stores 30 days of reports, each stored at noon of the next day:
// "Alpha Mail" every day, "Beta Mail" for the first 25 days. Alpha's
// example.net failures come from 192.0.2.<day> (day sessions), its
// example.org failures from 198.51.100.1 (1 session a day; 40 on the
// last day, a jump in the failure rate). Beta's report names betaName.
// Each reporter signs its reports as identity(its name).
func month(t *testing.T, betaName string) *store.Store {
	t.Helper()
	st := storetest.Open(t)
	for d := 0; d < 30; d++ {
		start := first.AddDate(0, 0, d)
		orgFailed := int64(1)
		if d == 29 {
			orgFailed = 40
		}
		for _, org := range []string{"Alpha Mail", betaName} {
			if org == betaName && d >= 25 {
				continue
			}
			r := storetest.TLS(org, fmt.Sprint(d), start, storetest.Policy("example.net", 100,
				storetest.Failure{IP: fmt.Sprintf("192.0.2.%d", d+1), Type: "certificate-expired", Sessions: int64(d + 1)}))
			if org == "Alpha Mail" {
				r.Policies = append(r.Policies, storetest.Policy("example.org", 60,
					storetest.Failure{IP: "198.51.100.1", Type: "validation-failure", Sessions: orgFailed}))
			}
			src := arrival.Source{Transport: "mail", Submitter: identity(org),
				Auth: arrival.Auth{Authenticated: true, Method: "dkim", Domain: identity(org)}}
			storetest.AddTLS(t, st, start.Add(36*time.Hour), r, src)
		}
	}
	return st
}

// identity is the domain that signs org's reports in month.
func identity(org string) string {
	return strings.ReplaceAll(strings.ToLower(org), " ", "-") + ".example"
}

// addReport stores one report of org over [start, start+1d) at the
// given store time, naming ip with sessions failed sessions.
func addReport(t *testing.T, st *store.Store, at time.Time, org, id string, start time.Time, ip string, sessions int64, src arrival.Source) {
	t.Helper()
	storetest.AddTLS(t, st, at, storetest.TLS(org, id, start,
		storetest.Policy("example.net", 10, storetest.Failure{IP: ip, Type: "certificate-expired", Sessions: sessions})), src)
}

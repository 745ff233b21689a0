package storetest

import (
	"context"
	"net/netip"
	"testing"
	"time"

	"github.com/tlsrpt/tlsrpt/arrival"
	"github.com/tlsrpt/tlsrpt/report"
	"github.com/tlsrpt/tlsrpt/store"
)

// Failure is one failure detail of a TLS report: Sessions sessions from
// the sending address IP failed with the result type Type, at the
// receiving MX host MX when it is set.
type Failure struct {
	IP       string
	Type     string
	Sessions int64
	MX       string
}

// Policy is an sts policy of domain with successful sessions and the
// failures fs; its failed-session count is theirs summed.
func Policy(domain string, successful int64, fs ...Failure) report.Policy {
	p := report.Policy{Type: "sts", Domain: domain, Successful: successful}
	for _, f := range fs {
		d := report.FailureDetail{ResultType: f.Type, FailedSessions: f.Sessions, ReceivingMXHostname: f.MX}
		if f.IP != "" {
			d.SendingMTAIP = netip.MustParseAddr(f.IP)
		}
		p.Details = append(p.Details, d)
		p.Failed += f.Sessions
	}
	return p
}

// TLS is a TLS report of org (its organization-name) with the report ID
// id over the UTC day from start, holding the policies ps.
func TLS(org, id string, start time.Time, ps ...report.Policy) *report.Report {
	return &report.Report{OrganizationName: org, ReportID: id, Start: start, End: start.Add(24*time.Hour - time.Second), Policies: ps}
}

// AddTLS stores r from src with the store's clock at storedAt (the
// store's own clock when storedAt is zero), failing tb when the store
// refuses it.
func AddTLS(tb testing.TB, st *store.Store, storedAt time.Time, r *report.Report, src arrival.Source) {
	tb.Helper()
	if !storedAt.IsZero() {
		st.SetClock(func() time.Time { return storedAt })
		defer st.SetClock(nil)
	}
	if _, _, err := st.AddReport(context.Background(), r, src); err != nil {
		tb.Fatal(err)
	}
}

// OpenAt opens the store at loc (a path or a PostgreSQL URL) and closes
// it when tb ends; it fails tb when the store cannot be opened.
func OpenAt(tb testing.TB, loc string) *store.Store {
	tb.Helper()
	st, err := store.Open(loc)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { st.Close() })
	return st
}

// Stats is what st holds, as Store.Stats counts it; it fails tb when
// the store cannot say.
func Stats(tb testing.TB, st *store.Store) store.Stats {
	tb.Helper()
	s, err := st.Stats(context.Background())
	if err != nil {
		tb.Fatal(err)
	}
	return s
}

// Unbanned logs that fail2ban unbanned ip from its postfix jail at at,
// applied and successful, as redeem --apply does; it fails tb when the
// store refuses the record.
func Unbanned(tb testing.TB, st *store.Store, ip string, at time.Time) {
	tb.Helper()
	a := store.Action{Time: at, IP: netip.MustParseAddr(ip), Backend: "fail2ban", Kind: "unban", Target: "postfix", Applied: true, OK: true}
	if _, err := st.LogAction(context.Background(), a); err != nil {
		tb.Fatal(err)
	}
}

package filter

import (
	"fmt"
	"strings"
	"time"

	"github.com/tlsrpt/tlsrpt/report"
	"github.com/tlsrpt/tlsrpt/store"
)

// Summary renders the readable summary of the reports in msg: reporter,
// date range, per policy its sessions and per failure detail one line, then
// the authentication verdict and the advice lines.
func Summary(msg *report.Message, auth store.Auth, advice []string, now time.Time) string {
	var b strings.Builder
	b.WriteString("----- SMTP TLS report summary (tlsrpt) -----\n")
	for _, f := range msg.Found {
		if f.Err != nil {
			fmt.Fprintf(&b, "\nUnreadable report in %s: %s\n", partName(f), oneLine(f.Err.Error(), 300))
			continue
		}
		writeReport(&b, f.Report)
	}
	if len(msg.Reports()) > 0 {
		b.WriteString("\nAuthentication: " + authLine(auth) + "\n")
	}
	if len(advice) > 0 {
		b.WriteString("\nAdvice:\n")
		for _, a := range advice {
			b.WriteString("  " + a + "\n")
		}
	}
	fmt.Fprintf(&b, "\n(checked by tlsrpt filter on %s)\n", now.UTC().Format("2006-01-02 15:04 MST"))
	return b.String()
}

// partName names a report part for people.
func partName(f report.Found) string {
	if f.Name != "" {
		return fmt.Sprintf("%q", f.Name)
	}
	return "part of type " + f.MediaType
}

// writeReport writes one report's lines.
func writeReport(b *strings.Builder, r *report.Report) {
	fmt.Fprintf(b, "\nReporter: %s", orNone(r.OrganizationName))
	if r.ContactInfo != "" {
		fmt.Fprintf(b, " <%s>", r.ContactInfo)
	}
	fmt.Fprintf(b, "\nReport-ID: %s\n", orNone(r.ReportID))
	fmt.Fprintf(b, "Period: %s to %s\n", fmtTime(r.Start), fmtTime(r.End))
	for _, p := range r.Policies {
		fmt.Fprintf(b, "Policy %s for %s: %d successful, %d failed sessions\n",
			orNone(p.Type), orNone(p.Domain), p.Successful, p.Failed)
		for _, d := range p.Details {
			b.WriteString("  " + detailLine(d) + "\n")
		}
	}
	fmt.Fprintf(b, "Total: %d successful, %d failed sessions\n", r.TotalSuccessful(), r.TotalFailed())
}

// detailLine renders one failure detail.
func detailLine(d report.FailureDetail) string {
	s := fmt.Sprintf("%s: %d sessions", orNone(d.ResultType), d.FailedSessions)
	if d.SendingMTAIP.IsValid() {
		s += " from sending-mta-ip " + d.SendingMTAIP.String()
	}
	if d.ReceivingMXHostname != "" || d.ReceivingIP.IsValid() {
		s += " to " + orNone(d.ReceivingMXHostname)
		if d.ReceivingIP.IsValid() {
			s += " (" + d.ReceivingIP.String() + ")"
		}
	}
	if d.FailureReasonCode != "" {
		s += ", reason: " + oneLine(d.FailureReasonCode, 200)
	}
	if d.AdditionalInformation != "" {
		s += ", info: " + oneLine(d.AdditionalInformation, 200)
	}
	return s
}

// authLine renders the authentication verdict.
func authLine(a store.Auth) string {
	if !a.Authenticated {
		if a.Detail == "" {
			return "not authenticated (not checked)"
		}
		return "not authenticated: " + a.Detail
	}
	return fmt.Sprintf("%s pass for %s: %s", a.Method, a.Domain, a.Detail)
}

func fmtTime(t time.Time) string {
	if t.IsZero() {
		return "(unknown)"
	}
	return t.UTC().Format("2006-01-02 15:04 UTC")
}

func orNone(s string) string {
	if s == "" {
		return "(none)"
	}
	return s
}

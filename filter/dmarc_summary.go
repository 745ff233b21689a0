package filter

import (
	"fmt"
	"net/netip"
	"strings"
	"time"

	"github.com/tlsrpt/tlsrpt/arrival"
	"github.com/tlsrpt/tlsrpt/dmarc"
	"github.com/tlsrpt/tlsrpt/neutral"
)

// DMARCSummaryTitle is the first line of the summary of DMARC reports.
// It starts with a letter, as every line of the summary does, so that no
// line can be a MIME boundary delimiter.
const DMARCSummaryTitle = "DMARC aggregate report summary (tlsrpt)"

// MaxDMARCSources is the most failing sources shown in the summary of one
// message, all its reports together; the store keeps every record.
const MaxDMARCSources = 20

// DMARCSummary renders the readable summary of the DMARC reports in dm:
// per report its reporter, policy domain and published policy, period,
// messages passing and failing DMARC, and the failing sources with most
// messages first (at most MaxDMARCSources lines in all); then the
// authentication verdict. Every string from a report goes through
// neutral.SummaryLine: no control character, no line break, no boundary.
func DMARCSummary(dm *dmarc.Message, auth arrival.Auth, now time.Time) string {
	var b strings.Builder
	b.WriteString(DMARCSummaryTitle + "\n")
	left := MaxDMARCSources
	writeFound(&b, dm.Found, func(r *dmarc.Report) { left = writeDMARCReport(&b, r, left) })
	if len(dm.Reports()) > 0 {
		b.WriteString("\nAuthentication: " + authLine(auth) + "\n")
	}
	fmt.Fprintf(&b, "\n(checked by tlsrpt filter on %s)\n", now.UTC().Format("2006-01-02 15:04 MST"))
	return b.String()
}

// writeDMARCReport writes one report's lines, at most left failing
// sources, and returns how many source lines are left for the next.
func writeDMARCReport(b *strings.Builder, r *dmarc.Report, left int) int {
	m := r.Metadata
	fmt.Fprintf(b, "\nReporter: %s", orNone(m.Reporter))
	if m.Email != "" {
		fmt.Fprintf(b, " <%s>", neutral.SummaryLine(m.Email))
	}
	fmt.Fprintf(b, "\nReport-ID: %s\n", orNone(m.ReportID))
	fmt.Fprintf(b, "Period: %s to %s\n", fmtTime(m.Begin), fmtTime(m.End))
	fmt.Fprintf(b, "Policy published for %s: %s\n", orNone(r.Policy.Domain), policyText(r.Policy))
	if len(m.Errors) > 0 {
		fmt.Fprintf(b, "Reporter's errors: %s", neutral.SummaryLine(m.Errors[0]))
		if len(m.Errors) > 1 {
			fmt.Fprintf(b, " (and %d more)", len(m.Errors)-1)
		}
		b.WriteString("\n")
	}
	total, failed := r.Messages(), r.Failed()
	fmt.Fprintf(b, "Messages: %d, DMARC pass %d, fail %d\n", total, total-failed, failed)
	return writeSources(b, failingSources(r), left)
}

// policyText renders the published policy's tags that are there.
func policyText(p dmarc.PolicyPublished) string {
	var tags []string
	add := func(name, v string) {
		if v != "" {
			tags = append(tags, name+"="+neutral.SummaryLine(v))
		}
	}
	add("p", p.P)
	add("sp", p.SP)
	add("np", p.NP)
	if p.Pct >= 0 {
		tags = append(tags, fmt.Sprintf("pct=%d", p.Pct))
	}
	add("adkim", p.ADKIM)
	add("aspf", p.ASPF)
	if len(tags) == 0 {
		return "(none given)"
	}
	return strings.Join(tags, " ")
}

// source is the failing messages of one source with one outcome.
type source struct {
	ip                     netip.Addr
	disposition, dkim, spf string
	headerFrom             string // of its first record
	messages               int64
}

// failingSources groups the records that failed DMARC by source address,
// disposition and aligned results, most messages first (ties in order of
// first appearance).
func failingSources(r *dmarc.Report) []*source {
	type key struct {
		ip                     netip.Addr
		disposition, dkim, spf string
	}
	var gs groups[key, source]
	for i := range r.Records {
		rec := &r.Records[i]
		if rec.DMARCPass() || rec.Count == 0 {
			continue
		}
		s := gs.of(key{rec.SourceIP, rec.Disposition, rec.DKIM, rec.SPF}, func() *source {
			return &source{ip: rec.SourceIP, disposition: rec.Disposition, dkim: rec.DKIM, spf: rec.SPF, headerFrom: rec.HeaderFrom}
		})
		s.messages += rec.Count
	}
	return gs.mostFirst(func(s *source) int64 { return s.messages })
}

// writeSources writes at most left of the failing sources and returns
// how many lines are left.
func writeSources(b *strings.Builder, all []*source, left int) int {
	if len(all) == 0 {
		return left
	}
	shown := min(left, len(all))
	fmt.Fprintf(b, "Failing sources (%d of %d, most messages first):\n", shown, len(all))
	for _, s := range all[:shown] {
		line := fmt.Sprintf("  %s: %s, disposition %s, DKIM %s, SPF %s", s.ip, messagesText(s.messages),
			orNone(s.disposition), orNone(s.dkim), orNone(s.spf))
		if s.headerFrom != "" {
			line += ", header_from " + neutral.SummaryLine(s.headerFrom)
		}
		b.WriteString(line + "\n")
	}
	if more := len(all) - shown; more > 0 {
		fmt.Fprintf(b, "  and %s (tlsrpt stats --source dmarc)\n", plural(more, "more failing source", "more failing sources"))
	}
	return left - shown
}

// messagesText says n messages, with "1 message" for one.
func messagesText(n int64) string {
	if n == 1 {
		return "1 message"
	}
	return fmt.Sprintf("%d messages", n)
}

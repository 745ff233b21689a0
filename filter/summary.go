package filter

import (
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"time"

	"github.com/tlsrpt/tlsrpt/arrival"
	"github.com/tlsrpt/tlsrpt/internal/mimewalk"
	"github.com/tlsrpt/tlsrpt/neutral"
	"github.com/tlsrpt/tlsrpt/probe"
	"github.com/tlsrpt/tlsrpt/report"
)

// Bounds of the summary: however many failure details a message carries,
// a person reads at most this much. The store keeps every detail.
const (
	// MaxDetailLines is the most failure details shown one per line; a
	// message with more shows them grouped.
	MaxDetailLines = 20
	// MaxGroups is the most groups (result type and receiving MX) shown
	// per policy.
	MaxGroups = 10
	// MaxAddrs is the most failing addresses shown, and advised on.
	MaxAddrs = 20
)

// SummaryTitle is the first line of the summary. It starts with a letter,
// as every line of the summary does, so that no line can be a MIME
// boundary delimiter (which starts with "--").
const SummaryTitle = "SMTP TLS report summary (tlsrpt)"

// Summary renders the readable summary of the reports in msg: reporter,
// date range, per policy its sessions and its failures, the failing
// addresses with most failed sessions, then the authentication verdict and
// the advice lines. Every string from the report goes through
// neutral.SummaryLine: no control character, no line break, no boundary.
func Summary(msg *report.Message, auth arrival.Auth, advice []string, now time.Time) string {
	var b strings.Builder
	b.WriteString(SummaryTitle + "\n")
	grouped := detailCount(msg) > MaxDetailLines
	writeFound(&b, msg.Found, func(r *report.Report) { writeReport(&b, r, grouped) })
	if grouped {
		writeAddrs(&b, msg.Reports())
	}
	writeTypes(&b, msg.Reports())
	if len(msg.Reports()) > 0 {
		b.WriteString("\nAuthentication: " + authLine(auth) + "\n")
	}
	if len(advice) > 0 {
		b.WriteString("\nAdvice:\n")
		for _, a := range advice {
			b.WriteString("  " + neutral.SummaryLine(a) + "\n")
		}
	}
	fmt.Fprintf(&b, "\n(checked by tlsrpt filter on %s)\n", now.UTC().Format("2006-01-02 15:04 MST"))
	return b.String()
}

// detailCount is the number of failure details of all reports in msg.
func detailCount(msg *report.Message) int {
	n := 0
	for _, r := range msg.Reports() {
		for _, p := range r.Policies {
			n += len(p.Details)
		}
	}
	return n
}

// writeFound writes the report parts of a message of either kind in
// order: an unreadable one as a line that names it and says why, a
// report with write.
func writeFound[R any](b *strings.Builder, found mimewalk.Founds[R], write func(*R)) {
	for _, f := range found {
		if f.Err != nil {
			fmt.Fprintf(b, "\nUnreadable report in %s: %s\n", partName(f), neutral.SummaryLine(f.Err.Error()))
			continue
		}
		write(f.Report)
	}
}

// partName names a report part for people.
func partName[R any](f mimewalk.Found[R]) string {
	if f.Name != "" {
		return `"` + neutral.SummaryLine(f.Name) + `"`
	}
	return "part of type " + neutral.SummaryLine(f.MediaType)
}

// writeReport writes one report's lines: every detail, or the details
// grouped when the message has too many to read.
func writeReport(b *strings.Builder, r *report.Report, grouped bool) {
	fmt.Fprintf(b, "\nReporter: %s", orNone(r.OrganizationName))
	if r.ContactInfo != "" {
		fmt.Fprintf(b, " <%s>", neutral.SummaryLine(r.ContactInfo))
	}
	fmt.Fprintf(b, "\nReport-ID: %s\n", orNone(r.ReportID))
	fmt.Fprintf(b, "Period: %s to %s\n", fmtTime(r.Start), fmtTime(r.End))
	for _, p := range r.Policies {
		fmt.Fprintf(b, "Policy %s for %s: %s\n", orNone(p.Type), orNone(p.Domain), totals(p.Successful, p.Failed))
		if grouped {
			writeGroups(b, p.Details)
			continue
		}
		for _, d := range p.Details {
			b.WriteString("  " + detailLine(d) + "\n")
		}
	}
	fmt.Fprintf(b, "Total: %s\n", totals(r.TotalSuccessful(), r.TotalFailed()))
}

// group is the failures of one result type at one receiving MX.
type group struct {
	resultType, mx string
	sessions       int64
	addrs          map[netip.Addr]bool
}

// writeGroups writes a policy's details grouped by result type and
// receiving MX, the groups with most failed sessions first.
func writeGroups(b *strings.Builder, details []report.FailureDetail) {
	var gs groups[[2]string, group]
	for _, d := range details {
		mx := d.ReceivingMXHostname
		if mx == "" && d.ReceivingIP.IsValid() {
			mx = d.ReceivingIP.String()
		}
		g := gs.of([2]string{d.ResultType, mx}, func() *group {
			return &group{resultType: d.ResultType, mx: mx, addrs: make(map[netip.Addr]bool)}
		})
		g.sessions += d.FailedSessions
		if d.SendingMTAIP.IsValid() {
			g.addrs[d.SendingMTAIP] = true
		}
	}
	all := gs.mostFirst(func(g *group) int64 { return g.sessions })
	for i, g := range all {
		if i == MaxGroups {
			fmt.Fprintf(b, "  and %d more kinds of failure (tlsrpt review)\n", len(all)-MaxGroups)
			break
		}
		line := orNone(g.resultType)
		if g.mx != "" {
			line += " at " + neutral.SummaryLine(g.mx)
		}
		fmt.Fprintf(b, "  %s: %s from %s\n", line, sessions(g.sessions), plural(len(g.addrs), "address", "addresses"))
	}
}

// MaxDomainsPerType is the most policy domains named in one failure
// type's diagnose hint.
const MaxDomainsPerType = 3

// failingType is one failing result type and the policy domains it
// failed for.
type failingType struct {
	name    string
	domains []string
}

// writeTypes writes, per failing result type, its meaning in one line and
// the command that probes its cause. Only a policy-domain that is a
// domain name is put into the command: a report must not write a command
// line the reader may paste.
func writeTypes(b *strings.Builder, reports []*report.Report) {
	types := failingTypes(reports)
	if len(types) == 0 {
		return
	}
	b.WriteString("\nFailure types (tlsrpt diagnose probes the cause live):\n")
	for i, ft := range types {
		if i == MaxGroups {
			fmt.Fprintf(b, "  and %d more failure types (tlsrpt review)\n", len(types)-MaxGroups)
			break
		}
		meaning, ok := probe.Meaning(ft.name)
		if !ok {
			meaning = "not a result type of RFC 8460's registry"
		}
		target := "DOMAIN"
		if len(ft.domains) > 0 {
			target = strings.Join(ft.domains, " ")
		}
		fmt.Fprintf(b, "  %s: %s; run `tlsrpt diagnose %s`\n", orNone(ft.name), meaning, target)
	}
}

// failingTypes lists the result types of the failure details in order of
// first appearance, each with its policy domains that are domain names.
func failingTypes(reports []*report.Report) []*failingType {
	var gs groups[string, failingType]
	for _, r := range reports {
		for _, p := range r.Policies {
			for _, d := range p.Details {
				gs.of(d.ResultType, func() *failingType { return &failingType{name: d.ResultType} }).add(p.Domain)
			}
		}
	}
	return gs.all
}

// add adds a policy domain, lower case, when it is a domain name.
func (ft *failingType) add(domain string) {
	if !probe.ValidDomain(domain) {
		return
	}
	domain = strings.ToLower(strings.TrimSuffix(domain, "."))
	if len(ft.domains) < MaxDomainsPerType && !slices.Contains(ft.domains, domain) {
		ft.domains = append(ft.domains, domain)
	}
}

// addrSessions is one failing address and its failed sessions.
type addrSessions struct {
	ip       netip.Addr
	sessions int64
	types    []string
}

// TopAddrs returns the failing addresses of reports with most failed
// sessions first (ties in order of first appearance), at most max of
// them, and how many there are in all.
func TopAddrs(reports []*report.Report, max int) ([]netip.Addr, int) {
	all := rankAddrs(reports)
	out := make([]netip.Addr, 0, min(max, len(all)))
	for _, a := range all[:min(max, len(all))] {
		out = append(out, a.ip)
	}
	return out, len(all)
}

// rankAddrs sums the failed sessions per sending-mta-ip.
func rankAddrs(reports []*report.Report) []*addrSessions {
	var gs groups[netip.Addr, addrSessions]
	for _, r := range reports {
		for _, p := range r.Policies {
			for _, d := range p.Details {
				if !d.SendingMTAIP.IsValid() {
					continue
				}
				a := gs.of(d.SendingMTAIP, func() *addrSessions { return &addrSessions{ip: d.SendingMTAIP} })
				a.sessions += d.FailedSessions
				if len(a.types) < 3 && !slices.Contains(a.types, d.ResultType) {
					a.types = append(a.types, d.ResultType)
				}
			}
		}
	}
	return gs.mostFirst(func(a *addrSessions) int64 { return a.sessions })
}

// writeAddrs writes the failing addresses with most failed sessions.
func writeAddrs(b *strings.Builder, reports []*report.Report) {
	all := rankAddrs(reports)
	if len(all) == 0 {
		return
	}
	fmt.Fprintf(b, "\nFailing addresses (%d of %d, most failed sessions first):\n", min(MaxAddrs, len(all)), len(all))
	for i, a := range all {
		if i == MaxAddrs {
			more := len(all) - MaxAddrs
			word := "addresses"
			if more == 1 {
				word = "address"
			}
			fmt.Fprintf(b, "  and %d more %s: tlsrpt review\n", more, word)
			break
		}
		types := make([]string, len(a.types))
		for j, t := range a.types {
			types[j] = orNone(t)
		}
		fmt.Fprintf(b, "  %s: %s (%s)\n", a.ip, sessions(a.sessions), strings.Join(types, ", "))
	}
}

// detailLine renders one failure detail.
func detailLine(d report.FailureDetail) string {
	s := fmt.Sprintf("%s: %s", orNone(d.ResultType), sessions(d.FailedSessions))
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
		s += ", reason: " + neutral.SummaryLine(d.FailureReasonCode)
	}
	if d.AdditionalInformation != "" {
		s += ", info: " + neutral.SummaryLine(d.AdditionalInformation)
	}
	return s
}

// authLine renders the authentication verdict.
func authLine(a arrival.Auth) string {
	if !a.Authenticated {
		if a.Detail == "" {
			return "not authenticated (not checked)"
		}
		return "not authenticated: " + neutral.SummaryLine(a.Detail)
	}
	return fmt.Sprintf("%s pass for %s: %s", neutral.SummaryLine(a.Method),
		neutral.SummaryLine(a.Domain), neutral.SummaryLine(a.Detail))
}

func fmtTime(t time.Time) string {
	if t.IsZero() {
		return "(unknown)"
	}
	return t.UTC().Format("2006-01-02 15:04 UTC")
}

// orNone is s made safe for the summary, or "(none)" when empty.
func orNone(s string) string {
	if s == "" {
		return "(none)"
	}
	return neutral.SummaryLine(s)
}

// sessions says n sessions, with "1 session" for one.
func sessions(n int64) string {
	if n == 1 {
		return "1 session"
	}
	return fmt.Sprintf("%d sessions", n)
}

// totals says how many sessions succeeded and failed.
func totals(ok, failed int64) string {
	if failed == 1 {
		return fmt.Sprintf("%d successful, 1 failed session", ok)
	}
	return fmt.Sprintf("%d successful, %d failed sessions", ok, failed)
}

// plural says n things.
func plural(n int, one, many string) string {
	if n == 1 {
		return "1 " + one
	}
	return fmt.Sprintf("%d %s", n, many)
}

// Package metrics exposes what the tlsrpt store knows to Prometheus: the
// sessions of the last day per policy domain, reporter and result-type,
// when each reporter's latest report period ended (so that an alert can
// fire on a reporter gone quiet), how many trusted addresses wait for
// redeem, the redeemed addresses per outcome, and the messages of the
// DMARC aggregate reports of the last day that passed or failed DMARC
// per policy domain and reporter, with the same labels and bounds.
//
// The Collector reads the store at scrape time, as node_exporter's
// collectors read the system: there is no state to keep in step. Label
// values come from reports, which anyone can write, so:
//
//   - a reporter label names an authenticated reporter by its identity
//     (the domain that signed its reports); every unauthenticated report
//     counts under the one label "unauthenticated", whatever
//     organization-name it claims;
//   - their number is bounded: the authenticated reporters and the domains
//     with the most sessions keep their names (domains seen in
//     authenticated reports first), the rest are counted as "other";
//     result-types are RFC 8460's registry values, the rest "other";
//   - every value is normalised (Label) before series are formed, so no
//     two series ever share their labels and a scrape never fails.
package metrics

import (
	"cmp"
	"context"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/tlsrpt/tlsrpt/allowlist"
	"github.com/tlsrpt/tlsrpt/assess"
	"github.com/tlsrpt/tlsrpt/internal/promtext"
	"github.com/tlsrpt/tlsrpt/internal/tally"
	"github.com/tlsrpt/tlsrpt/neutral"
	"github.com/tlsrpt/tlsrpt/store"
)

// Bounds on label values, and the names of the rest.
const (
	MaxReporters    = 10
	MaxDomains      = 20
	Other           = "other"           // the values past the bounds
	Unauthenticated = "unauthenticated" // the reporter of every unauthenticated report
)

// Window is the span the session gauges cover: reports stored within it.
const Window = 24 * time.Hour

// WaitingSetting names the store setting in which review and redeem
// record how many trusted addresses are banned and wait for redeem.
const WaitingSetting = "redeem.waiting"

// rfc8460Types are the result-types that keep their name as a label: the
// registry of RFC 8460 section 4.3 (Result Types).
var rfc8460Types = map[string]bool{
	"starttls-not-supported": true, "certificate-host-mismatch": true, "certificate-expired": true,
	"certificate-not-trusted": true, "validation-failure": true, "tlsa-invalid": true, "dnssec-invalid": true,
	"dane-required": true, "sts-policy-fetch-error": true, "sts-policy-invalid": true, "sts-webpki-invalid": true,
}

// escape marks a normalised value that would read as a reserved one.
const escape = "~"

// Label normalises a label value taken from a report: one line,
// neutralised and bounded as for a log, white space trimmed and
// collapsed, lower case (domains and result-types are case-insensitive),
// without a trailing dot. A value that reads as a reserved one ("other",
// "unauthenticated") or starts with "~" gets a "~" in front, so that it
// can never pass for one and stays apart from every other value. Values
// that normalise alike are one label.
func Label(v string) string {
	v = strings.ToLower(strings.Join(strings.Fields(neutral.LogAttr(v)), " "))
	v = strings.TrimSuffix(v, ".")
	if v == Other || v == Unauthenticated || strings.HasPrefix(v, escape) {
		return escape + v
	}
	return v
}

// ResultType is the label of a result-type: its RFC 8460 registry name
// (case and surrounding white space ignored), else "other". The set is
// fixed: no reporter can take a name by sending a type first.
func ResultType(t string) string {
	t = strings.ToLower(strings.TrimSpace(t))
	if rfc8460Types[t] {
		return t
	}
	return Other
}

var (
	sessionsDesc = &promtext.Desc{Name: "tlsrpt_sessions", Type: promtext.GaugeType, Labels: []string{"policy_domain", "reporter", "result"},
		Help: "Sessions in the reports stored in the last 24 hours, by policy domain, reporter and result (successful or failed)."}
	failuresDesc = &promtext.Desc{Name: "tlsrpt_failed_sessions", Type: promtext.GaugeType, Labels: []string{"policy_domain", "reporter", "result_type"},
		Help: "Failed sessions in the failure details of the reports stored in the last 24 hours, by policy domain, reporter and result-type."}
	lastReportDesc = &promtext.Desc{Name: "tlsrpt_reporter_last_report_timestamp_seconds", Type: promtext.GaugeType, Labels: []string{"reporter"},
		Help: "When the period of each authenticated reporter's latest report ended (Unix time; ends more than a day ahead are not believed; reporter=\"unauthenticated\" for every unauthenticated report): alert on time() minus this."}
	waitingDesc = &promtext.Desc{Name: "tlsrpt_redeem_waiting_addresses", Type: promtext.GaugeType,
		Help: "Trusted addresses banned on this host and waiting for tlsrpt redeem, as review or redeem last found them."}
	waitingTimeDesc = &promtext.Desc{Name: "tlsrpt_redeem_waiting_timestamp_seconds", Type: promtext.GaugeType,
		Help: "When review or redeem last counted the addresses waiting for redeem (Unix time)."}
	redeemedDesc = &promtext.Desc{Name: "tlsrpt_redeemed_addresses", Type: promtext.GaugeType, Labels: []string{"outcome"},
		Help: "Redeemed addresses (applied unbans and keeps) by their outcome today, as tlsrpt review judges it from the authenticated reports since; every outcome is always present. banned-again needs the ban backends: the dashboard counts it from its ban cache, serve (which has none) leaves it 0."}
	upDesc = &promtext.Desc{Name: "tlsrpt_store_up", Type: promtext.GaugeType,
		Help: "1 when the store could be read at this scrape, else 0."}
)

// Collector is a promtext.Collector over a store.
type Collector struct {
	st      *store.Store
	now     func() time.Time
	timeout time.Duration
	host    string
	listed  func(identity string) bool // an allowlisted reporter: named first
	// outcomes judges the redeemed addresses; nil judges them from the
	// store alone (no banned-again).
	outcomes func(ctx context.Context) ([]assess.Outcome, error)
}

// WithOutcomes makes the redeemed-address gauges count the outcomes f
// gives (the dashboard's, with banned-again from its ban cache); it
// returns c.
func (c *Collector) WithOutcomes(f func(ctx context.Context) ([]assess.Outcome, error)) *Collector {
	c.outcomes = f
	return c
}

// NewCollector returns a Collector reading st, with a time-out of 5 s per
// scrape. host names whose redeem count it shows (settings are per host in
// a fleet; "" for a single host). The reporters the built-in allowlist
// names take the named reporter series first (WithAllowlist).
func NewCollector(st *store.Store, host string) *Collector {
	c := &Collector{st: st, now: time.Now, timeout: 5 * time.Second, host: host}
	return c.WithAllowlist(allowlist.Default())
}

// WithAllowlist makes the reporters l names (the too-big-to-block
// senders: the built-in list and --allowlist files) take the named
// reporter series first, so that no number of other signed domains can
// push them into "other"; it returns c.
func (c *Collector) WithAllowlist(l *allowlist.List) *Collector {
	c.listed = func(identity string) bool { return l.ForReporter(identity) != nil }
	return c
}

// WaitingKey is the setting under which host's count of addresses waiting
// for redeem is kept.
func WaitingKey(host string) string { return WaitingSetting + ":" + host }

// Collect reads the store and returns the metrics, tlsrpt_store_up 0
// (after what could be read) when the store fails to answer.
func (c *Collector) Collect() []promtext.Sample {
	ctx, cancel := context.WithTimeout(context.Background(), c.timeout)
	defer cancel()
	var out samples
	err := c.collect(ctx, &out)
	up := 1.0
	if err != nil {
		up = 0
	}
	out.add(upDesc, up)
	return out
}

// samples gathers what a collection gives.
type samples []promtext.Sample

// add appends the sample of d with value v and the label values.
func (s *samples) add(d *promtext.Desc, v float64, labels ...string) {
	*s = append(*s, d.Sample(v, labels...))
}

func (c *Collector) collect(ctx context.Context, out *samples) error {
	perDomain, perType, err := c.st.SessionsStoredSince(ctx, c.now().Add(-Window))
	if err != nil {
		return err
	}
	for k, v := range sessionSeries(perDomain, perType) {
		desc := sessionsDesc
		if k.failures {
			desc = failuresDesc
		}
		out.add(desc, float64(v), k.domain, k.reporter, k.result)
	}
	as, err := c.st.ReportersAsOf(ctx, c.now())
	if err != nil {
		return err
	}
	for rep, at := range reporterSeries(as, c.listed) {
		out.add(lastReportDesc, float64(at.Unix()), rep)
	}
	if err := c.collectDMARC(ctx, out); err != nil {
		return err
	}
	if err := c.collectRedeemed(ctx, out); err != nil {
		return err
	}
	return c.collectWaiting(ctx, out)
}

// collectRedeemed adds the redeemed addresses per outcome, every
// outcome present (0 when none), judged with the default thresholds.
func (c *Collector) collectRedeemed(ctx context.Context, out *samples) error {
	var os []assess.Outcome
	var err error
	if c.outcomes != nil {
		os, err = c.outcomes(ctx)
	} else {
		os, err = assess.Outcomes(ctx, c.st, nil, assess.OutcomeOptions{Now: c.now()})
	}
	if err != nil {
		return err
	}
	n := map[string]int{}
	for _, o := range os {
		n[o.Outcome]++
	}
	for _, w := range assess.OutcomeWords {
		out.add(redeemedDesc, float64(n[w]), w)
	}
	return nil
}

// seriesKey is the labels of one session series: (domain, reporter,
// result) of tlsrpt_sessions, (domain, reporter, result_type) of
// tlsrpt_failed_sessions when failures.
type seriesKey struct {
	failures                 bool
	domain, reporter, result string
}

// sessionSeries adds the sessions up per final label values: every
// series once, whatever the names the reports give.
func sessionSeries(perDomain, perType []store.RecentSessions) map[seriesKey]int64 {
	reporters, domains := top(perDomain)
	out := map[seriesKey]int64{}
	add := func(k seriesKey, v int64) { out[k] = sat(out[k], v) }
	for _, r := range perDomain {
		d, rep := domains.label(Label(r.Domain)), reporters.of(r)
		add(seriesKey{false, d, rep, "successful"}, r.Successful)
		add(seriesKey{false, d, rep, "failed"}, r.Failed)
	}
	for _, r := range perType {
		add(seriesKey{true, domains.label(Label(r.Domain)), reporters.of(r), ResultType(r.ResultType)}, r.Failed)
	}
	return out
}

// reporterSeries is the end of the latest believed report period per
// reporter label. MaxReporters authenticated reporters are named by
// identity: those listed (the allowlist's) first, then those whose
// reports were received on the most days (one a day, whatever dates the
// reports give: backdated reports sent at once count once), then the
// most recent; the other authenticated ones are "other", every
// unauthenticated report "unauthenticated". A reporter with no believed
// period has no series.
func reporterSeries(as []store.ReporterActivity, listed func(string) bool) map[string]time.Time {
	var authed []store.ReporterActivity
	out := map[string]time.Time{}
	latest := func(k string, t time.Time) {
		if t.After(out[k]) {
			out[k] = t
		}
	}
	for _, a := range as {
		switch {
		case a.Last.IsZero():
		case !a.Authenticated:
			latest(Unauthenticated, a.Last)
		default:
			authed = append(authed, a)
		}
	}
	isListed := func(a store.ReporterActivity) int {
		if listed != nil && listed(a.Identity) {
			return 1
		}
		return 0
	}
	slices.SortFunc(authed, func(a, b store.ReporterActivity) int {
		if c := cmp.Compare(isListed(b), isListed(a)); c != 0 {
			return c
		}
		if c := cmp.Compare(b.DaysReceived, a.DaysReceived); c != 0 {
			return c
		}
		if c := b.Last.Compare(a.Last); c != 0 {
			return c
		}
		return cmp.Compare(a.Identity, b.Identity)
	})
	named := 0
	for _, a := range authed {
		l := Label(a.Identity)
		if _, ok := out[l]; !ok && named >= MaxReporters {
			l = Other
		} else if !ok {
			named++
		}
		latest(l, a.Last)
	}
	return out
}

// collectWaiting adds the recorded count of addresses waiting for
// redeem, when one was recorded.
func (c *Collector) collectWaiting(ctx context.Context, out *samples) error {
	v, at, ok, err := c.st.Setting(ctx, WaitingKey(c.host))
	if err != nil || !ok {
		return err
	}
	n, err := strconv.ParseInt(v, 10, 64)
	if err != nil || n < 0 {
		return nil // not ours to show
	}
	out.add(waitingDesc, float64(n))
	out.add(waitingTimeDesc, float64(at.Unix()))
	return nil
}

// labels keeps the normalised names of the biggest values of a label.
type labels map[string]bool

// label is the label of a normalised value: itself when kept, else
// "other".
func (l labels) label(v string) string {
	if l[v] {
		return v
	}
	return Other
}

// of is the reporter label of r: "unauthenticated" when r is, else its
// identity when kept, else "other".
func (l labels) of(r store.RecentSessions) string {
	if !r.Authenticated {
		return Unauthenticated
	}
	return l.label(Label(r.Reporter))
}

// top picks the authenticated reporters and the domains with the most
// sessions, by their normalised names; a domain's sessions in
// authenticated reports rank before any in unauthenticated ones, so
// forged reports can take only the slots that authenticated ones leave.
func top(rs []store.RecentSessions) (reporters, domains labels) {
	byReporter := map[string][2]int64{}
	byDomain := map[string][2]int64{}
	for _, r := range rs {
		n := sat(r.Successful, r.Failed)
		d := Label(r.Domain)
		v := byDomain[d]
		if r.Authenticated {
			rep := Label(r.Reporter)
			byReporter[rep] = [2]int64{sat(byReporter[rep][0], n)}
			v[0] = sat(v[0], n)
		} else {
			v[1] = sat(v[1], n)
		}
		byDomain[d] = v
	}
	return biggest(byReporter, MaxReporters), biggest(byDomain, MaxDomains)
}

// biggest keeps the n keys of m with the most (first, then second)
// sessions.
func biggest(m map[string][2]int64, n int) labels {
	return tally.Top(m, n, func(a, b [2]int64) int {
		if c := cmp.Compare(b[0], a[0]); c != 0 {
			return c
		}
		return cmp.Compare(b[1], a[1])
	})
}

// sat adds two non-negative counts, saturating at store.MaxSum.
func sat(a, b int64) int64 { return tally.Add(a, b, store.MaxSum) }

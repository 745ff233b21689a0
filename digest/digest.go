// Package digest writes the text of the daily mail about SMTP TLS reports:
// only what changed. New failing addresses since the last digest,
// addresses whose failures grew, reporters gone quiet, failure rates that
// moved per policy domain, the outcomes of redeemed addresses that
// changed, the failing checks of tlsrpt diagnose for the
// result types new since the last digest, and the redeem plan; and of
// DMARC aggregate reports, the reporters whose share of messages failing
// DMARC rose (by the rule of the TLS failure rates) and the sources newly
// failing DMARC for our domains.
//
// Reporters are named as the store names them (store.ReporterName): an
// authenticated reporter by the domain that signed its reports, any other
// by the organization-name it claims, marked "(unauthenticated)". Only an
// authenticated reporter can go quiet (judged on the periods its reports
// cover) or raise a DMARC alert: a forged report cannot silence an alert
// or raise one, and a backfill of old reports does not make a silent
// reporter look alive. When nothing is notable
// there is no text at all, so that cron and the systemd timer mail only
// when there is news.
//
// The state between digests (when the last one was made, the failing
// result types per policy domain of its span, the outcomes and the DMARC
// failing sources it named) is kept in the store, one
// setting per host, so that each MX of a fleet has its own. With a Prober,
// the checks of tlsrpt diagnose run for the result types of authenticated
// reports that the last digest did not have, within a time budget; a
// probe that cannot run is a line of the text, never an error.
package digest

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"math"
	"net/netip"
	"slices"
	"strings"
	"time"

	"github.com/tlsrpt/tlsrpt/assess"
	"github.com/tlsrpt/tlsrpt/neutral"
	"github.com/tlsrpt/tlsrpt/probe"
	"github.com/tlsrpt/tlsrpt/redeem"
	"github.com/tlsrpt/tlsrpt/store"
)

// Defaults of Options.
const (
	DefaultQuietAfter = 72 * time.Hour
	DefaultSpan       = 24 * time.Hour
	DefaultRateChange = 5.0 // percentage points
	// MaxListed bounds each list of the text; the rest is counted.
	MaxListed = 20
)

// Options configure Compute. The zero value makes the digest since the
// last one recorded for no particular host (else the last 24 hours), with
// the defaults above.
type Options struct {
	Since      time.Time     // the start of the span; zero: since the last digest, else Now - DefaultSpan
	Now        time.Time     // the end of the span; zero: time.Now()
	QuietAfter time.Duration // a regular reporter silent this long is quiet; zero: DefaultQuietAfter
	RateChange float64       // a change of the failure rate of at least this many percentage points is notable; zero: DefaultRateChange
	Host       string        // whose last digest to start from (settings are per host)
	Plan       string        // the redeem plan, as the command prints it; "" for none
	// Prober runs the checks of tlsrpt diagnose for the result types new
	// since the last digest (of Host); nil probes nothing.
	Prober *probe.Prober
	// ProbeBudget bounds the time of all the probes; zero:
	// DefaultProbeBudget.
	ProbeBudget time.Duration
	// Bans is where each address is banned now (the ban backends were
	// consulted), for the banned-again outcome; nil leaves it out.
	Bans map[netip.Addr][]redeem.Ban
	// Domains are our domains: a source failing DMARC is named when the
	// From domain of its messages is one of them or under one; nil takes
	// the policy domains of the authenticated DMARC reports.
	Domains []string
}

// RateChange is a policy domain whose failure rate moved between the span
// before and the digest's span.
type RateChange struct {
	Domain      string
	Before, Now store.DomainSessions
}

// Digest is what changed in a span of time.
type Digest struct {
	Since, Now time.Time
	New        []store.AddressChange    // failing addresses no earlier report named
	Grown      []store.AddressChange    // known failing addresses with more failures
	Quiet      []store.ReporterActivity // authenticated reporters gone quiet, judged on the periods their reports cover
	Rates      []RateChange             // notable changes of a domain's failure rate
	Plan       string
	Types      map[string][]string // failing result types per policy domain of the span's authenticated reports
	Probes     []Probe             // the checks of the result types new since the last digest
	Changed    []assess.Outcome    // redeemed addresses whose outcome the last digest did not send, worst first
	Outcomes   map[string]string   // the outcome of every redeemed address, by address (RecordOutcomes)

	DMARCRises []DMARCRise                // authenticated reporters whose DMARC failures rose
	DMARCNew   []store.DMARCFailingSource // sources newly failing DMARC for our domains, in authenticated reports
	DMARCSeen  []string                   // the new failing sources of the window, named now or before (RecordDMARC)
}

// Notable reports whether the digest has anything to say.
func (d Digest) Notable() bool {
	return len(d.New)+len(d.Grown)+len(d.Quiet)+len(d.Rates)+len(d.Changed)+len(d.DMARCRises)+len(d.DMARCNew) > 0 || strings.TrimSpace(d.Plan) != "" ||
		slices.ContainsFunc(d.Probes, Probe.Failed)
}

// settingKey names the setting that holds the time of a host's last
// digest.
func settingKey(host string) string { return "digest.last:" + host }

// Compute makes the digest of the span from opt.Since (or the last
// digest) to opt.Now.
func Compute(ctx context.Context, st *store.Store, opt Options) (Digest, error) {
	opt, err := withDefaults(ctx, st, opt)
	if err != nil {
		return Digest{}, err
	}
	d := Digest{Since: opt.Since, Now: opt.Now, Plan: opt.Plan}
	changes, err := st.AddressChanges(ctx, opt.Since, Until(opt.Now))
	if err != nil {
		return Digest{}, err
	}
	for _, c := range changes {
		if c.New() {
			d.New = append(d.New, c)
		} else if c.Since > 0 {
			d.Grown = append(d.Grown, c)
		}
	}
	reporters, err := st.ReportersAsOf(ctx, opt.Now)
	if err != nil {
		return Digest{}, err
	}
	for _, r := range reporters {
		if r.Quiet(opt.Now, opt.QuietAfter) {
			d.Quiet = append(d.Quiet, r)
		}
	}
	if d.Rates, err = rateChanges(ctx, st, opt); err != nil {
		return Digest{}, err
	}
	if err := probeNew(ctx, st, opt, &d); err != nil {
		return Digest{}, err
	}
	if err := changedOutcomes(ctx, st, opt, &d); err != nil {
		return Digest{}, err
	}
	if d.DMARCRises, err = dmarcRises(ctx, st, opt); err != nil {
		return Digest{}, err
	}
	if err := newDMARCSources(ctx, st, opt, &d); err != nil {
		return Digest{}, err
	}
	return d, nil
}

// withDefaults fills in the zero fields of opt.
func withDefaults(ctx context.Context, st *store.Store, opt Options) (Options, error) {
	if opt.Now.IsZero() {
		opt.Now = time.Now()
	}
	opt.Now = opt.Now.UTC()
	if opt.QuietAfter <= 0 {
		opt.QuietAfter = DefaultQuietAfter
	}
	if opt.RateChange <= 0 {
		opt.RateChange = DefaultRateChange
	}
	if opt.Since.IsZero() {
		v, _, ok, err := st.Setting(ctx, settingKey(opt.Host))
		if err != nil {
			return opt, err
		}
		opt.Since = opt.Now.Add(-DefaultSpan)
		if t, err := time.Parse(time.RFC3339, v); ok && err == nil && !t.After(Until(opt.Now)) {
			opt.Since = t
		}
	}
	opt.Since = opt.Since.UTC()
	return opt, nil
}

// rateChanges compares each domain's failure rate in the digest's span
// with the span of the same length before it.
func rateChanges(ctx context.Context, st *store.Store, opt Options) ([]RateChange, error) {
	span := opt.Now.Sub(opt.Since)
	now, err := st.DomainSessionsStored(ctx, opt.Since, opt.Now)
	if err != nil {
		return nil, err
	}
	before, err := st.DomainSessionsStored(ctx, opt.Since.Add(-span), opt.Since)
	if err != nil {
		return nil, err
	}
	prev := map[string]store.DomainSessions{}
	for _, b := range before {
		prev[b.Domain] = b
	}
	var out []RateChange
	for _, n := range now {
		b := prev[n.Domain]
		if rateMoved(rate{b.Failed, b.Successful + b.Failed}, rate{n.Failed, n.Successful + n.Failed}, opt.RateChange) {
			out = append(out, RateChange{Domain: n.Domain, Before: b, Now: n})
		}
	}
	return out, nil
}

// rate is a count of failures among a total (sessions, messages).
type rate struct{ failed, total int64 }

// percent is the failures in percent of the total, 0 without any.
func (r rate) percent() float64 {
	if r.total <= 0 {
		return 0
	}
	return 100 * float64(r.failed) / float64(r.total)
}

// rateMoved is the baseline rule of the digest's failure rates: with
// something in the span, the rate moved by at least points percentage
// points from the span before, or there are failures where the span
// before had traffic and none failed.
func rateMoved(before, now rate, points float64) bool {
	if now.total <= 0 {
		return false
	}
	newFailures := before.failed == 0 && now.failed > 0 && before.total > 0
	return math.Abs(now.percent()-before.percent()) >= points || newFailures
}

// Until is the end of a digest's span made at now: the next whole second,
// as the store records when reports were stored in whole seconds. Reports
// stored up to now are in this digest, later ones in the next.
func Until(now time.Time) time.Time {
	return now.Truncate(time.Second).Add(time.Second)
}

// Record notes that a digest of the span up to now was made for host, so
// that the next one starts where this one ended (Until(now)).
func Record(ctx context.Context, st *store.Store, host string, now time.Time) error {
	return st.SetSetting(ctx, settingKey(host), Until(now).UTC().Format(time.RFC3339))
}

// RecordSent keeps d as the last digest sent for host: its result types
// (RecordTypes), outcomes (RecordOutcomes) and DMARC sources
// (RecordDMARC), so that the next digest repeats none of them, and its
// end (Record), where the next one starts.
func RecordSent(ctx context.Context, st *store.Store, host string, d Digest) error {
	for _, record := range []func(context.Context, *store.Store, string, Digest) error{RecordTypes, RecordOutcomes, RecordDMARC} {
		if err := record(ctx, st, host, d); err != nil {
			return err
		}
	}
	return Record(ctx, st, host, d.Now)
}

// WriteText writes the digest for people, as a mail body: at most
// MaxListed lines per list, every report string neutralised.
func (d Digest) WriteText(w io.Writer) error {
	bw := bufio.NewWriter(w)
	fmt.Fprintf(bw, "SMTP TLS reports from %s to %s (tlsrpt digest)\n", d.Since.Format("2006-01-02 15:04"), d.Now.Format("2006-01-02 15:04 MST"))
	if len(d.New) > 0 {
		fmt.Fprintf(bw, "\n%s:\n", plural(len(d.New), "new failing address", "new failing addresses"))
		list(bw, d.New, func(c store.AddressChange) string {
			return fmt.Sprintf("%s: %s from %s", c.IP, plural64(c.Since, "failed session", "failed sessions"), orgs(c.Organizations))
		})
	}
	if len(d.Grown) > 0 {
		fmt.Fprintf(bw, "\nMore failures from %s:\n", plural(len(d.Grown), "known address", "known addresses"))
		list(bw, d.Grown, func(c store.AddressChange) string {
			return fmt.Sprintf("%s: %s more (%d before) from %s", c.IP, plural64(c.Since, "failed session", "failed sessions"), c.Before, orgs(c.Organizations))
		})
	}
	if len(d.Quiet) > 0 {
		fmt.Fprintf(bw, "\nReporters gone quiet:\n")
		list(bw, d.Quiet, func(r store.ReporterActivity) string {
			return fmt.Sprintf("%s: last report ended %s (%s over %s, about %.1f a day)", neutral.SummaryLine(r.Name()),
				r.Last.Format("2006-01-02"), plural64(r.Reports, "report", "reports"), plural64(r.Days, "day", "days"), r.PerDay())
		})
	}
	if len(d.Rates) > 0 {
		fmt.Fprintf(bw, "\nFailure rates that moved (this span against the one before):\n")
		list(bw, d.Rates, func(c RateChange) string {
			return fmt.Sprintf("%s: %.1f%% (%d of %d sessions), was %.1f%% (%d of %d)", neutral.SummaryLine(orNone(c.Domain)),
				100*c.Now.FailureRate(), c.Now.Failed, c.Now.Successful+c.Now.Failed,
				100*c.Before.FailureRate(), c.Before.Failed, c.Before.Successful+c.Before.Failed)
		})
	}
	writeDMARC(bw, d.DMARCRises, d.DMARCNew)
	writeOutcomes(bw, d.Changed, d.Now)
	writeProbes(bw, d.Probes)
	if p := strings.TrimSpace(d.Plan); p != "" {
		fmt.Fprintf(bw, "\nRedeem plan (tlsrpt redeem; nothing changes without --apply):\n")
		for _, line := range strings.Split(p, "\n") {
			fmt.Fprintf(bw, "  %s\n", neutral.SummaryLine(line))
		}
	}
	fmt.Fprintf(bw, "\nDetails: tlsrpt review\n")
	return bw.Flush()
}

// list writes at most MaxListed items, one a line, and counts the rest.
func list[T any](w io.Writer, items []T, line func(T) string) {
	for _, it := range items[:min(len(items), MaxListed)] {
		fmt.Fprintf(w, "  %s\n", line(it))
	}
	if n := len(items) - MaxListed; n > 0 {
		fmt.Fprintf(w, "  and %d more\n", n)
	}
}

// orgs names the reporters of a change (as the store names them: an
// identity, or a claimed name marked unauthenticated), neutralised.
func orgs(l []string) string {
	l = slices.Clone(l)
	for i, o := range l {
		l[i] = neutral.SummaryLine(orNone(o))
	}
	return strings.Join(l, ", ")
}

func orNone(s string) string {
	if s == "" {
		return "(none)"
	}
	return s
}

func plural(n int, one, many string) string { return plural64(int64(n), one, many) }

func plural64(n int64, one, many string) string {
	if n == 1 {
		return "1 " + one
	}
	return fmt.Sprintf("%d %s", n, many)
}

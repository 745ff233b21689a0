// Package metrics exposes what the tlsrpt store knows to Prometheus: the
// sessions of the last day per policy domain, reporter and result-type,
// when each reporter last sent a report (so that an alert can fire on a
// reporter gone quiet), and how many trusted addresses wait for redeem.
//
// The Collector reads the store at scrape time, as node_exporter's
// collectors read the system: there is no state to keep in step. Label
// values come from reports, so their number is bounded: the reporters and
// domains with the most sessions keep their names, the rest are counted
// as "other"; result-types outside RFC 8460's list are "other" too.
package metrics

import (
	"cmp"
	"context"
	"slices"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/tlsrpt/tlsrpt/neutral"
	"github.com/tlsrpt/tlsrpt/store"
)

// Bounds on label values, and the name of the rest.
const (
	MaxReporters = 10
	MaxDomains   = 20
	Other        = "other"
)

// Window is the span the session gauges cover: reports stored within it.
const Window = 24 * time.Hour

// WaitingSetting names the store setting in which review and redeem
// record how many trusted addresses are banned and wait for redeem.
const WaitingSetting = "redeem.waiting"

// rfc8460Types are the result-types that keep their name as a label.
var rfc8460Types = map[string]bool{
	"starttls-not-supported": true, "certificate-host-mismatch": true, "certificate-expired": true,
	"certificate-not-trusted": true, "validation-failure": true, "tlsa-invalid": true, "dnssec-invalid": true,
	"dane-required": true, "sts-policy-fetch-error": true, "sts-policy-invalid": true, "sts-webpki-invalid": true,
}

var (
	sessionsDesc = prometheus.NewDesc("tlsrpt_sessions",
		"Sessions in the reports stored in the last 24 hours, by policy domain, reporter and result (successful or failed).",
		[]string{"policy_domain", "reporter", "result"}, nil)
	failuresDesc = prometheus.NewDesc("tlsrpt_failed_sessions",
		"Failed sessions in the failure details of the reports stored in the last 24 hours, by policy domain, reporter and result-type.",
		[]string{"policy_domain", "reporter", "result_type"}, nil)
	lastReportDesc = prometheus.NewDesc("tlsrpt_reporter_last_report_timestamp_seconds",
		"When the latest report of each reporter was stored (Unix time): alert on time() minus this.",
		[]string{"reporter"}, nil)
	waitingDesc = prometheus.NewDesc("tlsrpt_redeem_waiting_addresses",
		"Trusted addresses banned on this host and waiting for tlsrpt redeem, as review or redeem last found them.",
		nil, nil)
	waitingTimeDesc = prometheus.NewDesc("tlsrpt_redeem_waiting_timestamp_seconds",
		"When review or redeem last counted the addresses waiting for redeem (Unix time).",
		nil, nil)
	upDesc = prometheus.NewDesc("tlsrpt_store_up",
		"1 when the store could be read at this scrape, else 0.", nil, nil)
)

// Collector is a prometheus.Collector over a store.
type Collector struct {
	st      *store.Store
	now     func() time.Time
	timeout time.Duration
	host    string
}

// NewCollector returns a Collector reading st, with a time-out of 5 s per
// scrape. host names whose redeem count it shows (settings are per host in
// a fleet; "" for a single host).
func NewCollector(st *store.Store, host string) *Collector {
	return &Collector{st: st, now: time.Now, timeout: 5 * time.Second, host: host}
}

// WaitingKey is the setting under which host's count of addresses waiting
// for redeem is kept.
func WaitingKey(host string) string { return WaitingSetting + ":" + host }

// Describe sends the descriptions of every metric.
func (c *Collector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{sessionsDesc, failuresDesc, lastReportDesc, waitingDesc, waitingTimeDesc, upDesc} {
		ch <- d
	}
}

// Collect reads the store and sends the metrics.
func (c *Collector) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), c.timeout)
	defer cancel()
	err := c.collect(ctx, ch)
	up := 1.0
	if err != nil {
		up = 0
	}
	ch <- prometheus.MustNewConstMetric(upDesc, prometheus.GaugeValue, up)
}

func (c *Collector) collect(ctx context.Context, ch chan<- prometheus.Metric) error {
	perDomain, perType, err := c.st.SessionsStoredSince(ctx, c.now().Add(-Window))
	if err != nil {
		return err
	}
	reporters, domains := top(perDomain)
	type sk struct{ domain, reporter, result string }
	sessions := map[sk]int64{}
	for _, r := range perDomain {
		d, rep := domains.label(r.Domain), reporters.label(r.Reporter)
		sessions[sk{d, rep, "successful"}] = sat(sessions[sk{d, rep, "successful"}], r.Successful)
		sessions[sk{d, rep, "failed"}] = sat(sessions[sk{d, rep, "failed"}], r.Failed)
	}
	for k, v := range sessions {
		ch <- prometheus.MustNewConstMetric(sessionsDesc, prometheus.GaugeValue, float64(v), k.domain, k.reporter, k.result)
	}
	failures := map[sk]int64{}
	for _, r := range perType {
		t := r.ResultType
		if !rfc8460Types[t] {
			t = Other
		}
		k := sk{domains.label(r.Domain), reporters.label(r.Reporter), t}
		failures[k] = sat(failures[k], r.Failed)
	}
	for k, v := range failures {
		ch <- prometheus.MustNewConstMetric(failuresDesc, prometheus.GaugeValue, float64(v), k.domain, k.reporter, k.result)
	}
	if err := c.collectReporters(ctx, ch); err != nil {
		return err
	}
	return c.collectWaiting(ctx, ch)
}

// collectReporters sends the last report time of the reporters that sent
// most recently; the others share "other", with the latest of their times.
func (c *Collector) collectReporters(ctx context.Context, ch chan<- prometheus.Metric) error {
	as, err := c.st.Reporters(ctx) // most recent first
	if err != nil {
		return err
	}
	var other time.Time
	for i, a := range as {
		if i >= MaxReporters {
			if a.LastStored.After(other) {
				other = a.LastStored
			}
			continue
		}
		ch <- prometheus.MustNewConstMetric(lastReportDesc, prometheus.GaugeValue, float64(a.LastStored.Unix()), neutral.LogAttr(a.Organization))
	}
	if !other.IsZero() {
		ch <- prometheus.MustNewConstMetric(lastReportDesc, prometheus.GaugeValue, float64(other.Unix()), Other)
	}
	return nil
}

// collectWaiting sends the recorded count of addresses waiting for
// redeem, when one was recorded.
func (c *Collector) collectWaiting(ctx context.Context, ch chan<- prometheus.Metric) error {
	v, at, ok, err := c.st.Setting(ctx, WaitingKey(c.host))
	if err != nil || !ok {
		return err
	}
	n, err := strconv.ParseInt(v, 10, 64)
	if err != nil || n < 0 {
		return nil // not ours to show
	}
	ch <- prometheus.MustNewConstMetric(waitingDesc, prometheus.GaugeValue, float64(n))
	ch <- prometheus.MustNewConstMetric(waitingTimeDesc, prometheus.GaugeValue, float64(at.Unix()))
	return nil
}

// labels keeps the names of the biggest values of a label.
type labels map[string]bool

func (l labels) label(v string) string {
	if l[v] {
		return neutral.LogAttr(v)
	}
	return Other
}

// top picks the reporters and domains with the most sessions.
func top(rs []store.RecentSessions) (reporters, domains labels) {
	byReporter, byDomain := map[string]int64{}, map[string]int64{}
	for _, r := range rs {
		byReporter[r.Reporter] = sat(byReporter[r.Reporter], sat(r.Successful, r.Failed))
		byDomain[r.Domain] = sat(byDomain[r.Domain], sat(r.Successful, r.Failed))
	}
	return biggest(byReporter, MaxReporters), biggest(byDomain, MaxDomains)
}

func biggest(m map[string]int64, n int) labels {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.SortFunc(keys, func(a, b string) int {
		if c := cmp.Compare(m[b], m[a]); c != 0 {
			return c
		}
		return cmp.Compare(a, b)
	})
	l := labels{}
	for _, k := range keys[:min(n, len(keys))] {
		if k != Other {
			l[k] = true
		}
	}
	return l
}

// sat adds two non-negative counts, saturating at store.MaxSum.
func sat(a, b int64) int64 {
	if a > store.MaxSum-b {
		return store.MaxSum
	}
	return a + b
}

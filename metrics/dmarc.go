package metrics

import (
	"context"

	"github.com/tlsrpt/tlsrpt/internal/promtext"
	"github.com/tlsrpt/tlsrpt/store"
)

// dmarcDesc is the DMARC messages of the last day, with the labels and
// bounds of the session gauges.
var dmarcDesc = &promtext.Desc{Name: "tlsrpt_dmarc_messages", Type: promtext.GaugeType, Labels: []string{"policy_domain", "reporter", "result"},
	Help: "Messages in the DMARC aggregate reports stored in the last 24 hours, by policy domain, reporter and result (pass or fail: aligned DKIM or aligned SPF passed, as the reporter evaluated it). Every unauthenticated report counts under reporter=\"unauthenticated\", policy_domain=\"other\"."}

// collectDMARC adds the DMARC messages of the reports stored in the
// last Window, passed and failed, per policy domain and reporter.
func (c *Collector) collectDMARC(ctx context.Context, out *samples) error {
	rows, err := c.st.DMARCStoredSince(ctx, c.now().Add(-Window))
	if err != nil {
		return err
	}
	for k, v := range dmarcSeries(rows) {
		out.add(dmarcDesc, float64(v), k.domain, k.reporter, k.result)
	}
	return nil
}

// dmarcSeries adds the messages up per final label values, as
// sessionSeries does for sessions: the authenticated reporters and
// policy domains with the most messages keep their (normalised) names,
// MaxReporters and MaxDomains of them, the rest are "other"; the
// unauthenticated reports, which the store gives without names, are
// reporter "unauthenticated" of policy domain "other", so that no name
// they claim becomes a label or takes a slot.
func dmarcSeries(rows []store.RecentDMARC) map[seriesKey]int64 {
	var authed []store.RecentSessions
	for _, r := range rows {
		if r.Authenticated {
			authed = append(authed, store.RecentSessions{Reporter: r.Reporter, Domain: r.Domain, Authenticated: true,
				Successful: r.Pass, Failed: r.Fail})
		}
	}
	reporters, domains := top(authed)
	out := map[seriesKey]int64{}
	add := func(k seriesKey, v int64) { out[k] = sat(out[k], v) }
	for _, r := range rows {
		d, rep := Other, Unauthenticated
		if r.Authenticated {
			d, rep = domains.label(Label(r.Domain)), reporters.label(Label(r.Reporter))
		}
		add(seriesKey{domain: d, reporter: rep, result: "pass"}, r.Pass)
		add(seriesKey{domain: d, reporter: rep, result: "fail"}, r.Fail)
	}
	return out
}

package serve

import (
	"context"
	"net/http"
	"strconv"

	"github.com/tlsrpt/tlsrpt/internal/promtext"
	tlsmetrics "github.com/tlsrpt/tlsrpt/metrics"
	"github.com/tlsrpt/tlsrpt/report"
	"github.com/tlsrpt/tlsrpt/store"
)

// rejectReasons are the reason labels of tlsrpt_requests_rejected_total,
// all shown from the start so that rates and alerts work before the first
// rejection.
var rejectReasons = []string{
	"bad_gzip", "bad_json", "busy", "invalid", "media_type", "method",
	"not_report", "read_error", "store", "timeout", "too_large", "unavailable",
}

// metrics are the counters of this process, on a registry of its own,
// so that two Handlers in one process never collide.
type metrics struct {
	reg        *promtext.Registry
	received   *promtext.CounterVec
	duplicates *promtext.CounterVec
	failed     *promtext.CounterVec
	rejected   *promtext.CounterVec
	requests   *promtext.CounterVec
}

func newMetrics(h *Handler) *metrics {
	m := &metrics{
		reg: promtext.NewRegistry(),
		received: promtext.NewCounterVec("tlsrpt_reports_received_total",
			"Reports received by this process, duplicates included, by transport.", "transport"),
		duplicates: promtext.NewCounterVec("tlsrpt_reports_duplicate_total",
			"Reports received by this process that were already stored, by transport.", "transport"),
		failed: promtext.NewCounterVec("tlsrpt_failed_sessions_total",
			"Failed sessions in the failure details of newly stored reports, by result-type.", "result_type"),
		rejected: promtext.NewCounterVec("tlsrpt_requests_rejected_total",
			"Requests answered without storing a report, by reason.", "reason"),
		requests: promtext.NewCounterVec("tlsrpt_http_requests_total",
			"HTTP requests answered, by status code.", "code"),
	}
	m.received.With("https")
	m.duplicates.With("https")
	for _, r := range rejectReasons {
		m.rejected.With(r)
	}
	m.reg.Register(m.received, m.duplicates, m.failed, m.rejected, m.requests,
		promtext.GaugeFunc("tlsrpt_requests_in_flight",
			"Report POSTs being read or stored now.", func() float64 { return float64(h.inFlight()) }),
		promtext.GaugeFunc("tlsrpt_request_bytes_in_flight",
			"Bytes of request bodies held in memory now.", func() float64 { return float64(h.bytes.used()) }))
	if h.opt.Stats != nil {
		m.reg.Register(tlsmetrics.NewCache(&storeStats{stats: h.opt.Stats}, tlsmetrics.DefaultCacheTTL))
	}
	m.reg.Register(h.opt.Collectors...)
	return m
}

// request counts one answered request.
func (m *metrics) request(o outcome) {
	m.requests.With(strconv.Itoa(o.status)).Inc()
	if o.reason != "" {
		m.rejected.With(o.reason).Inc()
	}
}

// receivedReport counts one report taken from a body.
func (m *metrics) receivedReport(dup bool) {
	m.received.With("https").Inc()
	if dup {
		m.duplicates.With("https").Inc()
	}
}

// stored counts the failed sessions of a newly stored report by the
// result-type of its failure details.
func (m *metrics) stored(r *report.Report) {
	for _, p := range r.Policies {
		for _, d := range p.Details {
			// RFC 8460's registry names, else "other": result types come
			// from reporters, and the first ones seen must not take the
			// names (metrics.ResultType).
			m.failed.With(tlsmetrics.ResultType(d.ResultType)).Add(float64(d.FailedSessions))
		}
	}
}

// MetricsHandler answers GET /metrics with the handler's metrics in the
// Prometheus text format, and 404 elsewhere. Serve it on a listener of
// its own, apart from the public intake: the metrics name reporters and
// domains. The store's statistics are read at most once per
// metrics.DefaultCacheTTL; a sample that cannot be written is left out
// and the rest served.
func (h *Handler) MetricsHandler() http.Handler {
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", h.metrics.reg.Handler(promtext.HandlerOpts{ContinueOnError: true}))
	return mux
}

// storeStats adds what the database holds, whatever the transport.
type storeStats struct {
	stats func(context.Context) (store.Stats, error)
}

var (
	storeReportsDesc = &promtext.Desc{Name: "tlsrpt_store_reports", Type: promtext.GaugeType, Labels: []string{"transport"},
		Help: "Reports stored in the database, by transport."}
	storeAddrsDesc = &promtext.Desc{Name: "tlsrpt_store_failing_addresses", Type: promtext.GaugeType,
		Help: "Distinct sending-mta-ip addresses in stored failure details."}
)

// Collect reads the store's statistics; a store that cannot answer
// gives none, and the scrape goes on without them.
func (s *storeStats) Collect() []promtext.Sample {
	st, err := s.stats(context.Background())
	if err != nil {
		return nil
	}
	var out []promtext.Sample
	for k, n := range st.ByTransport {
		out = append(out, storeReportsDesc.Sample(float64(n), k))
	}
	return append(out, storeAddrsDesc.Sample(float64(st.Addresses)))
}

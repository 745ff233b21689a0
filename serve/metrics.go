package serve

import (
	"context"
	"net/http"
	"strconv"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

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

// metrics are the counters of this process, on a registry of its own
// (client_golang), so that two Handlers in one process never collide.
type metrics struct {
	reg        *prometheus.Registry
	received   *prometheus.CounterVec
	duplicates *prometheus.CounterVec
	failed     *prometheus.CounterVec
	rejected   *prometheus.CounterVec
	requests   *prometheus.CounterVec
}

func newMetrics(h *Handler) *metrics {
	m := &metrics{
		reg: prometheus.NewRegistry(),
		received: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "tlsrpt_reports_received_total",
			Help: "Reports received by this process, duplicates included, by transport."}, []string{"transport"}),
		duplicates: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "tlsrpt_reports_duplicate_total",
			Help: "Reports received by this process that were already stored, by transport."}, []string{"transport"}),
		failed: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "tlsrpt_failed_sessions_total",
			Help: "Failed sessions in the failure details of newly stored reports, by result-type."}, []string{"result_type"}),
		rejected: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "tlsrpt_requests_rejected_total",
			Help: "Requests answered without storing a report, by reason."}, []string{"reason"}),
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "tlsrpt_http_requests_total",
			Help: "HTTP requests answered, by status code."}, []string{"code"}),
	}
	m.received.WithLabelValues("https")
	m.duplicates.WithLabelValues("https")
	for _, r := range rejectReasons {
		m.rejected.WithLabelValues(r)
	}
	m.reg.MustRegister(m.received, m.duplicates, m.failed, m.rejected, m.requests,
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "tlsrpt_requests_in_flight",
			Help: "Report POSTs being read or stored now."}, func() float64 { return float64(h.inFlight()) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "tlsrpt_request_bytes_in_flight",
			Help: "Bytes of request bodies held in memory now."}, func() float64 { return float64(h.bytes.used()) }))
	if h.opt.Stats != nil {
		m.reg.MustRegister(tlsmetrics.NewCache(&storeStats{stats: h.opt.Stats}, tlsmetrics.DefaultCacheTTL))
	}
	for _, c := range h.opt.Collectors {
		m.reg.MustRegister(c)
	}
	return m
}

// request counts one answered request.
func (m *metrics) request(o outcome) {
	m.requests.WithLabelValues(strconv.Itoa(o.status)).Inc()
	if o.reason != "" {
		m.rejected.WithLabelValues(o.reason).Inc()
	}
}

// receivedReport counts one report taken from a body.
func (m *metrics) receivedReport(dup bool) {
	m.received.WithLabelValues("https").Inc()
	if dup {
		m.duplicates.WithLabelValues("https").Inc()
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
			m.failed.WithLabelValues(tlsmetrics.ResultType(d.ResultType)).Add(float64(d.FailedSessions))
		}
	}
}

// MetricsHandler answers GET /metrics with the handler's metrics, through
// promhttp, and 404 elsewhere. Serve it on a listener of its own, apart
// from the public intake: the metrics name reporters and domains. The
// store's statistics are read at most once per metrics.DefaultCacheTTL.
func (h *Handler) MetricsHandler() http.Handler {
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", promhttp.HandlerFor(h.metrics.reg, promhttp.HandlerOpts{ErrorHandling: promhttp.ContinueOnError}))
	return mux
}

// storeStats adds what the database holds, whatever the transport.
type storeStats struct {
	stats func(context.Context) (store.Stats, error)
}

var (
	storeReportsDesc = prometheus.NewDesc("tlsrpt_store_reports",
		"Reports stored in the database, by transport.", []string{"transport"}, nil)
	storeAddrsDesc = prometheus.NewDesc("tlsrpt_store_failing_addresses",
		"Distinct sending-mta-ip addresses in stored failure details.", nil, nil)
)

// Describe sends the descriptions of the store's metrics.
func (s *storeStats) Describe(ch chan<- *prometheus.Desc) {
	ch <- storeReportsDesc
	ch <- storeAddrsDesc
}

// Collect reads the store's statistics; a store that cannot answer gives
// an invalid metric, which promhttp reports without failing the scrape.
func (s *storeStats) Collect(ch chan<- prometheus.Metric) {
	st, err := s.stats(context.Background())
	if err != nil {
		ch <- prometheus.NewInvalidMetric(storeAddrsDesc, err)
		return
	}
	for k, n := range st.ByTransport {
		ch <- prometheus.MustNewConstMetric(storeReportsDesc, prometheus.GaugeValue, float64(n), k)
	}
	ch <- prometheus.MustNewConstMetric(storeAddrsDesc, prometheus.GaugeValue, float64(st.Addresses))
}

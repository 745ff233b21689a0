package serve

import (
	"bufio"
	"context"
	"fmt"
	"net/http"
	"sort"
	"strings"
	"sync"

	"github.com/tlsrpt/tlsrpt/report"
	"github.com/tlsrpt/tlsrpt/store"
)

// rejectReasons are the reason labels of tlsrpt_requests_rejected_total,
// all shown from the start so that rates and alerts work before the first
// rejection.
var rejectReasons = []string{
	"bad_gzip", "bad_json", "busy", "invalid", "media_type", "method",
	"not_report", "read_error", "store", "timeout", "too_large",
}

// maxResultTypes bounds the distinct result_type labels: result types come
// from reporters, and a hostile one must not grow the metrics without end.
// Further types are counted as "other".
const maxResultTypes = 64

// metrics are the counters of this process, in Prometheus terms.
type metrics struct {
	mu         sync.Mutex
	nReceived  int64            // reports received over https, duplicates included
	duplicates int64            // of which already stored
	failed     map[string]int64 // failed sessions of newly stored reports, by result-type
	rejected   map[string]int64 // by reason
	requests   map[int]int64    // by status code
}

func newMetrics() *metrics {
	m := &metrics{failed: map[string]int64{}, rejected: map[string]int64{}, requests: map[int]int64{}}
	for _, r := range rejectReasons {
		m.rejected[r] = 0
	}
	return m
}

// request counts one answered request.
func (m *metrics) request(o outcome) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.requests[o.status]++
	if o.reason != "" {
		m.rejected[o.reason]++
	}
}

// received counts one report taken from a body.
func (m *metrics) received(dup bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.nReceived++
	if dup {
		m.duplicates++
	}
}

// stored counts the failed sessions of a newly stored report by the
// result-type of its failure details.
func (m *metrics) stored(r *report.Report) {
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, p := range r.Policies {
		for _, d := range p.Details {
			rt := d.ResultType
			if _, ok := m.failed[rt]; !ok && len(m.failed) >= maxResultTypes {
				rt = "other"
			}
			m.failed[rt] += d.FailedSessions
		}
	}
}

// writeMetrics answers GET /metrics in the Prometheus text exposition
// format (version 0.0.4).
func (h *Handler) writeMetrics(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "text/plain; version=0.0.4; charset=utf-8")
	bw := bufio.NewWriter(w)
	h.metrics.write(bw, len(h.sem))
	if h.opt.Stats != nil {
		writeStoreStats(r.Context(), bw, h.opt.Stats)
	}
	bw.Flush()
}

// write prints the counters of this process.
func (m *metrics) write(w *bufio.Writer, inFlight int) {
	m.mu.Lock()
	defer m.mu.Unlock()
	family(w, "tlsrpt_reports_received_total", "counter",
		"Reports received by this process, duplicates included, by transport.")
	fmt.Fprintf(w, "tlsrpt_reports_received_total{transport=\"https\"} %d\n", m.nReceived)
	family(w, "tlsrpt_reports_duplicate_total", "counter",
		"Reports received by this process that were already stored, by transport.")
	fmt.Fprintf(w, "tlsrpt_reports_duplicate_total{transport=\"https\"} %d\n", m.duplicates)
	family(w, "tlsrpt_failed_sessions_total", "counter",
		"Failed sessions in the failure details of newly stored reports, by result-type.")
	for _, k := range sortedKeys(m.failed) {
		fmt.Fprintf(w, "tlsrpt_failed_sessions_total{result_type=\"%s\"} %d\n", escapeLabel(k), m.failed[k])
	}
	family(w, "tlsrpt_requests_rejected_total", "counter",
		"Requests answered without storing a report, by reason.")
	for _, k := range sortedKeys(m.rejected) {
		fmt.Fprintf(w, "tlsrpt_requests_rejected_total{reason=\"%s\"} %d\n", k, m.rejected[k])
	}
	family(w, "tlsrpt_http_requests_total", "counter", "HTTP requests answered, by status code.")
	codes := make([]int, 0, len(m.requests))
	for c := range m.requests {
		codes = append(codes, c)
	}
	sort.Ints(codes)
	for _, c := range codes {
		fmt.Fprintf(w, "tlsrpt_http_requests_total{code=\"%d\"} %d\n", c, m.requests[c])
	}
	family(w, "tlsrpt_requests_in_flight", "gauge", "Report POSTs being handled now.")
	fmt.Fprintf(w, "tlsrpt_requests_in_flight %d\n", inFlight)
}

// writeStoreStats adds what the database holds, whatever the transport.
func writeStoreStats(ctx context.Context, w *bufio.Writer, stats func(context.Context) (store.Stats, error)) {
	st, err := stats(ctx)
	if err != nil {
		fmt.Fprintf(w, "# store statistics unavailable: %s\n", oneLine(err.Error()))
		return
	}
	family(w, "tlsrpt_store_reports", "gauge", "Reports stored in the database, by transport.")
	for _, k := range sortedKeys(st.ByTransport) {
		fmt.Fprintf(w, "tlsrpt_store_reports{transport=\"%s\"} %d\n", escapeLabel(k), st.ByTransport[k])
	}
	family(w, "tlsrpt_store_failing_addresses", "gauge", "Distinct sending-mta-ip addresses in stored failure details.")
	fmt.Fprintf(w, "tlsrpt_store_failing_addresses %d\n", st.Addresses)
}

func family(w *bufio.Writer, name, typ, help string) {
	fmt.Fprintf(w, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, typ)
}

// escapeLabel escapes a label value for the text format.
func escapeLabel(s string) string {
	s = strings.ToValidUTF8(s, "\uFFFD")
	return strings.NewReplacer(`\`, `\\`, `"`, `\"`, "\n", `\n`).Replace(s)
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

package serve

import (
	"bytes"
	"fmt"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tlsrpt/tlsrpt/internal/reporttest"
	"github.com/tlsrpt/tlsrpt/internal/storetest"
)

// BenchmarkServePost measures the handler on gzipped corpus reports, each
// with a new report-id, stored in a real SQLite database.
func BenchmarkServePost(b *testing.B) {
	st := storetest.Open(b)
	h := NewHandler(st, Options{})
	base := corpusJSON(b)["05-parsedmarc-google-failures-2024.json"]
	bodies := make([][]byte, b.N)
	for i := range bodies {
		bodies[i] = reporttest.Gzip(b, reporttest.WithReportID(b, base, fmt.Sprintf("bench-%d", i)))
	}
	b.ResetTimer()
	for i := range b.N {
		req := httptest.NewRequest("POST", "/", bytes.NewReader(bodies[i]))
		req.Header.Set("Content-Type", MediaTypeGzip)
		w := httptest.NewRecorder()
		h.ServeHTTP(w, req)
		if w.Code != http.StatusCreated {
			b.Fatalf("%d %s", w.Code, w.Body)
		}
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "reports/s")
}

// BenchmarkServeLoopback measures the whole path: HTTP clients posting in
// parallel over loopback to Serve, stored in a real SQLite database.
func BenchmarkServeLoopback(b *testing.B) {
	st := storetest.Open(b)
	srv := start(b, NewHandler(st, Options{MaxConcurrent: 256, MaxPerClient: 1024}), ServerOptions{})
	base := corpusJSON(b)["05-parsedmarc-google-failures-2024.json"]
	bodies := make([][]byte, b.N)
	for i := range bodies {
		bodies[i] = reporttest.Gzip(b, reporttest.WithReportID(b, base, fmt.Sprintf("loop-%d", i)))
	}
	tr := &http.Transport{MaxIdleConnsPerHost: 64}
	defer tr.CloseIdleConnections()
	c := &http.Client{Timeout: 30 * time.Second, Transport: tr}
	var next atomic.Int64
	b.SetParallelism(8)
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			i := next.Add(1) - 1
			if code, body := post(b, c, srv.url, MediaTypeGzip, bodies[i]); code != http.StatusCreated {
				b.Errorf("%d %s", code, body)
			}
		}
	})
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "reports/s")
}

package serve

import (
	"bytes"
	"fmt"
	"net/http"
	"net/http/httptest"
	"testing"
)

// BenchmarkServePost measures the handler on gzipped corpus reports, each
// with a new report-id, stored in a real SQLite database.
func BenchmarkServePost(b *testing.B) {
	st := openStore(b)
	h := NewHandler(st, Options{})
	base := corpusJSON(b)["05-parsedmarc-google-failures-2024.json"]
	bodies := make([][]byte, b.N)
	for i := range bodies {
		bodies[i] = gz(b, withReportID(b, base, fmt.Sprintf("bench-%d", i)))
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

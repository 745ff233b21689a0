package serve_test

import (
	"context"
	"fmt"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"

	"github.com/tlsrpt/tlsrpt/serve"
	"github.com/tlsrpt/tlsrpt/store"
)

func ExampleNewHandler() {
	dir, _ := os.MkdirTemp("", "tlsrpt-example")
	defer os.RemoveAll(dir)
	st, err := store.Open(filepath.Join(dir, "tlsrpt.db"))
	if err != nil {
		fmt.Println(err)
		return
	}
	defer st.Close()
	h := serve.NewHandler(st, serve.Options{Stats: st.Stats})

	// A reporter POSTs one report to the rua=https:// URI.
	const js = `{"organization-name": "Example Mail", "report-id": "2024-02-01_example.net",
	  "date-range": {"start-datetime": "2024-02-01T00:00:00Z", "end-datetime": "2024-02-01T23:59:59Z"},
	  "policies": [{"policy": {"policy-type": "sts", "policy-domain": "example.net"},
	    "summary": {"total-successful-session-count": 9, "total-failure-session-count": 1},
	    "failure-details": [{"result-type": "certificate-expired", "sending-mta-ip": "192.0.2.7",
	      "failed-session-count": 1}]}]}`
	for range 2 {
		req := httptest.NewRequest("POST", "/v1/report", strings.NewReader(js))
		req.Header.Set("Content-Type", serve.MediaTypeJSON)
		w := httptest.NewRecorder()
		h.ServeHTTP(w, req)
		fmt.Print(w.Code, " ", w.Body)
	}
	stats, _ := st.Stats(context.Background())
	fmt.Println(stats.ByTransport["https"], "report stored over https")
	// The metrics are served apart, on a listener of their own.
	w := httptest.NewRecorder()
	h.MetricsHandler().ServeHTTP(w, httptest.NewRequest("GET", "/metrics", nil))
	for _, line := range strings.Split(w.Body.String(), "\n") {
		if strings.HasPrefix(line, "tlsrpt_failed_sessions_total") {
			fmt.Println(line)
		}
	}
	// Output:
	// 201 stored report 1
	// 200 already stored as report 1
	// 1 report stored over https
	// tlsrpt_failed_sessions_total{result_type="certificate-expired"} 1
}

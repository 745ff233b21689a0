package serve

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/tlsrpt/tlsrpt/store"
)

// scrapeMetrics GETs h's /metrics, wants 200, and parses the answer with
// Prometheus's own text parser.
func scrapeMetrics(t *testing.T, h *Handler) map[string]*dto.MetricFamily {
	t.Helper()
	fams, err := readMetrics(h)
	if err != nil {
		t.Fatal(err)
	}
	return fams
}

// readMetrics is scrapeMetrics for any goroutine.
func readMetrics(h *Handler) (map[string]*dto.MetricFamily, error) {
	w := httptest.NewRecorder()
	h.MetricsHandler().ServeHTTP(w, httptest.NewRequest("GET", "/metrics", nil))
	if w.Code != http.StatusOK {
		return nil, fmt.Errorf("/metrics: %d %s", w.Code, w.Body)
	}
	p := expfmt.NewTextParser(model.LegacyValidation)
	fams, err := p.TextToMetricFamilies(w.Body)
	if err != nil {
		return nil, fmt.Errorf("/metrics does not parse: %v", err)
	}
	return fams, nil
}

// counterValue is the value of the counter of name with the label pair
// given.
func counterValue(fams map[string]*dto.MetricFamily, name, label, value string) float64 {
	for _, m := range fams[name].GetMetric() {
		for _, l := range m.GetLabel() {
			if l.GetName() == label && l.GetValue() == value {
				return m.GetCounter().GetValue()
			}
		}
	}
	return -1
}

// TestMetricsStoreDown: when the store cannot give its statistics, the
// scrape still answers 200 with the process's own metrics and without the
// store's gauges, as promhttp's ContinueOnError answered.
func TestMetricsStoreDown(t *testing.T) {
	h := NewHandler(&memRecorder{}, Options{Stats: func(context.Context) (store.Stats, error) {
		return store.Stats{}, errors.New("database is locked")
	}})
	fams := scrapeMetrics(t, h)
	if counterValue(fams, "tlsrpt_reports_received_total", "transport", "https") != 0 {
		t.Errorf("no tlsrpt_reports_received_total{transport=\"https\"} 0: %v", fams)
	}
	for _, name := range []string{"tlsrpt_store_reports", "tlsrpt_store_failing_addresses"} {
		if fams[name] != nil {
			t.Errorf("%s shown with the store down: %v", name, fams[name])
		}
	}
}

// TestMetricsCountsUnderScrapes (run with -race, as make test does):
// requests answered by many goroutines while others scrape are all
// counted, exactly, and every scrape parses.
func TestMetricsCountsUnderScrapes(t *testing.T) {
	h := NewHandler(&memRecorder{}, Options{})
	const posters, each = 8, 50
	var wg sync.WaitGroup
	for range posters {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range each {
				req := httptest.NewRequest("POST", "/", strings.NewReader("junk"))
				req.Header.Set("Content-Type", "text/plain")
				h.ServeHTTP(httptest.NewRecorder(), req)
			}
		}()
	}
	stop := make(chan struct{})
	scraped := make(chan struct{})
	go func() {
		defer close(scraped)
		for {
			select {
			case <-stop:
				return
			default:
				if _, err := readMetrics(h); err != nil {
					t.Error(err)
					return
				}
			}
		}
	}()
	wg.Wait()
	close(stop)
	<-scraped
	fams := scrapeMetrics(t, h)
	if got := counterValue(fams, "tlsrpt_http_requests_total", "code", "415"); got != posters*each {
		t.Errorf("tlsrpt_http_requests_total{code=\"415\"} = %v, want %d", got, posters*each)
	}
	if got := counterValue(fams, "tlsrpt_requests_rejected_total", "reason", "media_type"); got != posters*each {
		t.Errorf("tlsrpt_requests_rejected_total{reason=\"media_type\"} = %v, want %d", got, posters*each)
	}
}

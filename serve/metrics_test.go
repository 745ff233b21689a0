package serve

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"sync"
	"testing"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/tlsrpt/tlsrpt/store"
)

// readMetrics GETs url (a metrics listener's /metrics), wants 200, and
// parses the answer with Prometheus's own text parser. It may run in any
// goroutine.
func readMetrics(c *http.Client, url string) (map[string]*dto.MetricFamily, error) {
	resp, err := c.Get(url)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("GET %s: %s", url, resp.Status)
	}
	p := expfmt.NewTextParser(model.LegacyValidation)
	fams, err := p.TextToMetricFamilies(resp.Body)
	if err != nil {
		return nil, fmt.Errorf("GET %s does not parse: %v", url, err)
	}
	return fams, nil
}

// scrapeMetrics serves h's metrics on a listener of their own, as
// tlsrpt serve does, and reads them once.
func scrapeMetrics(t *testing.T, h *Handler) map[string]*dto.MetricFamily {
	t.Helper()
	fams, err := readMetrics(http.DefaultClient, start(t, h.MetricsHandler(), ServerOptions{}).url+"/metrics")
	if err != nil {
		t.Fatal(err)
	}
	return fams
}

// counterValue is the value of the counter of name with the label pair
// given, -1 when there is none.
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

// TestMetricsCountsUnderScrapes (run with -race, as make test does): a
// real server answers requests from many goroutines while others scrape
// its metrics listener; every request is counted, exactly, and every
// scrape parses.
func TestMetricsCountsUnderScrapes(t *testing.T) {
	const posters, each = 8, 50
	h := NewHandler(&memRecorder{}, Options{MaxPerClient: posters})
	intake := start(t, h, ServerOptions{})
	metricsURL := start(t, h.MetricsHandler(), ServerOptions{}).url + "/metrics"
	var wg sync.WaitGroup
	for range posters {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range each {
				post(t, http.DefaultClient, intake.url, "text/plain", []byte("junk"))
			}
		}()
	}
	stop, scraped := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(scraped)
		for {
			select {
			case <-stop:
				return
			default:
				if _, err := readMetrics(http.DefaultClient, metricsURL); err != nil {
					t.Error(err)
					return
				}
			}
		}
	}()
	wg.Wait()
	close(stop)
	<-scraped
	fams, err := readMetrics(http.DefaultClient, metricsURL)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range [][3]string{{"tlsrpt_http_requests_total", "code", "415"}, {"tlsrpt_requests_rejected_total", "reason", "media_type"}} {
		if got := counterValue(fams, c[0], c[1], c[2]); got != posters*each {
			t.Errorf("%s{%s=%q} = %v, want %d", c[0], c[1], c[2], got, posters*each)
		}
	}
}

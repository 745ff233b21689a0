package serve

import (
	"bytes"
	"context"
	"fmt"
	"math"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/tlsrpt/tlsrpt/arrival"
	"github.com/tlsrpt/tlsrpt/dmarc"
	"github.com/tlsrpt/tlsrpt/internal/reporttest"
	"github.com/tlsrpt/tlsrpt/internal/testenv"
	"github.com/tlsrpt/tlsrpt/report"
	"github.com/tlsrpt/tlsrpt/store"
)

// trickle opens a connection from the loopback address from, sends the
// header of a POST whose body never comes (a byte now and then), and
// returns a function that closes it. Extra header lines ("Name: value")
// go with the request.
func trickle(t *testing.T, addr, from string, extra ...string) func() {
	t.Helper()
	d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(from)}}
	c, err := d.Dial("tcp", addr)
	if err != nil {
		t.Fatalf("dial from %s: %v", from, err)
	}
	var more strings.Builder
	for _, h := range extra {
		more.WriteString(h + "\r\n")
	}
	fmt.Fprintf(c, "POST / HTTP/1.1\r\nHost: x\r\nContent-Type: %s\r\nContent-Length: 100000\r\n%s\r\n{", MediaTypeJSON, more.String())
	done := make(chan struct{})
	go func() {
		tk := time.NewTicker(time.Second)
		defer tk.Stop()
		for {
			select {
			case <-done:
				return
			case <-tk.C:
				c.Write([]byte(" "))
			}
		}
	}()
	return func() { close(done); c.Close() }
}

// waitFor polls cond until it holds, for at most testenv.Patience: the
// handler's slots give no other sign.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(testenv.Patience); !cond(); time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
	}
}

// postFrom posts body from the loopback address from, with extra header
// lines ("Name: value").
func postFrom(t *testing.T, url, from string, body []byte, extra ...string) int {
	t.Helper()
	tr := &http.Transport{DialContext: (&net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(from)}}).DialContext}
	defer tr.CloseIdleConnections()
	req, err := http.NewRequest(http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", MediaTypeGzip)
	for _, h := range extra {
		k, v, _ := strings.Cut(h, ": ")
		req.Header.Add(k, v)
	}
	resp, err := (&http.Client{Transport: tr, Timeout: testenv.Patience}).Do(req)
	if err != nil {
		t.Fatalf("post from %s: %v", from, err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

// TestTricklersDoNotTurnAReporterAway: 40 clients, each from its own
// address, send a byte a second; a reporter's POST is still stored at
// once, because slow bodies hold read slots, not store slots. "At once"
// needs no clock: a POST that had to wait for a slot a trickler holds
// would be turned away with 503 after StoreWait, so 201 shows it waited
// for none. With as few read slots as tricklers (what taking a slot
// before the body amounted to), the reporter is turned away: the test can
// fail.
func TestTricklersDoNotTurnAReporterAway(t *testing.T) {
	body := reporttest.Gzip(t, corpusJSON(t)["05-parsedmarc-google-failures-2024.json"])
	for _, tt := range []struct {
		name    string
		reading int
		want    int
	}{{"default read slots", 0, http.StatusCreated}, {"control: 40 read slots", 40, http.StatusServiceUnavailable}} {
		t.Run(tt.name, func(t *testing.T) {
			h := NewHandler(&memRecorder{}, Options{MaxReading: tt.reading, StoreWait: time.Second})
			srv := start(t, h, ServerOptions{})
			for i := range 40 {
				defer trickle(t, srv.addr, fmt.Sprintf("127.0.0.%d", 2+i))()
			}
			waitFor(t, "40 bodies being read", func() bool { return len(h.reading) == 40 })
			if code := postFrom(t, srv.url, "127.0.0.1", body); code != tt.want {
				t.Fatalf("reporter's POST: %d, want %d", code, tt.want)
			}
		})
	}
}

// TestPerClientLimit: one address cannot take more than its share; other
// clients are served meanwhile. The fourth POST of the trickling client
// waits StoreWait for one of its client's slots, then gets 503.
func TestPerClientLimit(t *testing.T) {
	h := NewHandler(&memRecorder{}, Options{MaxPerClient: 3, StoreWait: 300 * time.Millisecond})
	srv := start(t, h, ServerOptions{})
	for range 3 {
		defer trickle(t, srv.addr, "127.0.0.9")()
	}
	waitFor(t, "3 bodies being read", func() bool { return len(h.reading) == 3 })
	body := reporttest.Gzip(t, corpusJSON(t)["05-parsedmarc-google-failures-2024.json"])
	if code := postFrom(t, srv.url, "127.0.0.9", body); code != http.StatusServiceUnavailable {
		t.Errorf("a fourth POST from the trickling client: %d, want 503", code)
	}
	if code := postFrom(t, srv.url, "127.0.0.10", body); code != http.StatusCreated {
		t.Errorf("another client: %d, want 201", code)
	}
}

// unavailable is a store that is away.
type unavailable struct{ err error }

func (u unavailable) AddReportResult(context.Context, *report.Report, arrival.Source) (int64, arrival.Added, error) {
	return 0, arrival.New, u.err
}

func (u unavailable) AddDMARCResult(context.Context, *dmarc.Report, arrival.Source) (int64, arrival.Added, error) {
	return 0, arrival.New, u.err
}

// TestDatabaseAway503: a store away or busy is a 503 with Retry-After,
// not a 500: the reporter retries.
func TestDatabaseAway503(t *testing.T) {
	body := corpusJSON(t)["05-parsedmarc-google-failures-2024.json"]
	for _, err := range []error{fmt.Errorf("connecting to db.example:5432: %w", store.ErrUnavailable), fmt.Errorf("x: %w", store.ErrBusy)} {
		h := NewHandler(unavailable{err}, Options{RetryAfter: 30 * time.Second})
		req := httptest.NewRequest("POST", "/", bytes.NewReader(body))
		req.Header.Set("Content-Type", MediaTypeJSON)
		w := httptest.NewRecorder()
		h.ServeHTTP(w, req)
		if w.Code != http.StatusServiceUnavailable || w.Header().Get("Retry-After") != "30" {
			t.Errorf("%v: %d Retry-After %q", err, w.Code, w.Header().Get("Retry-After"))
		}
	}
}

// TestPolicyBound: 160,000 empty policies are not a report; past
// --max-policies (report.DefaultLimits.MaxPolicies) a POST gets 413.
func TestPolicyBound(t *testing.T) {
	maxPolicies := report.DefaultLimits.MaxPolicies
	var b strings.Builder
	b.WriteString(`{"organization-name":"o","date-range":{"start-datetime":"2026-11-22T00:00:00Z","end-datetime":"2026-11-22T23:59:59Z"},"report-id":"many","policies":[`)
	for i := range maxPolicies + 1 {
		if i > 0 {
			b.WriteString(",")
		}
		fmt.Fprintf(&b, `{"policy":{"policy-type":"no-policy-found","policy-domain":"d%d.example"},"summary":{"total-successful-session-count":0,"total-failure-session-count":0}}`, i)
	}
	b.WriteString("]}")
	rec := &memRecorder{}
	h := NewHandler(rec, Options{})
	req := httptest.NewRequest("POST", "/", bytes.NewReader(reporttest.Gzip(t, []byte(b.String()))))
	req.Header.Set("Content-Type", MediaTypeGzip)
	w := httptest.NewRecorder()
	h.ServeHTTP(w, req)
	if w.Code != http.StatusRequestEntityTooLarge || !strings.Contains(w.Body.String(), fmt.Sprintf("more than %d policies", maxPolicies)) {
		t.Errorf("%d policies: %d %s", maxPolicies+1, w.Code, w.Body)
	}
	if len(rec.srcs) != 0 {
		t.Errorf("stored %d reports", len(rec.srcs))
	}
}

// TestByteBudget: bodies and decoding share one budget across requests;
// a request that would pass it gets 503 and gives back what it took.
func TestByteBudget(t *testing.T) {
	body := reporttest.Gzip(t, corpusJSON(t)["05-parsedmarc-google-failures-2024.json"])
	h := NewHandler(&memRecorder{}, Options{MaxInFlightBytes: 100 << 10, Limits: report.Limits{MaxDecompressed: 64 << 10}})
	send := func(b []byte) int {
		req := httptest.NewRequest("POST", "/", bytes.NewReader(b))
		req.Header.Set("Content-Type", MediaTypeGzip)
		w := httptest.NewRecorder()
		h.ServeHTTP(w, req)
		return w.Code
	}
	if code := send(body); code != http.StatusCreated {
		t.Fatalf("a small report within the budget: %d", code)
	}
	big := append(bytes.Clone(body), bytes.Repeat([]byte{0}, 200<<10)...)
	if code := send(big); code != http.StatusServiceUnavailable {
		t.Errorf("a body over the budget: %d, want 503", code)
	}
	if used := h.bytes.used(); used != 0 {
		t.Errorf("%d bytes of the budget not given back", used)
	}
}

// TestMetricsParse scrapes /metrics with Prometheus's own text parser.
func TestMetricsParse(t *testing.T) {
	h := NewHandler(&memRecorder{}, Options{Stats: func(context.Context) (store.Stats, error) {
		return store.Stats{ByTransport: map[string]int64{"https": 2, "mail": 5}, Addresses: 7}, nil
	}})
	req := httptest.NewRequest("POST", "/", bytes.NewReader(corpusJSON(t)["05-parsedmarc-google-failures-2024.json"]))
	req.Header.Set("Content-Type", MediaTypeJSON)
	h.ServeHTTP(httptest.NewRecorder(), req)
	w := httptest.NewRecorder()
	h.MetricsHandler().ServeHTTP(w, httptest.NewRequest("GET", "/metrics", nil))
	p := expfmt.NewTextParser(model.LegacyValidation)
	fams, err := p.TextToMetricFamilies(w.Body)
	if err != nil {
		t.Fatalf("/metrics does not parse: %v", err)
	}
	want := map[string]float64{"tlsrpt_reports_received_total": 1, "tlsrpt_store_failing_addresses": 7, "tlsrpt_requests_in_flight": 0}
	for name, v := range want {
		f, ok := fams[name]
		if !ok || len(f.Metric) == 0 {
			t.Errorf("no %s", name)
			continue
		}
		m := f.Metric[0]
		got := m.GetCounter().GetValue() + m.GetGauge().GetValue()
		if got != v {
			t.Errorf("%s = %v, want %v", name, got, v)
		}
	}
	if f := fams["tlsrpt_failed_sessions_total"]; f == nil || f.Metric[0].GetCounter().GetValue() != 3 {
		t.Errorf("failed sessions: %v", f)
	}
}

// TestDetailsBound: a POST of a million empty failure details (a few KB
// of gzip) gets 413 naming the bound, and nothing is stored.
func TestDetailsBound(t *testing.T) {
	js := `{"report-id":"tiny","policies":[{"policy":{"policy-type":"sts"},"failure-details":[` +
		strings.TrimSuffix(strings.Repeat("{},", 1_000_000), ",") + `]}]}`
	rec := &memRecorder{}
	h := NewHandler(rec, Options{})
	req := httptest.NewRequest("POST", "/", bytes.NewReader(reporttest.Gzip(t, []byte(js))))
	req.Header.Set("Content-Type", MediaTypeGzip)
	w := httptest.NewRecorder()
	h.ServeHTTP(w, req)
	if w.Code != http.StatusRequestEntityTooLarge || !strings.Contains(w.Body.String(), "more than 50000 failure details") {
		t.Errorf("a million empty details: %d %s", w.Code, w.Body)
	}
	if len(rec.srcs) != 0 {
		t.Errorf("stored %d reports", len(rec.srcs))
	}
}

// TestBodyBudgetExact: BodyBudget, with --max-decompressed, is exactly
// what the largest body takes on an idle server: with that budget a body of
// MaxBody bytes is stored, with one byte less it gets 503 forever (what
// the serve command refuses at start).
func TestBodyBudgetExact(t *testing.T) {
	const maxBody = 64 << 10
	js := corpusJSON(t)["05-parsedmarc-google-failures-2024.json"]
	body := append(bytes.Clone(js), bytes.Repeat([]byte(" "), maxBody-len(js))...)
	need := BodyBudget(maxBody) + maxBody
	for _, tt := range []struct {
		budget int64
		want   int
	}{{need, http.StatusCreated}, {need - 1, http.StatusServiceUnavailable}} {
		h := NewHandler(&memRecorder{}, Options{MaxBody: maxBody, MaxInFlightBytes: tt.budget, Limits: report.Limits{MaxDecompressed: maxBody}})
		req := httptest.NewRequest("POST", "/", bytes.NewReader(body))
		req.Header.Set("Content-Type", MediaTypeJSON)
		w := httptest.NewRecorder()
		h.ServeHTTP(w, req)
		if w.Code != tt.want {
			t.Errorf("budget %d (BodyBudget %d + %d): %d %s, want %d", tt.budget, BodyBudget(maxBody), maxBody, w.Code, w.Body, tt.want)
		}
	}
	for _, tt := range []struct{ max, want int64 }{{0, 16 << 10}, {16<<10 - 1, 16 << 10}, {16 << 10, 32 << 10}, {8 << 20, 16 << 20}, {1 << 62, math.MaxInt64}} {
		if got := BodyBudget(tt.max); got != tt.want {
			t.Errorf("BodyBudget(%d) = %d, want %d", tt.max, got, tt.want)
		}
	}
}

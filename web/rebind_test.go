package web

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/chromedp/chromedp"

	"github.com/tlsrpt/tlsrpt/internal/storetest"
)

// seen records what the dashboard answered, request by request.
type seen struct {
	mu    sync.Mutex
	lines []string      // "HOST PATH SEC-FETCH-SITE STATUS"
	cross chan struct{} // closed when the first cross-site request is answered
}

type statusWriter struct {
	http.ResponseWriter
	code int
}

func (w *statusWriter) WriteHeader(code int) { w.code = code; w.ResponseWriter.WriteHeader(code) }

func (s *seen) wrap(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		sw := &statusWriter{ResponseWriter: w, code: 200}
		h.ServeHTTP(sw, r)
		s.mu.Lock()
		s.lines = append(s.lines, fmt.Sprintf("%s %s %s %d", r.Host, r.URL.Path, r.Header.Get("Sec-Fetch-Site"), sw.code))
		if r.Header.Get("Sec-Fetch-Site") == "cross-site" && s.cross != nil {
			close(s.cross)
			s.cross = nil
		}
		s.mu.Unlock()
	})
}

func (s *seen) all() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.lines...)
}

// TestRebindingInChromium attacks the dashboard from a real Chromium
// whose resolver maps rebind.attacker.example (and attacker.example) to
// 127.0.0.1, as a rebinding DNS server would:
//   - the attacker's name, with the dashboard's port, reaches the
//     dashboard and is refused (421): the page shows the refusal, no
//     review row;
//   - a page of attacker.example (another listener on loopback) fetching
//     the review from http://127.0.0.1:PORT/ is refused as cross-site
//     (403) before the review runs;
//   - the dashboard still works at http://127.0.0.1:PORT/ and
//     http://localhost:PORT/, charts drawn;
//   - on an empty store each chart's place says why it is empty.
func TestRebindingInChromium(t *testing.T) {
	dash := newServer(t)
	crossed := make(chan struct{})
	log := seen{cross: crossed}
	dash.Config.Handler = log.wrap(dash.Config.Handler)
	port := dash.URL[strings.LastIndex(dash.URL, ":")+1:]
	attacker := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html")
		fmt.Fprintf(w, `<!doctype html><title>attack</title><script>
fetch("http://127.0.0.1:%s/api/v1/review", {mode: "no-cors", credentials: "include"})
  .then(function () { document.title = "sent"; }, function () { document.title = "sent"; });
</script>`, port)
	}))
	defer attacker.Close()
	aport := attacker.URL[strings.LastIndex(attacker.URL, ":")+1:]
	ctx := browser(t, chromedp.Flag("host-resolver-rules", "MAP rebind.attacker.example 127.0.0.1, MAP attacker.example 127.0.0.1"))

	text := func(url, wait string) string {
		t.Helper()
		actions := []chromedp.Action[chromedp.Void]{chromedp.Navigate(url)}
		if wait != "" {
			actions = append(actions, chromedp.WaitVisible(chromedp.CSS(wait)))
		}
		if err := chromedp.Do(ctx, actions...); err != nil {
			t.Fatalf("chromium: %s: %v", url, err)
		}
		s, err := chromedp.Run(ctx, chromedp.Evaluate[string](`document.body.innerText`))
		if err != nil {
			t.Fatal(err)
		}
		return s
	}

	for _, path := range []string{"/", "/api/v1/review"} {
		url := "http://rebind.attacker.example:" + port + path
		got := text(url, "")
		if !strings.Contains(got, "not one the dashboard answers to") || strings.Contains(got, "198.51.100.7") {
			t.Errorf("%s: the page reads %.200q, want the refusal", url, got)
		}
	}
	text("http://attacker.example:"+aport+"/", "")
	// The barrier is the dashboard receiving the attacker's fetch, not
	// the page's title: polling the page raced its own navigation
	// ("Cannot find context with specified id") on a loaded machine.
	select {
	case <-crossed:
	case <-ctx.Done():
		t.Fatalf("chromium: the attacker's fetch never reached the dashboard: %v", ctx.Err())
	}
	for _, base := range []string{dash.URL, "http://localhost:" + port} {
		got := text(base+"/", `#sessions-0 canvas`)
		if !strings.Contains(got, "tlsrpt redeem --ip 198.51.100.7") {
			t.Errorf("%s/: the page lacks the failing addresses", base)
		}
		drawn, err := chromedp.Run(ctx, chromedp.Evaluate[int](`document.querySelectorAll('[data-drawn="1"]').length`))
		if err != nil || drawn != 9 { // 2 domains, rates, result-types, 5 reporters
			t.Errorf("%s/: %d charts drawn, want 9 (%v)", base, drawn, err)
		}
	}
	var rebound, crossSite, ok int
	for _, l := range log.all() {
		f := strings.Fields(l)
		switch {
		case strings.HasPrefix(f[0], "rebind.attacker.example:"):
			rebound++
			if f[len(f)-1] != "421" {
				t.Errorf("a rebound request was answered: %s", l)
			}
		case f[1] == "/api/v1/review" && strings.Contains(l, " cross-site "):
			crossSite++
			if f[len(f)-1] != "403" {
				t.Errorf("the cross-site fetch was answered: %s", l)
			}
		case f[len(f)-1] == "200":
			ok++
		}
	}
	if rebound < 2 || crossSite != 1 || ok < 8 {
		t.Errorf("requests seen: %d rebound, %d cross-site, %d answered: %q", rebound, crossSite, ok, log.all())
	}

	esrv := serveDashboard(t, Options{Store: storetest.Open(t)})
	got := text(esrv.URL+"/", "#rates p.empty")
	for _, want := range []string{"No report in this span.", "No report in this span: no failure rate to draw.", "No failed session in this span."} {
		if !strings.Contains(got, want) {
			t.Errorf("the empty page lacks %q: %q", want, got)
		}
	}
	if n, err := chromedp.Run(ctx, chromedp.Evaluate[int](`document.querySelectorAll('.chart').length`)); err != nil || n != 0 {
		t.Errorf("the empty page has %d chart elements, want none (%v)", n, err)
	}
}

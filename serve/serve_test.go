package serve

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/tlsrpt/tlsrpt/internal/cmd/cmdtest"
	"github.com/tlsrpt/tlsrpt/internal/httpserve/servetest"
	"github.com/tlsrpt/tlsrpt/internal/reporttest"
	"github.com/tlsrpt/tlsrpt/internal/storetest"
	"github.com/tlsrpt/tlsrpt/internal/testenv"
	"github.com/tlsrpt/tlsrpt/report"
)

// TestPostCorpus posts every corpus report to a real server, as JSON and
// then gzipped: the first is stored (201), the second is a duplicate (200).
func TestPostCorpus(t *testing.T) {
	st := storetest.Open(t)
	srv := start(t, NewHandler(st, Options{}), ServerOptions{})
	c := &http.Client{Timeout: testenv.Patience}
	corpus := corpusJSON(t)
	for _, name := range sortedNames(corpus) {
		js := corpus[name]
		code, body := post(t, c, srv.url+"/v1/report", MediaTypeJSON, js)
		if code != http.StatusCreated || !strings.HasPrefix(body, "stored report ") {
			t.Fatalf("%s as JSON: %d %q, want 201 stored", name, code, body)
		}
		id, err := strconv.ParseInt(strings.TrimSpace(strings.TrimPrefix(body, "stored report ")), 10, 64)
		if err != nil {
			t.Fatalf("%s: answer %q holds no id", name, body)
		}
		r, src, err := st.Report(context.Background(), id)
		if err != nil {
			t.Fatal(err)
		}
		want, _ := report.Decode(js, name, "", report.Limits{})
		if r.ReportID != want[0].ReportID || src.Transport != "https" || src.Auth.Authenticated {
			t.Errorf("%s: stored %q transport %q auth %+v", name, r.ReportID, src.Transport, src.Auth)
		}
		code, body = post(t, c, srv.url+"/any/path", MediaTypeGzip+"; charset=binary", reporttest.Gzip(t, js))
		if code != http.StatusOK || body != fmt.Sprintf("already stored as report %d\n", id) {
			t.Errorf("%s gzipped again: %d %q, want 200 already stored", name, code, body)
		}
	}
	if s := storetest.Stats(t, st); s.Reports != int64(len(corpus)) || s.ByTransport["https"] != int64(len(corpus)) {
		t.Errorf("store holds %d reports (%v), want %d over https", s.Reports, s.ByTransport, len(corpus))
	}
}

// TestBadInput checks that bad input gets a 4xx with a one-line reason,
// never a 5xx, and stores nothing.
func TestBadInput(t *testing.T) {
	rec := &memRecorder{}
	h := NewHandler(rec, Options{MaxBody: 64 << 10, Limits: report.Limits{MaxDecompressed: 1 << 20}})
	ts := httptest.NewServer(h)
	defer ts.Close()
	good := corpusJSON(t)["05-parsedmarc-google-failures-2024.json"]
	goodGz := reporttest.Gzip(t, good)
	bomb := reporttest.Gzip(t, make([]byte, 8<<20))
	if len(bomb) > 64<<10 {
		t.Fatalf("bomb of %d bytes does not fit the body bound", len(bomb))
	}
	tests := []struct {
		name, method, path, mediaType string
		body                          []byte
		status                        int
		answer                        string // regexp
	}{
		{"wrong type", "POST", "/", "application/json", good, 415, `^unsupported media type "application/json"`},
		{"no type", "POST", "/", "", good, 415, `^unsupported media type ""`},
		{"text", "POST", "/", "text/plain", good, 415, `unsupported media type`},
		{"garbage json", "POST", "/", MediaTypeJSON, []byte("hello, world"), 400, `not a TLS report`},
		{"garbage gzip", "POST", "/", MediaTypeGzip, []byte("\x1f\x8bnot really gzip at all"), 400, `^decoding gzip report`},
		{"truncated gzip", "POST", "/", MediaTypeGzip, goodGz[:len(goodGz)/2], 400, `^decoding gzip report .*unexpected EOF`},
		{"gzip of text", "POST", "/", MediaTypeGzip, reporttest.Gzip(t, []byte("plain text")), 400, `no TLS report`},
		{"bad json", "POST", "/", MediaTypeJSON, []byte(`{"report-id": "x", "policies": [`), 400, `^parsing JSON report`},
		{"json not a report", "POST", "/", MediaTypeJSON, []byte(`{"hello": 1}`), 400, `no TLS report`},
		{"bad address", "POST", "/", MediaTypeJSON, bytes.Replace(good, []byte("209.85.222.201"), []byte("209.85.222.999"), 1), 400, `sending-mta-ip`},
		{"bomb", "POST", "/", MediaTypeGzip, bomb, 413, `input exceeds size limit`},
		{"oversize", "POST", "/", MediaTypeJSON, bytes.Repeat([]byte(" "), 65<<10), 413, `^request body over 65536 bytes$`},
		{"empty", "POST", "/", MediaTypeJSON, nil, 400, `^empty request body`},
		{"get", "GET", "/", "", nil, 405, `^method GET not allowed`},
		{"put", "PUT", "/v1/report", MediaTypeJSON, good, 405, `^method PUT not allowed`},
		{"healthz", "GET", "/healthz", "", nil, 200, `^ok$`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req, _ := http.NewRequest(tt.method, ts.URL+tt.path, bytes.NewReader(tt.body))
			if tt.mediaType != "" {
				req.Header.Set("Content-Type", tt.mediaType)
			}
			resp, body := servetest.Do(t, ts.Client(), req)
			if resp.StatusCode != tt.status {
				t.Errorf("status %d (%q), want %d", resp.StatusCode, body, tt.status)
			}
			line, ok := strings.CutSuffix(body, "\n")
			if !ok || strings.Contains(line, "\n") || len(line) == 0 {
				t.Errorf("answer %q is not one line", body)
			}
			if !regexp.MustCompile(tt.answer).MatchString(line) {
				t.Errorf("answer %q does not match %q", line, tt.answer)
			}
			if tt.status == 405 && resp.Header.Get("Allow") != "POST" {
				t.Errorf("405 without Allow: POST")
			}
		})
	}
	if len(rec.keys) != 0 {
		t.Errorf("bad input stored %d reports", len(rec.keys))
	}
}

// TestOversizeChunked: a body without Content-Length is cut at MaxBody.
func TestOversizeChunked(t *testing.T) {
	h := NewHandler(&memRecorder{}, Options{MaxBody: 1000})
	ts := httptest.NewServer(h)
	defer ts.Close()
	pr, pw := io.Pipe()
	go func() {
		pw.Write(bytes.Repeat([]byte("{"), 5000))
		pw.Close()
	}()
	resp, err := ts.Client().Post(ts.URL, MediaTypeJSON, pr)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.ContentLength == 0 || resp.StatusCode != http.StatusRequestEntityTooLarge {
		t.Errorf("chunked oversize body: %d, want 413", resp.StatusCode)
	}
}

// TestStoreFailure: a failing store is the only 5xx.
func TestStoreFailure(t *testing.T) {
	var logBuf bytes.Buffer
	h := NewHandler(&memRecorder{fail: true}, Options{Logger: slog.New(slog.NewTextHandler(&logBuf, nil))})
	ts := httptest.NewServer(h)
	defer ts.Close()
	code, body := post(t, ts.Client(), ts.URL, MediaTypeJSON, corpusJSON(t)["11-drv-contact-null-2026.json"])
	if code != http.StatusInternalServerError || body != "storing the report failed\n" {
		t.Errorf("failing store: %d %q", code, body)
	}
	if !strings.Contains(logBuf.String(), "level=ERROR") || !strings.Contains(logBuf.String(), "disk full") {
		t.Errorf("log lacks the store error: %s", logBuf.String())
	}
}

// TestBusy: a body received while every store slot stays taken for
// StoreWait gets 503 with Retry-After, while /healthz still answers.
func TestBusy(t *testing.T) {
	g := &gate{Recorder: &memRecorder{}, entered: make(chan struct{}), release: make(chan struct{})}
	h := NewHandler(g, Options{MaxConcurrent: 1, StoreWait: 100 * time.Millisecond, RetryAfter: 2 * time.Second})
	ts := httptest.NewServer(h)
	defer ts.Close()
	corpus := corpusJSON(t)
	first := make(chan int)
	go func() {
		code, _ := post(t, ts.Client(), ts.URL, MediaTypeJSON, corpus["06-parsedmarc-rfc8460-mxhost-string.json"])
		first <- code
	}()
	<-g.entered
	req, _ := http.NewRequest("POST", ts.URL, bytes.NewReader(corpus["11-drv-contact-null-2026.json"]))
	req.Header.Set("Content-Type", MediaTypeJSON)
	resp, err := ts.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusServiceUnavailable || resp.Header.Get("Retry-After") != "2" {
		t.Errorf("second request: %d Retry-After %q, want 503 and 2", resp.StatusCode, resp.Header.Get("Retry-After"))
	}
	if code, body := get(t, ts.Client(), ts.URL+"/healthz"); code != 200 || body != "ok\n" {
		t.Errorf("healthz while busy: %d %q", code, body)
	}
	close(g.release)
	if code := <-first; code != http.StatusCreated {
		t.Errorf("first request: %d, want 201", code)
	}
}

// TestConcurrentPosters: 50 clients post distinct reports at once to a
// real server and a real store; none is lost.
func TestConcurrentPosters(t *testing.T) {
	st := storetest.Open(t)
	// All posters share the loopback address: one client to the
	// per-client limit.
	srv := start(t, NewHandler(st, Options{MaxConcurrent: 64, MaxPerClient: 64}), ServerOptions{})
	postAllStored(t, st, srv.url, "concurrent", 50)
}

// TestSlowClient: a client sending its body one byte a second is cut off
// by the read time-out, and so is one sending its headers that way;
// meanwhile others are served. What ends each slow client is the server's
// own deadline, not the test's clock: the slow body is answered 408,
// which the handler gives only when reading the body hits the connection's
// deadline, and the slow headers are closed; each slow client had far more
// to send, a byte a second, than it got to. The server takes the time-outs
// given, not its defaults, which are too long to cut them off before
// testenv.Returns gives up.
func TestSlowClient(t *testing.T) {
	st := storetest.Open(t)
	opt := ServerOptions{ReadHeaderTimeout: time.Second, ReadTimeout: 2 * time.Second, WriteTimeout: 4 * time.Second}
	if s := NewServer(nil, opt); s.ReadHeaderTimeout != opt.ReadHeaderTimeout || s.ReadTimeout != opt.ReadTimeout || s.WriteTimeout != opt.WriteTimeout {
		t.Fatalf("NewServer time-outs %v %v %v, want %v %v %v", s.ReadHeaderTimeout, s.ReadTimeout, s.WriteTimeout,
			opt.ReadHeaderTimeout, opt.ReadTimeout, opt.WriteTimeout)
	}
	srv := start(t, NewHandler(st, Options{}), opt)
	js := corpusJSON(t)["11-drv-contact-null-2026.json"]
	cases := map[string]string{
		"body":    fmt.Sprintf("POST / HTTP/1.1\r\nHost: x\r\nContent-Type: %s\r\nContent-Length: %d\r\n\r\n", MediaTypeJSON, len(js)),
		"headers": "POST / HTTP/1.1\r\n",
	}
	var wg sync.WaitGroup
	connected := make(chan struct{}, len(cases))
	for name, head := range cases {
		wg.Add(1)
		go func() {
			defer wg.Done()
			s := slowPost(t, srv.addr, head, js, connected)
			t.Logf("slow %s: cut off after %d of %d bytes, answer %q", name, s.sent, s.total, s.answer)
			if !s.closed {
				t.Errorf("slow %s: the server did not close the connection: %v", name, s.err)
			}
			if s.sent >= s.total {
				t.Errorf("slow %s: sent all %d bytes before the server closed", name, s.total)
			}
			if name == "body" && !strings.HasPrefix(s.answer, "HTTP/1.1 408") {
				t.Errorf("slow body answered %q, want 408", s.answer)
			}
			// Slow headers: net/http closes without an answer, or answers
			// 400 when the deadline splits a header line; either way the
			// client is cut off.
			if name == "headers" && s.answer != "" && !strings.HasPrefix(s.answer, "HTTP/1.1 400") {
				t.Errorf("slow headers answered %q, want the connection closed", s.answer)
			}
		}()
	}
	// The slow clients are in the accept queue, and so served, before the
	// normal one.
	for range cases {
		<-connected
	}
	c := &http.Client{Timeout: testenv.Patience}
	if code, _ := post(t, c, srv.url, MediaTypeJSON, js); code != http.StatusCreated {
		t.Errorf("a normal client beside slow ones: %d, want 201", code)
	}
	wg.Wait()
}

// slow is what slowPost saw.
type slow struct {
	answer      string // the first line the server answered, if any
	closed      bool   // whether the server closed the connection
	err         error  // how reading the answer ended
	sent, total int    // bytes sent after the head, of those it had
}

// slowPost writes head at once, signals connected, then one byte a second
// (never a line end) until the server closes the connection, or until
// testenv.Patience runs out.
func slowPost(t *testing.T, addr, head string, body []byte, connected chan<- struct{}) slow {
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		connected <- struct{}{}
		return slow{err: err}
	}
	defer conn.Close()
	_, err = io.WriteString(conn, head)
	connected <- struct{}{}
	if err != nil {
		return slow{err: err}
	}
	answer := make(chan slow, 1)
	go func() {
		conn.SetReadDeadline(time.Now().Add(testenv.Patience))
		line, _ := bufio.NewReader(conn).ReadString('\n')
		_, err := io.Copy(io.Discard, conn) // until the server closes
		closed := err == nil || errors.Is(err, syscall.ECONNRESET)
		answer <- slow{answer: strings.TrimSpace(line), closed: closed, err: err}
	}()
	trickle := append([]byte("X-Slow: "), bytes.Repeat([]byte("a"), len(body))...)
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	for i, b := range trickle {
		select {
		case s := <-answer:
			s.sent, s.total = i, len(trickle)
			return s
		case <-tick.C:
		}
		conn.Write([]byte{b})
	}
	s := <-answer
	s.sent, s.total = len(trickle), len(trickle)
	return s
}

// TestGracefulShutdown: cancelling Serve's context lets the request in
// flight finish and be stored, refuses new connections, then returns nil.
// Each step waits for an event, never for time: the listener closing, the
// handler storing the report, Serve returning. Serve must return only
// after the report held at the gate was stored.
func TestGracefulShutdown(t *testing.T) {
	st := storetest.Open(t)
	g := &gate{Recorder: st, entered: make(chan struct{}), release: make(chan struct{})}
	srv := start(t, NewHandler(g, Options{}), ServerOptions{ShutdownTimeout: time.Hour})
	result := make(chan int, 1)
	go func() {
		c := &http.Client{Timeout: testenv.Patience}
		code, _ := post(t, c, srv.url, MediaTypeJSON, corpusJSON(t)["09-drv-microsoft-tlsa-2025.json"])
		result <- code
	}()
	<-g.entered
	type returned struct {
		err    error
		stored bool // whether the report was stored when Serve returned
	}
	served := make(chan returned, 1)
	go func() {
		err := <-srv.done
		served <- returned{err, g.stored.Load()}
		srv.done <- err // for the cleanup
	}()
	srv.stop()
	select {
	case <-srv.closed:
	case r := <-served:
		t.Fatalf("Serve returned %v without closing its listener", r.err)
	}
	if c, err := net.Dial("tcp", srv.addr); err == nil {
		c.Close()
		t.Errorf("new connection accepted while shutting down")
	}
	close(g.release)
	if code := <-result; code != http.StatusCreated {
		t.Errorf("request in flight: %d, want 201", code)
	}
	var r returned
	testenv.Returns(t, "Serve after the last request", func() { r = <-served })
	if r.err != nil {
		t.Errorf("Serve: %v", r.err)
	}
	if !r.stored {
		t.Errorf("Serve returned with a request in flight")
	}
	if got := storetest.Stats(t, st).Reports; got != 1 {
		t.Errorf("store holds %d reports, want 1", got)
	}
}

// TestMetrics checks the Prometheus text after a stored report, a
// duplicate and a rejection.
func TestMetrics(t *testing.T) {
	st := storetest.Open(t)
	h := NewHandler(st, Options{Stats: st.Stats})
	srv := start(t, h, ServerOptions{})
	c := &http.Client{Timeout: testenv.Patience}
	js := corpusJSON(t)["05-parsedmarc-google-failures-2024.json"]
	post(t, c, srv.url, MediaTypeJSON, js)
	post(t, c, srv.url, MediaTypeGzip, reporttest.Gzip(t, js))
	post(t, c, srv.url, "text/plain", js)
	if code, _ := get(t, c, srv.url+"/metrics"); code != http.StatusNotFound {
		t.Errorf("/metrics on the intake listener: %d, want 404", code)
	}
	msrv := httptest.NewServer(h.MetricsHandler())
	defer msrv.Close()
	resp, err := c.Get(msrv.URL + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, "text/plain; version=0.0.4") {
		t.Errorf("Content-Type %q", ct)
	}
	b, _ := io.ReadAll(resp.Body)
	text := string(b)
	var failed int64
	reps, _ := report.Decode(js, "", "", report.Limits{})
	for _, p := range reps[0].Policies {
		for _, d := range p.Details {
			if d.ResultType == "validation-failure" {
				failed += d.FailedSessions
			}
		}
	}
	for _, want := range []string{
		"# HELP tlsrpt_reports_received_total ",
		"# TYPE tlsrpt_reports_received_total counter\n",
		`tlsrpt_reports_received_total{transport="https"} 2` + "\n",
		`tlsrpt_reports_duplicate_total{transport="https"} 1` + "\n",
		"# TYPE tlsrpt_failed_sessions_total counter\n",
		fmt.Sprintf(`tlsrpt_failed_sessions_total{result_type="validation-failure"} %d`+"\n", failed),
		"# TYPE tlsrpt_requests_rejected_total counter\n",
		`tlsrpt_requests_rejected_total{reason="media_type"} 1` + "\n",
		`tlsrpt_requests_rejected_total{reason="too_large"} 0` + "\n",
		`tlsrpt_http_requests_total{code="201"} 1` + "\n",
		`tlsrpt_http_requests_total{code="415"} 1` + "\n",
		`tlsrpt_http_requests_total{code="404"} 1` + "\n",
		"# TYPE tlsrpt_store_reports gauge\n",
		`tlsrpt_store_reports{transport="https"} 1` + "\n",
		"tlsrpt_store_failing_addresses 2\n",
	} {
		if !strings.Contains(text, want) {
			t.Errorf("metrics lack %q", want)
		}
	}
	if failed == 0 {
		t.Errorf("the sample has no validation-failure sessions")
	}
	sample := regexp.MustCompile(`^[a-z_]+(\{[a-z_]+="(?:[^"\\]|\\.)*"\})? -?[0-9]+$`)
	for _, line := range strings.Split(strings.TrimSuffix(text, "\n"), "\n") {
		if !strings.HasPrefix(line, "# ") && !sample.MatchString(line) {
			t.Errorf("not a sample line of the text format: %q", line)
		}
	}
}

// TestMetricsHostileLabels: result-types from reporters never become
// labels of their own: 74 made-up types sent first all count as "other",
// and RFC 8460's validation-failure, sent after them, keeps its name
// (the label set is RFC 8460's types, not the first types seen).
func TestMetricsHostileLabels(t *testing.T) {
	h := NewHandler(&memRecorder{}, Options{MaxConcurrent: 1})
	base := corpusJSON(t)["05-parsedmarc-google-failures-2024.json"]
	post := func(i int, js []byte) {
		req := httptest.NewRequest("POST", "/", bytes.NewReader(js))
		req.Header.Set("Content-Type", MediaTypeJSON)
		w := httptest.NewRecorder()
		h.ServeHTTP(w, req)
		if w.Code != http.StatusCreated {
			t.Fatalf("post %d: %d %s", i, w.Code, w.Body)
		}
	}
	const made = 74
	for i := range made {
		rt := fmt.Sprintf(`evil"\%d`+"\n", i)
		post(i, bytes.Replace(reporttest.WithReportID(t, base, strconv.Itoa(i)), []byte(`"validation-failure"`), []byte(strconv.Quote(rt)), -1))
	}
	post(made, reporttest.WithReportID(t, base, "real"))
	w := httptest.NewRecorder()
	h.MetricsHandler().ServeHTTP(w, httptest.NewRequest("GET", "/metrics", nil))
	text := w.Body.String()
	if n := strings.Count(text, "tlsrpt_failed_sessions_total{"); n != 2 {
		t.Errorf("%d result_type series, want 2", n)
	}
	if !strings.Contains(text, `{result_type="other"} 222`) || !strings.Contains(text, `{result_type="validation-failure"} 3`) {
		t.Errorf("made-up types not counted as other, or the registry's lost its name:\n%s", text)
	}
}

// TestRequestLog: one log line per request, with the status.
func TestRequestLog(t *testing.T) {
	var buf bytes.Buffer
	h := NewHandler(&memRecorder{}, Options{Logger: slog.New(slog.NewTextHandler(&buf, nil))})
	for _, req := range []*http.Request{
		httptest.NewRequest("GET", "/healthz", nil),
		httptest.NewRequest("POST", "/", strings.NewReader("junk")),
		httptest.NewRequest("DELETE", "/x", nil),
	} {
		req.Header.Set("X-Forwarded-For", "198.51.100.7")
		h.ServeHTTP(httptest.NewRecorder(), req)
	}
	lines := strings.Split(strings.TrimSpace(buf.String()), "\n")
	if len(lines) != 3 {
		t.Fatalf("%d log lines, want 3:\n%s", len(lines), buf.String())
	}
	for i, want := range []string{"status=200", "status=415 .*reason=media_type", "method=DELETE path=/x .*status=405 .*forwarded_for=198.51.100.7"} {
		if !regexp.MustCompile(want).MatchString(lines[i]) {
			t.Errorf("log line %q does not match %q", lines[i], want)
		}
	}
}

// TestTLS serves HTTPS with a certificate from files.
func TestTLS(t *testing.T) {
	certFile, keyFile, pool := cmdtest.SelfSigned(t)
	st := storetest.Open(t)
	srv := start(t, NewHandler(st, Options{}), ServerOptions{CertFile: certFile, KeyFile: keyFile})
	c := &http.Client{Timeout: testenv.Patience, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
	code, body := post(t, c, srv.url+"/v1/report", MediaTypeGzip, reporttest.Gzip(t, corpusJSON(t)["04-parsedmarc-mailru-2024.json"]))
	if code != http.StatusCreated {
		t.Errorf("HTTPS POST: %d %q", code, body)
	}
	if err := Serve(context.Background(), newListener(t), http.NotFoundHandler(), ServerOptions{CertFile: certFile}); err == nil {
		t.Errorf("Serve with a certificate but no key did not fail")
	}
}

func newListener(t *testing.T) net.Listener {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	return ln
}

// TestBombDefaultLimits: with the default limits, a small body that
// decompresses beyond report.DefaultLimits.MaxDecompressed is refused by
// the real server with 413, and the server goes on serving.
func TestBombDefaultLimits(t *testing.T) {
	srv := start(t, NewHandler(&memRecorder{}, Options{}), ServerOptions{})
	bomb := reporttest.Gzip(t, make([]byte, report.DefaultLimits.MaxDecompressed+1))
	c := &http.Client{Timeout: testenv.Patience}
	begin := time.Now()
	code, body := post(t, c, srv.url, MediaTypeGzip, bomb)
	t.Logf("%d-byte bomb refused in %v", len(bomb), time.Since(begin).Round(time.Millisecond))
	if code != http.StatusRequestEntityTooLarge || !strings.Contains(body, "input exceeds size limit") {
		t.Errorf("bomb: %d %q, want 413", code, body)
	}
	if code, _ := get(t, c, srv.url+"/healthz"); code != http.StatusOK {
		t.Errorf("healthz after the bomb: %d", code)
	}
}

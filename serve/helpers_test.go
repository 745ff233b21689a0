package serve

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"sort"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tlsrpt/tlsrpt/arrival"
	"github.com/tlsrpt/tlsrpt/dmarc"
	"github.com/tlsrpt/tlsrpt/internal/httpserve/servetest"
	"github.com/tlsrpt/tlsrpt/internal/reporttest"
	"github.com/tlsrpt/tlsrpt/internal/storetest"
	"github.com/tlsrpt/tlsrpt/internal/testenv"
	"github.com/tlsrpt/tlsrpt/report"
	"github.com/tlsrpt/tlsrpt/store"
)

// corpusJSON returns the JSON reports of the shared corpus by file name.
func corpusJSON(t testing.TB) map[string][]byte {
	t.Helper()
	files, err := filepath.Glob("../testdata/corpus/*.json")
	if err != nil || len(files) == 0 {
		t.Fatalf("no corpus JSON files in ../testdata/corpus: %v", err)
	}
	m := map[string][]byte{}
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		m[filepath.Base(f)] = b
	}
	return m
}

func sortedNames(m map[string][]byte) []string {
	names := make([]string, 0, len(m))
	for n := range m {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// running is a real server on a loopback listener.
type running struct {
	url  string
	addr string
	stop context.CancelFunc
	done chan error
	// closed is closed when Serve closes the listener: shutdown has begun
	// and new connections are refused.
	closed chan struct{}
}

// get GETs url with c: the status code and the whole body.
func get(t testing.TB, c *http.Client, url string) (int, string) {
	t.Helper()
	resp, body := servetest.Get(t, c, url)
	return resp.StatusCode, body
}

// postAllStored POSTs n distinct gzipped reports (the corpus's Google
// report with the IDs prefix-0 to prefix-<n-1>) to url at once, each
// from a goroutine of its own, and checks that every one is answered 201
// and that st then holds n reports.
func postAllStored(t *testing.T, st *store.Store, url, prefix string, n int) {
	t.Helper()
	base := corpusJSON(t)["05-parsedmarc-google-failures-2024.json"]
	tr := &http.Transport{}
	defer tr.CloseIdleConnections() // or Shutdown waits 5 s for them
	codes := make([]int, n)
	var wg sync.WaitGroup
	begin := time.Now()
	for i := range n {
		body := reporttest.Gzip(t, reporttest.WithReportID(t, base, fmt.Sprintf("%s-%d", prefix, i)))
		wg.Add(1)
		go func() {
			defer wg.Done()
			codes[i], _ = post(t, &http.Client{Transport: tr, Timeout: testenv.Patience}, url, MediaTypeGzip, body)
		}()
	}
	wg.Wait()
	t.Logf("%d concurrent posts in %v", n, time.Since(begin).Round(time.Millisecond))
	for i, c := range codes {
		if c != http.StatusCreated {
			t.Errorf("POST %d: %d, want 201", i, c)
		}
	}
	if got := storetest.Stats(t, st).Reports; got != int64(n) {
		t.Errorf("store holds %d reports, want %d", got, n)
	}
}

// start runs Serve on 127.0.0.1:0 and stops it at the end of the test.
func start(t testing.TB, h http.Handler, opt ServerOptions) *running {
	t.Helper()
	ln := servetest.Listen(t)
	ctx, cancel := context.WithCancel(context.Background())
	r := &running{addr: ln.Addr().String(), stop: cancel, done: make(chan error, 1), closed: ln.Closed}
	scheme := "http"
	if opt.CertFile != "" {
		scheme = "https"
	}
	r.url = scheme + "://" + r.addr
	go func() { r.done <- Serve(ctx, ln, h, opt) }()
	t.Cleanup(func() {
		cancel()
		select {
		case <-r.done:
		case <-time.After(testenv.Patience):
			t.Errorf("server did not stop")
		}
	})
	return r
}

// post sends body with the media type and returns status and answer;
// status 0 when the request failed (an error of the test).
func post(t testing.TB, c *http.Client, url, mediaType string, body []byte) (int, string) {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if mediaType != "" {
		req.Header.Set("Content-Type", mediaType)
	}
	resp, err := c.Do(req)
	if err != nil {
		t.Errorf("POST %s: %v", url, err) // not Fatal: posters run in goroutines
		return 0, ""
	}
	defer resp.Body.Close()
	var buf bytes.Buffer
	buf.ReadFrom(resp.Body)
	return resp.StatusCode, buf.String()
}

// gate is a Recorder that waits before storing, to hold requests in
// flight.
type gate struct {
	arrival.Recorder
	entered chan struct{}
	release chan struct{}
	stored  atomic.Bool // the report released has been stored
}

func (g *gate) AddReportResult(ctx context.Context, r *report.Report, src arrival.Source) (int64, arrival.Added, error) {
	g.entered <- struct{}{}
	<-g.release
	defer g.stored.Store(true)
	return g.Recorder.AddReportResult(ctx, r, src)
}

// AddDMARCResult refuses: DMARC reports do not come through serve.
func (m *memRecorder) AddDMARCResult(context.Context, *dmarc.Report, arrival.Source) (int64, arrival.Added, error) {
	return 0, arrival.New, errors.New("no DMARC reports here")
}

// memRecorder keeps reports in memory, keyed like the store.
type memRecorder struct {
	mu   sync.Mutex
	keys map[string]int64
	srcs []arrival.Source
	fail bool
}

func (m *memRecorder) AddReportResult(ctx context.Context, r *report.Report, src arrival.Source) (int64, arrival.Added, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.fail {
		return 0, arrival.New, errors.New("disk full")
	}
	if m.keys == nil {
		m.keys = map[string]int64{}
	}
	k := r.OrganizationName + "\x00" + r.ReportID
	if id, ok := m.keys[k]; ok {
		return id, arrival.Duplicate, nil
	}
	m.keys[k] = int64(len(m.keys) + 1)
	m.srcs = append(m.srcs, src)
	return m.keys[k], arrival.New, nil
}

package web

import (
	"net/http"
	"net/http/httptest"
	"net/netip"
	"sync"
	"testing"
	"time"

	"github.com/tlsrpt/tlsrpt/internal/clientip"
)

// rateAuth loads a password file of alice:s3cret with the clock *clock.
func rateAuth(t *testing.T, clock *time.Time, mu *sync.Mutex) *Auth {
	t.Helper()
	a := loadAuth(t, alice(t))
	a.tries.now = func() time.Time { mu.Lock(); defer mu.Unlock(); return *clock }
	return a
}

// TestAuthRateLimit guesses passwords: a burst of wrong ones, sent at
// once over real HTTP, gets 401 for the first authBurst and 429 with
// Retry-After for the rest, and then the right password is refused too
// (nothing more is checked) until the next try is due. Another client is
// not held back; an IPv6 client's neighbours in its /64 are.
func TestAuthRateLimit(t *testing.T) {
	var mu sync.Mutex
	clock := now
	a := rateAuth(t, &clock, &mu)
	srv, _ := guarded(t, Options{Auth: a})
	const burst = 3 * authBurst
	codes := make(chan int, burst)
	var wg sync.WaitGroup
	start := make(chan struct{})
	for i := range burst {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			req, _ := http.NewRequest("GET", srv.URL+"/healthz", nil)
			req.SetBasicAuth("alice", "guess"+string(rune('a'+i)))
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Error(err)
				return
			}
			resp.Body.Close()
			codes <- resp.StatusCode
		}()
	}
	close(start)
	wg.Wait()
	close(codes)
	count := map[int]int{}
	for c := range codes {
		count[c]++
	}
	if count[401] != authBurst || count[429] != burst-authBurst {
		t.Fatalf("%d wrong passwords at once: %v, want %d × 401 and the rest 429", burst, count, authBurst)
	}
	right := func(remote string) *httptest.ResponseRecorder {
		req := httptest.NewRequest("GET", "/healthz", nil)
		req.RemoteAddr = remote
		req.SetBasicAuth("alice", "s3cret")
		w := httptest.NewRecorder()
		a.Wrap(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {})).ServeHTTP(w, req)
		return w
	}
	if w := right("127.0.0.1:40000"); w.Code != 429 || w.Header().Get("Retry-After") == "" {
		t.Errorf("the right password right after the burst: %d, Retry-After %q; want 429", w.Code, w.Header().Get("Retry-After"))
	}
	if w := right("192.0.2.7:40000"); w.Code != 200 {
		t.Errorf("another client: %d, want 200", w.Code)
	}
	mu.Lock()
	clock = clock.Add(authEvery)
	mu.Unlock()
	if w := right("127.0.0.1:40001"); w.Code != 200 {
		t.Errorf("the right password when the next try is due: %d, want 200", w.Code)
	}
	// The right password gave its try back: it is not used up by use.
	for i := range 2 * authBurst {
		if w := right("127.0.0.1:40002"); w.Code != 200 {
			t.Fatalf("right password #%d: %d, want 200", i, w.Code)
		}
	}
	// IPv6: one /64 is one client.
	wrong := func(remote string) int {
		req := httptest.NewRequest("GET", "/healthz", nil)
		req.RemoteAddr = remote
		req.SetBasicAuth("alice", "wrong")
		w := httptest.NewRecorder()
		a.Wrap(http.NotFoundHandler()).ServeHTTP(w, req)
		return w.Code
	}
	for i := range authBurst {
		wrong("[2001:db8:1:2::" + hex4(i+1) + "]:1")
	}
	if c := wrong("[2001:db8:1:2:ffff::1]:1"); c != 429 {
		t.Errorf("a neighbour in the same /64: %d, want 429", c)
	}
	if c := wrong("[2001:db8:1:3::1]:1"); c != 401 {
		t.Errorf("another /64: %d, want 401", c)
	}
}

// TestLimiterBounded: many clients (more than maxClients, each with one
// wrong password) keep at most maxClients buckets, plus the shared one.
func TestLimiterBounded(t *testing.T) {
	l := newLimiter(func() time.Time { return now })
	for i := range maxClients + 500 {
		l.take(clientip.At(netip.MustParseAddr("2001:db8:" + hex4(i) + "::1")).Key)
	}
	if n := len(l.buckets); n > maxClients+1 {
		t.Errorf("%d buckets, want at most %d", n, maxClients+1)
	}
}

func hex4(i int) string {
	const digits = "0123456789abcdef"
	return string([]byte{digits[i>>12&15], digits[i>>8&15], digits[i>>4&15], digits[i&15]})
}

// TestAuthBehindProxy attacks the limit behind a TLS proxy, where every
// request's peer is the proxy: client A's wrong passwords, named in the
// trusted proxy's X-Forwarded-For, use up A's tries only, and client B
// with the right password still gets in. A peer outside --trust-proxy
// cannot pass as someone else by writing the header itself.
func TestAuthBehindProxy(t *testing.T) {
	var mu sync.Mutex
	clock := now
	a := rateAuth(t, &clock, &mu)
	a.TrustProxy([]netip.Prefix{netip.MustParsePrefix("10.0.0.1/32")}, clientip.HeaderXForwardedFor)
	h := a.Wrap(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}))
	try := func(peer, xff, pass string) *httptest.ResponseRecorder {
		req := httptest.NewRequest("GET", "/healthz", nil)
		req.RemoteAddr = peer
		if xff != "" {
			req.Header.Set("X-Forwarded-For", xff)
		}
		req.SetBasicAuth("alice", pass)
		w := httptest.NewRecorder()
		h.ServeHTTP(w, req)
		return w
	}
	const proxy = "10.0.0.1:443"
	for i := range authBurst + 2 {
		w := try(proxy, "198.51.100.66", "guess")
		if want := map[bool]int{true: 401, false: 429}[i < authBurst]; w.Code != want {
			t.Errorf("client A's wrong password #%d through the proxy: %d, want %d", i+1, w.Code, want)
		}
	}
	if w := try(proxy, "192.0.2.7", "s3cret"); w.Code != 200 {
		t.Errorf("client B's right password through the proxy after A's %d wrong ones: %d, want 200", authBurst+2, w.Code)
	}
	if w := try(proxy, "192.0.2.8, 198.51.100.66", "s3cret"); w.Code != 429 {
		t.Errorf("A naming another client left of its own address: %d, want 429 (only the proxy's rightmost entry counts)", w.Code)
	}
	// An untrusted peer's header is not read: its wrong passwords are its
	// own, whichever client it names, and naming B does not lock B out.
	for range authBurst + 2 {
		try("203.0.113.9:5000", "192.0.2.7", "guess")
	}
	if w := try("203.0.113.9:5000", "192.0.2.99", "s3cret"); w.Code != 429 {
		t.Errorf("an untrusted peer naming a fresh client in X-Forwarded-For: %d, want 429 (the header is ignored)", w.Code)
	}
	if w := try(proxy, "192.0.2.7", "s3cret"); w.Code != 200 {
		t.Errorf("client B after an untrusted peer named it: %d, want 200", w.Code)
	}
}

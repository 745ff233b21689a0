// Package servetest holds what the tests of the HTTP servers (serve, the
// dashboard, httpserve) share: a loopback listener that says when the
// server closes it, and requests whose whole answer is read.
package servetest

import (
	"io"
	"net"
	"net/http"
	"sync"
	"testing"
)

// Listener is a listener that closes Closed when it is closed: a server
// shutting down closes its listener first, so a test can wait for the
// shutdown to begin instead of sleeping.
type Listener struct {
	net.Listener
	once sync.Once
	// Closed is closed by the first Close.
	Closed chan struct{}
}

// Close closes Closed, once, and the listener.
func (l *Listener) Close() error {
	l.once.Do(func() { close(l.Closed) })
	return l.Listener.Close()
}

// Listen listens on a free port of 127.0.0.1, failing tb when it cannot.
func Listen(tb testing.TB) *Listener {
	tb.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	return &Listener{Listener: ln, Closed: make(chan struct{})}
}

// Do sends req with c and returns the response with its whole body read
// and closed, failing tb when no response comes or its body cannot be
// read whole.
func Do(tb testing.TB, c *http.Client, req *http.Request) (*http.Response, string) {
	tb.Helper()
	resp, err := c.Do(req)
	if err != nil {
		tb.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		tb.Fatalf("%s %s: reading the body: %v", req.Method, req.URL, err)
	}
	return resp, string(b)
}

// Get is Do with a GET of url.
func Get(tb testing.TB, c *http.Client, url string) (*http.Response, string) {
	tb.Helper()
	req, err := http.NewRequest(http.MethodGet, url, nil)
	if err != nil {
		tb.Fatal(err)
	}
	return Do(tb, c, req)
}

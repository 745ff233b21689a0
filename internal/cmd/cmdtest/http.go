package cmdtest

import (
	"net/http"
	"testing"

	"github.com/tlsrpt/tlsrpt/internal/httpserve/servetest"
)

// Get asks url with GET, with the Host header host unless it is empty,
// and returns the status and the body; it fails t when the request or
// the body cannot be had.
func Get(t testing.TB, url, host string) (int, string) {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	if host != "" {
		req.Host = host
	}
	resp, body := servetest.Do(t, http.DefaultClient, req)
	return resp.StatusCode, body
}

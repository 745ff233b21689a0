package serve

import (
	"bytes"
	"context"
	"crypto/tls"
	"net"
	"net/http"
	"net/netip"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/tlsrpt/tlsrpt/internal/cmd/cmdtest"
	"github.com/tlsrpt/tlsrpt/serve"
)

// TestFlags: serve's command line into Options, and the one-line usage
// errors of bad values.
func TestFlags(t *testing.T) {
	cmdtest.Table(t, NewCmdServe, nil, []cmdtest.Case[Options]{
		{Args: []string{"--listen", "127.0.0.1:0", "--metrics-listen", "[::1]:9460", "--log-json"},
			Want: func(o *Options) { o.Listen, o.MetricsListen, o.LogJSON = "127.0.0.1:0", "[::1]:9460", true }},
		{Args: []string{"--tls-cert", "c.pem", "--tls-key", "k.pem"}, Want: func(o *Options) { o.Cert, o.Key = "c.pem", "k.pem" }},
		{Args: []string{"--max-details", "10", "--max-policies", "5", "--max-decompressed", "1000"},
			Want: func(o *Options) {
				o.Handler.Limits.MaxDetails, o.Handler.Limits.MaxPolicies, o.Handler.Limits.MaxDecompressed = 10, 5, 1000
			}},
		{Args: []string{"--trust-proxy", "10.0.0.0/8", "--proxy-header", "Forwarded"},
			Want: func(o *Options) {
				o.TrustProxy, o.ProxyHeader = []string{"10.0.0.0/8"}, "Forwarded"
				o.Handler.TrustProxy, o.Handler.ProxyHeader = []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8")}, serve.HeaderForwarded
			}},
		{Args: []string{"--store-wait", "10s", "--shutdown-timeout", "1min"},
			Want: func(o *Options) { o.Handler.StoreWait, o.Server.ShutdownTimeout = 10*time.Second, time.Minute }},
		{Args: []string{"--tls-cert", "c.pem"}, Refused: []string{"--tls-cert", "--tls-key"}},
		{Args: []string{"--tls-key", "k.pem"}, Refused: []string{"--tls-cert", "--tls-key"}},
		{Args: []string{"--max-details", "0"}, Refused: []string{"--max-details 0 must be above 0"}},
		{Args: []string{"--max-policies", "-1"}, Refused: []string{"--max-policies -1 must be above 0"}},
		{Args: []string{"--max-decompressed", "0"}, Refused: []string{"--max-decompressed 0 must be above 0"}},
		{Args: []string{"--max-details", "many"}, Refused: []string{"--max-details", "tlsrpt serve --help"}},
		{Args: []string{"--store-wait", "10m"}, Refused: []string{"--store-wait"}},
		{Args: []string{"--max-body", "0"}, Refused: []string{"--max-body must be above 0"}},
		{Args: []string{"--trust-proxy", "0.0.0.0/0"}, Refused: []string{"--trust-proxy"}},
		{Args: []string{"8460"}, Refused: []string{"unexpected argument", "tlsrpt serve --help"}},
		{Args: []string{"--port", "8460"}, Refused: []string{"unknown flag: --port", "tlsrpt serve --help"}},
	})
}

// TestRunTLSAndMetrics: options to output. serve listens on the
// listeners it opens (learnt through the listener hook, no waiting),
// takes a report over HTTPS, serves its metrics apart, logs listening,
// and on its context's end shuts both down and returns nil.
func TestRunTLSAndMetrics(t *testing.T) {
	e := cmdtest.New(t)
	cert, key, pool := cmdtest.SelfSigned(t)
	o, err := cmdtest.Parse(e.F, NewCmdServe, "--listen", "127.0.0.1:0", "--metrics-listen", "127.0.0.1:0", "--tls-cert", cert, "--tls-key", key)
	if err != nil {
		t.Fatal(err)
	}
	intake, metricsAt, stop := start(t, o)
	js, err := os.ReadFile("../../../testdata/corpus/05-parsedmarc-google-failures-2024.json")
	if err != nil {
		t.Fatal(err)
	}
	c := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
	resp, err := c.Post("https://"+intake+"/v1/report", serve.MediaTypeJSON, bytes.NewReader(js))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusCreated {
		t.Errorf("POST over HTTPS: %d, want 201", resp.StatusCode)
	}
	b := scrape(t, metricsAt)
	if !strings.Contains(string(b), `tlsrpt_reports_received_total{transport="https"} 1`) {
		t.Errorf("metrics lack the report received:\n%s", b)
	}
	stop()
	log := e.Err.String()
	for _, want := range []string{"msg=listening addr=" + intake + " tls=true", "metrics=" + metricsAt, "msg=\"shut down\""} {
		if !strings.Contains(log, want) {
			t.Errorf("log lacks %q:\n%s", want, log)
		}
	}
}

// TestRunBadPairNeverListens: a certificate that does not load is refused
// naming both files before anything listens.
func TestRunBadPairNeverListens(t *testing.T) {
	e := cmdtest.New(t)
	cert, key, _ := cmdtest.SelfSigned(t)
	o, err := cmdtest.Parse(e.F, NewCmdServe, "--listen", "127.0.0.1:0", "--tls-cert", key, "--tls-key", cert)
	if err != nil {
		t.Fatal(err)
	}
	o.listener = func(string, string) (net.Listener, error) {
		t.Error("listening with a pair that does not load")
		return nil, net.ErrClosed
	}
	if err := Run(context.Background(), o); err == nil || !strings.Contains(err.Error(), "--tls-cert "+key) || !strings.Contains(err.Error(), "--tls-key "+cert) {
		t.Errorf("a swapped pair: %v", err)
	}
}

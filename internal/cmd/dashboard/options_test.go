package dashboard

import (
	"crypto/tls"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/tlsrpt/tlsrpt/internal/cmd/cmdtest"
)

// TestFlags: dashboard's command line into Options, and the refusals the
// command line alone decides.
func TestFlags(t *testing.T) {
	cmdtest.Table(t, NewCmdDashboard, nil, []cmdtest.Case[Options]{
		{Args: []string{"--listen", "[::1]:0", "--days", "30", "--quiet-after", "5d", "--no-bans", "--host", "mx1"},
			Want: func(o *Options) {
				o.Listen, o.Days, o.QuietAfter, o.NoBans, o.Host = "[::1]:0", 30, 5*24*time.Hour, true, "mx1"
			}},
		{Args: []string{"--listen", ":8461", "--auth", "htpasswd", "--tls-cert", "c.pem", "--tls-key", "k.pem", "--allow-host", "dash.example.com"},
			Want: func(o *Options) {
				o.Listen, o.Auth, o.Cert, o.Key, o.AllowHosts = ":8461", "htpasswd", "c.pem", "k.pem", []string{"dash.example.com"}
			}},
		{Args: []string{"--behind-tls-proxy", "--trust-proxy", "127.0.0.1", "--proxy-header", "Forwarded"},
			Want: func(o *Options) {
				o.BehindTLSProxy, o.TrustProxy, o.ProxyHeader = true, []string{"127.0.0.1"}, "Forwarded"
			}},
		{Args: []string{"--listen", "0.0.0.0:8461"}, Refused: []string{"--auth"}},
		{Args: []string{"--tls-cert", "c.pem"}, Refused: []string{"give both --tls-cert and --tls-key, or neither"}},
		{Args: []string{"--days", "ninety"}, Refused: []string{"--days", "tlsrpt dashboard --help"}},
		{Args: []string{"8461"}, Refused: []string{`unexpected argument "8461"`}},
	})
}

// TestRunTLS: options to output through the shared server cycle: with
// --tls-cert and --tls-key the dashboard answers over HTTPS at the
// address Ready gives, and a swapped pair is refused naming both files
// before it listens.
func TestRunTLS(t *testing.T) {
	e := cmdtest.New(t)
	e.Seed(t)
	cert, key, pool := cmdtest.SelfSigned(t)
	addr := start(t, parse(t, e.DB, "--listen", "127.0.0.1:0", "--tls-cert", cert, "--tls-key", key))
	c := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
	resp, err := c.Get("https://" + addr + "/healthz")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || resp.TLS == nil {
		t.Errorf("GET /healthz over HTTPS: %d, TLS %v", resp.StatusCode, resp.TLS != nil)
	}
	o := parse(t, e.DB, "--listen", "127.0.0.1:0", "--tls-cert", key, "--tls-key", cert)
	o.Ready = func(string) { t.Error("listening with a pair that does not load") }
	if err := Run(t.Context(), o); err == nil || !strings.HasPrefix(err.Error(), "--tls-cert "+key) {
		t.Errorf("a swapped pair: %v", err)
	}
}

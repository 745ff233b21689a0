package serve

import (
	"context"
	"net"
	"testing"

	"github.com/tlsrpt/tlsrpt/internal/cmd/cmdtest"
)

// start runs o in the background on listeners of the addresses it
// names, and returns the intake and metrics addresses they got (o must
// listen for metrics), and stop, which ends the run and fails t unless
// Run then returns nil.
func start(t *testing.T, o *Options) (intake, metrics string, stop func()) {
	t.Helper()
	addrs := make(chan string, 2)
	o.listener = func(network, addr string) (net.Listener, error) {
		ln, err := net.Listen(network, addr)
		if err == nil {
			addrs <- ln.Addr().String()
		}
		return ln, err
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- Run(ctx, o) }()
	intake, metrics = <-addrs, <-addrs
	return intake, metrics, func() {
		t.Helper()
		cancel()
		if err := <-done; err != nil {
			t.Fatalf("Run after its context ended: %v", err)
		}
	}
}

// scrape returns the page of the metrics listener at addr.
func scrape(t *testing.T, addr string) []byte {
	t.Helper()
	_, body := cmdtest.Get(t, "http://"+addr+"/metrics", "")
	return []byte(body)
}

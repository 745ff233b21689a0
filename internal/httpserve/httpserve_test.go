package httpserve

import (
	"context"
	"crypto/tls"
	"io"
	"net"
	"net/http"
	"os"
	"strings"
	"syscall"
	"testing"

	"github.com/tlsrpt/tlsrpt/internal/cmd/cmdtest"
	"github.com/tlsrpt/tlsrpt/internal/httpserve/servetest"
)

// TestRunTLS: with a certificate and its key, Run speaks HTTPS, tells
// ready the address bound, and returns nil when its context ends.
func TestRunTLS(t *testing.T) {
	cert, key, pool := cmdtest.SelfSigned(t)
	ln := servetest.Listen(t)
	ctx, cancel := context.WithCancel(context.Background())
	addr := make(chan string, 1)
	done := make(chan error, 1)
	go func() {
		done <- Run(ctx, ln, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "tls") }),
			Options{CertFile: cert, KeyFile: key}, func(a net.Addr) { addr <- a.String() })
	}()
	c := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
	resp, b := servetest.Get(t, c, "https://"+<-addr+"/")
	if b != "tls" || resp.TLS == nil {
		t.Errorf("answer %q, TLS %v", b, resp.TLS != nil)
	}
	cancel()
	if err := <-done; err != nil {
		t.Errorf("Run after its context ended: %v, want nil", err)
	}
}

// TestRunSignalFinishesInFlight: SIGTERM stops the server gracefully: it
// stops listening, and the request in flight still gets its whole answer
// before Run returns nil. Without the signal context, the signal would
// kill the test binary.
func TestRunSignalFinishesInFlight(t *testing.T) {
	ln := servetest.Listen(t)
	entered, release := make(chan struct{}), make(chan struct{})
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		close(entered)
		<-release
		io.WriteString(w, "finished")
	})
	addr := make(chan string, 1)
	done := make(chan error, 1)
	go func() { done <- Run(context.Background(), ln, h, Options{}, func(a net.Addr) { addr <- a.String() }) }()
	url := "http://" + <-addr + "/"
	answer := make(chan string, 1)
	go func() {
		resp, err := http.Get(url)
		if err != nil {
			answer <- err.Error()
			return
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		answer <- string(b)
	}()
	<-entered
	if err := syscall.Kill(os.Getpid(), syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	<-ln.Closed // shutting down: no new connection is taken
	close(release)
	if got := <-answer; got != "finished" {
		t.Errorf("the request in flight got %q, want its whole answer", got)
	}
	if err := <-done; err != nil {
		t.Errorf("Run after SIGTERM: %v, want nil", err)
	}
	if _, err := http.Get(url); err == nil {
		t.Error("still answering after shutdown")
	}
}

// TestServeHalfPair: a certificate without its key is refused, and the
// listener closed.
func TestServeHalfPair(t *testing.T) {
	cert, _, _ := cmdtest.SelfSigned(t)
	ln := servetest.Listen(t)
	err := Serve(context.Background(), ln, http.NotFoundHandler(), Options{CertFile: cert})
	if err == nil || !strings.Contains(err.Error(), "needs its key") {
		t.Errorf("a certificate without its key: %v", err)
	}
	select {
	case <-ln.Closed:
	default:
		t.Error("the listener was left open")
	}
}

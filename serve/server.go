package serve

import (
	"context"
	"net"
	"net/http"

	"github.com/tlsrpt/tlsrpt/internal/httpserve"
)

// Default time-outs for the zero values of ServerOptions.
const (
	DefaultReadHeaderTimeout = httpserve.DefaultReadHeaderTimeout
	DefaultReadTimeout       = httpserve.DefaultReadTimeout
	DefaultWriteTimeout      = httpserve.DefaultWriteTimeout
	DefaultIdleTimeout       = httpserve.DefaultIdleTimeout
	DefaultShutdownTimeout   = httpserve.DefaultShutdownTimeout
)

// ServerOptions configure Serve: TLS files, time-outs, the bound of the
// request headers and the logger of the server's own errors. The zero
// value serves plain HTTP with the default time-outs. It is the one
// server cycle tlsrpt's servers share (the dashboard's too).
type ServerOptions = httpserve.Options

// NewServer returns an http.Server for h with the time-outs of opt; Serve
// uses it.
func NewServer(h http.Handler, opt ServerOptions) *http.Server {
	return httpserve.NewServer(h, opt)
}

// Serve answers requests on ln with h until ctx is done, then shuts down
// gracefully: it stops accepting, lets the requests in flight finish
// within opt.ShutdownTimeout, and returns. It returns nil after a clean
// shutdown, and an error when serving fails or requests were still
// running at the shutdown deadline. Serve closes ln.
func Serve(ctx context.Context, ln net.Listener, h http.Handler, opt ServerOptions) error {
	return httpserve.Serve(ctx, ln, h, opt)
}

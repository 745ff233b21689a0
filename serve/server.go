package serve

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"time"

	"github.com/tlsrpt/tlsrpt/internal/pkgerr"
)

// Default time-outs for the zero values of ServerOptions.
const (
	DefaultReadHeaderTimeout = 10 * time.Second
	DefaultReadTimeout       = 30 * time.Second
	DefaultWriteTimeout      = 60 * time.Second
	DefaultIdleTimeout       = 120 * time.Second
	DefaultShutdownTimeout   = 30 * time.Second
)

// ServerOptions configure Serve. The zero value serves plain HTTP with the
// default time-outs.
type ServerOptions struct {
	// CertFile and KeyFile, when both set, make Serve speak HTTPS with
	// this PEM certificate chain and key.
	CertFile, KeyFile string

	// ReadHeaderTimeout bounds the time to read the request headers,
	// ReadTimeout the whole request with its body: a client sending one
	// byte a second is cut off when it runs out. WriteTimeout bounds the
	// time from the end of the headers to the end of the answer, so it
	// should exceed ReadTimeout. IdleTimeout bounds a kept-alive
	// connection waiting for its next request.
	ReadHeaderTimeout, ReadTimeout, WriteTimeout, IdleTimeout time.Duration

	// ShutdownTimeout is how long requests in flight may take to finish
	// once the context is done; later, their connections are closed.
	ShutdownTimeout time.Duration

	// MaxHeaderBytes bounds the request headers; 0 means 64 KiB.
	MaxHeaderBytes int

	// Logger gets the server's own errors (TLS handshakes, bad requests
	// refused before the handler); nil logs nothing.
	Logger *slog.Logger
}

func (o ServerOptions) withDefaults() ServerOptions {
	def := func(d *time.Duration, v time.Duration) {
		if *d <= 0 {
			*d = v
		}
	}
	def(&o.ReadHeaderTimeout, DefaultReadHeaderTimeout)
	def(&o.ReadTimeout, DefaultReadTimeout)
	def(&o.WriteTimeout, DefaultWriteTimeout)
	def(&o.IdleTimeout, DefaultIdleTimeout)
	def(&o.ShutdownTimeout, DefaultShutdownTimeout)
	if o.MaxHeaderBytes <= 0 {
		o.MaxHeaderBytes = 64 << 10
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	return o
}

// NewServer returns an http.Server for h with the time-outs of opt; Serve
// uses it.
func NewServer(h http.Handler, opt ServerOptions) *http.Server {
	opt = opt.withDefaults()
	return &http.Server{
		Handler:           h,
		ReadHeaderTimeout: opt.ReadHeaderTimeout,
		ReadTimeout:       opt.ReadTimeout,
		WriteTimeout:      opt.WriteTimeout,
		IdleTimeout:       opt.IdleTimeout,
		MaxHeaderBytes:    opt.MaxHeaderBytes,
		ErrorLog:          slog.NewLogLogger(opt.Logger.Handler(), slog.LevelWarn),
	}
}

// Serve answers requests on ln with h until ctx is done, then shuts down
// gracefully: it stops accepting, lets the requests in flight finish
// within opt.ShutdownTimeout, and returns. It returns nil after a clean
// shutdown, and an error when serving fails or requests were still
// running at the shutdown deadline. Serve closes ln.
func Serve(ctx context.Context, ln net.Listener, h http.Handler, opt ServerOptions) error {
	opt = opt.withDefaults()
	srv := NewServer(h, opt)
	if (opt.CertFile == "") != (opt.KeyFile == "") {
		ln.Close()
		return pkgerr.New("serve", "a TLS certificate needs its key and a key its certificate")
	}
	done := make(chan error, 1)
	go func() {
		if opt.CertFile != "" {
			done <- srv.ServeTLS(ln, opt.CertFile, opt.KeyFile)
		} else {
			done <- srv.Serve(ln)
		}
	}()
	select {
	case err := <-done:
		return fmt.Errorf("serving on %s: %w", ln.Addr(), err)
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.Background(), opt.ShutdownTimeout)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil {
		srv.Close()
		return fmt.Errorf("shutting down %s: %w", ln.Addr(), err)
	}
	if err := <-done; err != nil && !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("serving on %s: %w", ln.Addr(), err)
	}
	return nil
}

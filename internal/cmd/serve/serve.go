// Package serve is the tlsrpt serve command: the HTTPS transport of RFC
// 8460 (rua=https://...).
package serve

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"

	"github.com/spf13/cobra"

	"github.com/tlsrpt/tlsrpt/internal/cmd/cmdutil"
	"github.com/tlsrpt/tlsrpt/internal/httpserve"
	"github.com/tlsrpt/tlsrpt/metrics"
	"github.com/tlsrpt/tlsrpt/serve"
)

// Options are serve's options.
type Options struct {
	F      *cmdutil.Factory
	Listen string
	cmdutil.TLSOptions
	LogJSON bool
	// TrustProxy and ProxyHeader are the flags check parses into Handler.
	TrustProxy    []string
	ProxyHeader   string
	MetricsListen string
	Handler       serve.Options
	Server        serve.ServerOptions
	// listener opens the listeners (net.Listen); tests wrap it to learn
	// the addresses bound.
	listener func(network, addr string) (net.Listener, error)
}

// NewCmdServe returns the serve command; runF, when not nil, replaces the
// work.
func NewCmdServe(f *cmdutil.Factory, runF func(*Options) error) *cobra.Command {
	opts := &Options{F: f, listener: net.Listen}
	cmd := &cobra.Command{
		Use:   "serve",
		Short: "Receive reports over HTTPS (RFC 8460 rua=https://...)",
		Long: `Receives reports POSTed as RFC 8460 section 5.4 describes (application/tlsrpt+json
or application/tlsrpt+gzip) and stores them as the filter does: 201 when stored,
200 for a report already stored, 4xx with a one-line reason for bad input, 503
with Retry-After when busy or when the database is away. /healthz answers ok.
Behind a reverse proxy, --trust-proxy names it, so that its X-Forwarded-For
says who the client is. /metrics (Prometheus' text format) is served only on
--metrics-listen, a listener of its own. Impossible combinations of limits
are refused at start. SIGTERM or SIGINT finish the requests in flight, then
exit 0. See docs/serve-import.md.`,
		Example: `  tlsrpt serve --listen 127.0.0.1:8460 --trust-proxy 127.0.0.1 --trust-proxy ::1   # behind a TLS reverse proxy
  tlsrpt serve --listen :443 --tls-cert fullchain.pem --tls-key privkey.pem --metrics-listen 127.0.0.1:9460`,
		Args: cmdutil.NoArgs,
		RunE: cmdutil.RunE(opts, func(cmd *cobra.Command, args []string) error {
			if err := opts.TLSOptions.Check(); err != nil {
				return err
			}
			if err := check(opts); err != nil {
				return err
			}
			return nil
		}, runF, Run),
	}
	fl := cmd.Flags()
	fl.StringVar(&opts.Listen, "listen", "127.0.0.1:8460", "`address` to listen on, host:port")
	opts.TLSOptions.AddFlags(fl)
	fl.BoolVar(&opts.LogJSON, "log-json", false, "log JSON lines instead of key=value text")
	fl.StringArrayVar(&opts.TrustProxy, "trust-proxy", nil, "a reverse proxy's `address or CIDR` range: from it, the client is the rightmost untrusted address of --proxy-header (repeatable)")
	fl.StringVar(&opts.ProxyHeader, "proxy-header", serve.HeaderXForwardedFor, "`header` a trusted proxy names the client in: X-Forwarded-For or Forwarded (RFC 7239); the other is ignored")
	fl.StringVar(&opts.MetricsListen, "metrics-listen", "", "serve /metrics on this `address`, host:port, apart from the reports (default: no metrics)")
	fl.Int64Var(&opts.Handler.MaxBody, "max-body", serve.DefaultMaxBody, "largest request body in `bytes`, as sent")
	cmdutil.LimitFlags(fl, &opts.Handler.Limits)
	fl.IntVar(&opts.Handler.MaxConcurrent, "max-concurrent", serve.DefaultMaxConcurrent, "report bodies decoded and stored at once, once received (store slots)")
	fl.IntVar(&opts.Handler.MaxReading, "max-reading", serve.DefaultMaxReading, "report bodies being received at once (read slots); more get 503 with Retry-After")
	fl.IntVar(&opts.Handler.MaxPerClient, "max-per-client", serve.DefaultMaxPerClient, "report POSTs of one client (an address, an IPv6 /64) at once; more wait up to --store-wait, then get 503")
	cmdutil.DurationVar(fl, &opts.Handler.StoreWait, "store-wait", serve.DefaultStoreWait, "how long a report waits for its client's slot, and once received for a store slot, before 503")
	fl.Int64Var(&opts.Handler.MaxInFlightBytes, "max-in-flight", serve.DefaultMaxInFlightBytes, "`bytes` of request bodies and decoding held at once across all requests")
	cmdutil.DurationVar(fl, &opts.Server.ReadHeaderTimeout, "read-header-timeout", serve.DefaultReadHeaderTimeout, "time to read the request headers")
	cmdutil.DurationVar(fl, &opts.Server.ReadTimeout, "read-timeout", serve.DefaultReadTimeout, "time to read a whole request with its body")
	cmdutil.DurationVar(fl, &opts.Server.WriteTimeout, "write-timeout", serve.DefaultWriteTimeout, "time from the end of the headers to the end of the answer")
	cmdutil.DurationVar(fl, &opts.Server.IdleTimeout, "idle-timeout", serve.DefaultIdleTimeout, "time a kept-alive connection may wait for its next request")
	cmdutil.DurationVar(fl, &opts.Server.ShutdownTimeout, "shutdown-timeout", serve.DefaultShutdownTimeout, "time requests in flight get to finish on SIGTERM or SIGINT")
	return cmd
}

// Run serves until ctx is done or SIGTERM or SIGINT arrives.
func Run(ctx context.Context, o *Options) error {
	logger := o.logger()
	st, err := o.F.OpenStore()
	if err != nil {
		return err
	}
	defer st.Close()
	// Load the pair before listening, so that "listening" is never
	// logged by a server that cannot serve.
	if err := o.TLSOptions.Load(); err != nil {
		return err
	}
	ln, err := o.listener("tcp", o.Listen)
	if err != nil {
		return err
	}
	var mln net.Listener
	if o.MetricsListen != "" {
		if mln, err = o.listener("tcp", o.MetricsListen); err != nil {
			ln.Close()
			return fmt.Errorf("--metrics-listen: %w", err)
		}
	}
	o.Handler.Logger, o.Handler.Stats = logger, st.Stats
	host, _ := os.Hostname()
	o.Handler.Collectors = append(o.Handler.Collectors, metrics.NewCache(metrics.NewCollector(st, host), metrics.DefaultCacheTTL))
	o.Server.Logger, o.Server.CertFile, o.Server.KeyFile = logger, o.Cert, o.Key
	h := serve.NewHandler(st, o.Handler)
	mctx, stopMetrics := context.WithCancel(ctx)
	defer stopMetrics()
	metricsDone := serveMetrics(mctx, mln, h, logger)
	err = httpserve.Run(ctx, ln, h, o.Server, func(addr net.Addr) {
		logger.Info("listening", "addr", addr.String(), "tls", o.Cert != "", "db", st.File(),
			"trust_proxy", fmt.Sprint(o.Handler.TrustProxy), "metrics", metricsAddr(mln))
	})
	stopMetrics() // the intake is done: so is the metrics listener
	if merr := <-metricsDone; err == nil {
		err = merr
	}
	if err != nil && !errors.Is(err, context.Canceled) {
		return err
	}
	logger.Info("shut down")
	return nil
}

// logger is the log of requests: JSON lines with --log-json, else syslog
// with --syslog, else key=value text on standard error.
func (o *Options) logger() *slog.Logger {
	switch {
	case o.LogJSON:
		return slog.New(cmdutil.RedactHandler(slog.NewJSONHandler(o.F.IO.ErrOut, nil)))
	case o.F.Syslog != "":
		return o.F.Logger()
	}
	return slog.New(cmdutil.RedactHandler(slog.NewTextHandler(o.F.IO.ErrOut, nil)))
}

// serveMetrics serves h's metrics on ln, plain HTTP with the default
// time-outs, until ctx ends; nil ln serves nothing.
func serveMetrics(ctx context.Context, ln net.Listener, h *serve.Handler, logger *slog.Logger) <-chan error {
	done := make(chan error, 1)
	if ln == nil {
		done <- nil
		return done
	}
	go func() { done <- httpserve.Serve(ctx, ln, h.MetricsHandler(), httpserve.Options{Logger: logger}) }()
	return done
}

func metricsAddr(ln net.Listener) string {
	if ln == nil {
		return "off"
	}
	return ln.Addr().String()
}

// Package serve is the tlsrpt serve command: the HTTPS transport of RFC
// 8460 (rua=https://...).
package serve

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"os/signal"
	"syscall"

	"github.com/spf13/cobra"

	"github.com/tlsrpt/tlsrpt/internal/cmd/cmdutil"
	"github.com/tlsrpt/tlsrpt/metrics"
	"github.com/tlsrpt/tlsrpt/report"
	"github.com/tlsrpt/tlsrpt/serve"
)

// Options are serve's options.
type Options struct {
	F        *cmdutil.Factory
	Listen   string
	Cert     string
	Key      string
	LogJSON  bool
	Handler  serve.Options
	Server   serve.ServerOptions
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
with Retry-After when busy or when the database is away. /healthz answers ok;
/metrics is Prometheus' text format. SIGTERM or SIGINT finish the requests in
flight, then exit 0. See docs/serve-import.md.`,
		Example: `  tlsrpt serve --listen 127.0.0.1:8460          # behind a TLS reverse proxy
  tlsrpt serve --listen :443 --tls-cert fullchain.pem --tls-key privkey.pem`,
		Args: cmdutil.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if (opts.Cert == "") != (opts.Key == "") {
				return cmdutil.UsageErrorf("give both --tls-cert and --tls-key, or neither")
			}
			if runF != nil {
				return runF(opts)
			}
			return Run(cmd.Context(), opts)
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&opts.Listen, "listen", "127.0.0.1:8460", "`address` to listen on, host:port")
	fl.StringVar(&opts.Cert, "tls-cert", "", "serve HTTPS with this PEM certificate chain `file` (needs --tls-key)")
	fl.StringVar(&opts.Key, "tls-key", "", "PEM private key `file` of --tls-cert")
	fl.BoolVar(&opts.LogJSON, "log-json", false, "log JSON lines instead of key=value text")
	fl.Int64Var(&opts.Handler.MaxBody, "max-body", serve.DefaultMaxBody, "largest request body in `bytes`, as sent")
	fl.Int64Var(&opts.Handler.Limits.MaxDecompressed, "max-decompressed", report.DefaultLimits.MaxDecompressed, "largest decompressed report in `bytes`")
	fl.IntVar(&opts.Handler.Limits.MaxDetails, "max-details", report.DefaultLimits.MaxDetails, "most failure details in one POST; a report past it gets 413")
	fl.IntVar(&opts.Handler.Limits.MaxPolicies, "max-policies", report.DefaultLimits.MaxPolicies, "most policies in one POST; a report past it gets 413")
	fl.IntVar(&opts.Handler.MaxConcurrent, "max-concurrent", serve.DefaultMaxConcurrent, "report bodies decoded and stored at once, once received (store slots)")
	fl.IntVar(&opts.Handler.MaxReading, "max-reading", serve.DefaultMaxReading, "report bodies being received at once (read slots); more get 503 with Retry-After")
	fl.IntVar(&opts.Handler.MaxPerClient, "max-per-client", serve.DefaultMaxPerClient, "report POSTs of one client address at once; more get 503")
	cmdutil.DurationVar(fl, &opts.Handler.StoreWait, "store-wait", serve.DefaultStoreWait, "how long a received report waits for a store slot before 503")
	fl.Int64Var(&opts.Handler.MaxInFlightBytes, "max-in-flight", serve.DefaultMaxInFlightBytes, "`bytes` of request bodies and decoding held at once across all requests")
	cmdutil.DurationVar(fl, &opts.Server.ReadHeaderTimeout, "read-header-timeout", serve.DefaultReadHeaderTimeout, "time to read the request headers")
	cmdutil.DurationVar(fl, &opts.Server.ReadTimeout, "read-timeout", serve.DefaultReadTimeout, "time to read a whole request with its body")
	cmdutil.DurationVar(fl, &opts.Server.WriteTimeout, "write-timeout", serve.DefaultWriteTimeout, "time from the end of the headers to the end of the answer")
	cmdutil.DurationVar(fl, &opts.Server.IdleTimeout, "idle-timeout", serve.DefaultIdleTimeout, "time a kept-alive connection may wait for its next request")
	cmdutil.DurationVar(fl, &opts.Server.ShutdownTimeout, "shutdown-timeout", serve.DefaultShutdownTimeout, "time requests in flight get to finish on SIGTERM or SIGINT")
	return cmd
}

// Run serves until SIGTERM or SIGINT.
func Run(ctx context.Context, o *Options) error {
	if ctx == nil {
		ctx = context.Background()
	}
	var logger *slog.Logger
	if o.LogJSON {
		logger = slog.New(cmdutil.RedactHandler(slog.NewJSONHandler(o.F.IO.ErrOut, nil)))
	} else if o.F.Syslog != "" {
		logger = o.F.Logger()
	} else {
		logger = slog.New(cmdutil.RedactHandler(slog.NewTextHandler(o.F.IO.ErrOut, nil)))
	}
	st, err := o.F.OpenStore()
	if err != nil {
		return err
	}
	defer st.Close()
	if o.Cert != "" {
		// Load it before listening, so that "listening" is never logged
		// by a server that cannot serve.
		if _, err := tls.LoadX509KeyPair(o.Cert, o.Key); err != nil {
			return fmt.Errorf("--tls-cert %s, --tls-key %s: %w", o.Cert, o.Key, err)
		}
	}
	ln, err := o.listener("tcp", o.Listen)
	if err != nil {
		return err
	}
	ctx, stop := signal.NotifyContext(ctx, syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	o.Handler.Logger, o.Handler.Stats = logger, st.Stats
	host, _ := os.Hostname()
	o.Handler.Collectors = append(o.Handler.Collectors, metrics.NewCollector(st, host))
	o.Server.Logger, o.Server.CertFile, o.Server.KeyFile = logger, o.Cert, o.Key
	logger.Info("listening", "addr", ln.Addr().String(), "tls", o.Cert != "", "db", st.File())
	if err := serve.Serve(ctx, ln, serve.NewHandler(st, o.Handler), o.Server); err != nil && !errors.Is(err, context.Canceled) {
		return err
	}
	logger.Info("shut down")
	return nil
}

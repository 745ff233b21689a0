package main

import (
	"context"
	"flag"
	"log/slog"
	"net"
	"os/signal"
	"syscall"

	"github.com/tlsrpt/tlsrpt/report"
	"github.com/tlsrpt/tlsrpt/serve"
)

func init() {
	register("serve", "receive reports over HTTPS (RFC 8460 rua=https://...)", runServe)
}

// serveFlags are the flags of tlsrpt serve.
type serveFlags struct {
	listen, db, cert, key string
	logJSON               bool
	handler               serve.Options
	server                serve.ServerOptions
}

func (f *serveFlags) register(fs *flag.FlagSet) {
	fs.StringVar(&f.listen, "listen", "127.0.0.1:8460", "`address` to listen on, host:port")
	fs.StringVar(&f.db, "db", "", "SQLite database `path` (default $TLSRPT_DB, else $XDG_STATE_HOME/tlsrpt/tlsrpt.db)")
	fs.StringVar(&f.cert, "tls-cert", "", "serve HTTPS with this PEM certificate chain `file` (needs --tls-key)")
	fs.StringVar(&f.key, "tls-key", "", "PEM private key `file` of --tls-cert")
	fs.BoolVar(&f.logJSON, "log-json", false, "log JSON lines instead of key=value text")
	fs.Int64Var(&f.handler.MaxBody, "max-body", serve.DefaultMaxBody, "largest request body in `bytes`, as sent")
	fs.Int64Var(&f.handler.Limits.MaxDecompressed, "max-decompressed", report.DefaultLimits.MaxDecompressed, "largest decompressed report in `bytes`")
	fs.IntVar(&f.handler.MaxConcurrent, "max-concurrent", serve.DefaultMaxConcurrent, "report POSTs handled at once; more get 503 with Retry-After")
	fs.DurationVar(&f.server.ReadHeaderTimeout, "read-header-timeout", serve.DefaultReadHeaderTimeout, "time to read the request headers")
	fs.DurationVar(&f.server.ReadTimeout, "read-timeout", serve.DefaultReadTimeout, "time to read a whole request with its body")
	fs.DurationVar(&f.server.WriteTimeout, "write-timeout", serve.DefaultWriteTimeout, "time from the end of the headers to the end of the answer")
	fs.DurationVar(&f.server.IdleTimeout, "idle-timeout", serve.DefaultIdleTimeout, "time a kept-alive connection may wait for its next request")
	fs.DurationVar(&f.server.ShutdownTimeout, "shutdown-timeout", serve.DefaultShutdownTimeout, "time requests in flight get to finish on SIGTERM or SIGINT")
}

// runServe serves until SIGTERM or SIGINT, then finishes the requests in
// flight and exits 0; it exits 1 when it cannot start or serve, 2 on bad
// flags.
func runServe(args []string, std stdio) int {
	var f serveFlags
	fs := flag.NewFlagSet("tlsrpt serve", flag.ContinueOnError)
	fs.SetOutput(std.err)
	f.register(fs)
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if fs.NArg() > 0 || (f.cert == "") != (f.key == "") {
		errorf(std.err, "serve: want --listen ADDR and both or neither of --tls-cert and --tls-key")
		return 2
	}
	var logger *slog.Logger
	if f.logJSON {
		logger = slog.New(slog.NewJSONHandler(std.err, nil))
	} else {
		logger = slog.New(slog.NewTextHandler(std.err, nil))
	}
	st, err := openStore(f.db)
	if err != nil {
		errorf(std.err, "serve: %v", err)
		return 1
	}
	defer st.Close()
	ln, err := net.Listen("tcp", f.listen)
	if err != nil {
		errorf(std.err, "serve: %v", err)
		return 1
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	f.handler.Logger, f.handler.Stats = logger, st.Stats
	f.server.Logger, f.server.CertFile, f.server.KeyFile = logger, f.cert, f.key
	logger.Info("listening", "addr", ln.Addr().String(), "tls", f.cert != "", "db", st.File())
	if err := serve.Serve(ctx, ln, serve.NewHandler(st, f.handler), f.server); err != nil {
		errorf(std.err, "serve: %v", err)
		return 1
	}
	logger.Info("shut down")
	return 0
}

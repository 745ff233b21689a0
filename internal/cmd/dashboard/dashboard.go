// Package dashboard is the tlsrpt dashboard command: the read-only web
// page for people.
package dashboard

import (
	"context"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"time"

	"github.com/spf13/cobra"

	"github.com/tlsrpt/tlsrpt/allowlist"
	"github.com/tlsrpt/tlsrpt/assess"
	"github.com/tlsrpt/tlsrpt/internal/clientip"
	"github.com/tlsrpt/tlsrpt/internal/cmd/cmdutil"
	"github.com/tlsrpt/tlsrpt/internal/httpserve"
	"github.com/tlsrpt/tlsrpt/internal/promtext"
	"github.com/tlsrpt/tlsrpt/metrics"
	"github.com/tlsrpt/tlsrpt/redeem"
	"github.com/tlsrpt/tlsrpt/store"
	"github.com/tlsrpt/tlsrpt/web"
)

// Options are dashboard's options.
type Options struct {
	F      *cmdutil.Factory
	Listen string
	Auth   string
	cmdutil.TLSOptions
	Days       int
	QuietAfter time.Duration
	NoBans     bool
	Host       string
	AllowHosts []string
	// BehindTLSProxy says a TLS reverse proxy is in front: --auth off
	// loopback without --tls-cert is then allowed.
	BehindTLSProxy bool
	// TrustProxy and ProxyHeader name the reverse proxies whose header
	// names the client the password limit counts (serve's flags).
	TrustProxy  []string
	ProxyHeader string
	// Ready, when set, is called with the address once listening (tests).
	Ready func(addr string)
}

// NewCmdDashboard returns the dashboard command; runF, when not nil,
// replaces the work.
func NewCmdDashboard(f *cmdutil.Factory, runF func(*Options) error) *cobra.Command {
	opts := &Options{F: f}
	cmd := &cobra.Command{
		Use:   "dashboard",
		Short: "Serve a read-only web page of sessions, failures, reporters and failing addresses",
		Long: `Serves the dashboard: sessions and failure rates per policy domain over time,
result types over time, reporters with the ones gone quiet highlighted, failing
addresses with trust, ban status on this host and the redeem command to copy, and
failures per receiving MX; JSON under /api/v1/ (review, stats, reporters) in the
shapes of the command line's --json; Prometheus metrics at /metrics. Everything is
embedded: it loads nothing from outside. It changes nothing.

It listens on loopback addresses only, unless --auth names an htpasswd file of
bcrypt hashes (htpasswd -B -c FILE USER); then give it TLS too (--tls-cert), or
say that a TLS reverse proxy is in front (--behind-tls-proxy). Wrong passwords
are limited per client; behind a proxy, name it with --trust-proxy so the limit
counts the client the proxy names, not the proxy (one client's guesses would
otherwise lock everyone out).

It answers only requests that name it by localhost, a loopback address, its
--listen host or an --allow-host name (so a page of another site whose name
re-resolves to 127.0.0.1 reads nothing), and refuses requests sent by pages of
other sites. Ban status is asked of the backends at most every 30 seconds.`,
		Example: `  tlsrpt dashboard                                   # http://127.0.0.1:8461/
  ssh -L 8461:127.0.0.1:8461 mx1                     # and browse from your desk
  tlsrpt dashboard --listen :8461 --auth /etc/tlsrpt/htpasswd --tls-cert cert.pem --tls-key key.pem --allow-host mx1.example.com
  tlsrpt dashboard --listen 127.0.0.1:8461 --auth /etc/tlsrpt/htpasswd --allow-host dash.example.com --trust-proxy 127.0.0.1  # behind nginx`,
		Args: cmdutil.NoArgs,
		RunE: cmdutil.RunE(opts, func(cmd *cobra.Command, args []string) error {
			if err := web.CheckListen(opts.Listen, opts.Auth != ""); err != nil {
				return cmdutil.Explain(err) // a usage error, with the fix
			}
			if err := opts.TLSOptions.Check(); err != nil {
				return err
			}
			return nil
		}, runF, Run),
	}
	fl := cmd.Flags()
	fl.StringVar(&opts.Listen, "listen", "127.0.0.1:8461", "`address` to listen on, host:port (loopback unless --auth)")
	fl.StringVar(&opts.Auth, "auth", "", "htpasswd `file` of bcrypt hashes: ask for a user and password (needed off loopback)")
	opts.TLSOptions.AddFlags(fl)
	fl.IntVar(&opts.Days, "days", 90, "span of the charts in days")
	cmdutil.DurationVar(fl, &opts.QuietAfter, "quiet-after", 72*time.Hour, "a regular reporter silent this long is shown as gone quiet")
	fl.BoolVar(&opts.NoBans, "no-bans", false, "do not consult any ban backend")
	cmdutil.HostVar(fl, &opts.Host)
	fl.StringArrayVar(&opts.AllowHosts, "allow-host", nil, "also answer requests naming this host `name` (a reverse proxy's, this host's; repeatable)")
	fl.BoolVar(&opts.BehindTLSProxy, "behind-tls-proxy", false, "a TLS reverse proxy is in front: allow --auth off loopback without --tls-cert")
	fl.StringArrayVar(&opts.TrustProxy, "trust-proxy", nil, "a reverse proxy's `address or CIDR` range: from it, the password limit counts the client in --proxy-header's rightmost untrusted address (repeatable)")
	fl.StringVar(&opts.ProxyHeader, "proxy-header", clientip.HeaderXForwardedFor, "`header` a trusted proxy names the client in: X-Forwarded-For or Forwarded (RFC 7239); the other is ignored")
	f.Backends.AddFlags(fl)
	return cmd
}

// handler makes the dashboard over st: trust from the allowlists, ban
// status from backends through a cache, metrics of this host.
func (o *Options) handler(st *store.Store, backends []redeem.Backend, auth *web.Auth) (http.Handler, error) {
	checker, err := o.F.Trust.Checker(nil)
	if err != nil {
		return nil, err
	}
	if o.Host, err = cmdutil.HostName(o.Host); err != nil {
		return nil, err
	}
	redeemArgs, err := o.redeemArgs()
	if err != nil {
		return nil, err
	}
	bans := web.NewBanCache(backends, 0, o.F.Now)
	outcomes := func(ctx context.Context) ([]assess.Outcome, error) {
		return redeemedOutcomes(ctx, st, backends, bans, assess.OutcomeOptions{Now: o.F.Now(), QuietAfter: o.QuietAfter})
	}
	reg := promtext.NewRegistry()
	reg.Register(metrics.NewCollector(st, o.Host).WithAllowlist(checker.List).WithOutcomes(outcomes))
	return web.New(web.Options{
		Store: st, Days: o.Days, QuietAfter: o.QuietAfter, Now: o.F.Now,
		Metrics: reg.Handler(promtext.HandlerOpts{}),
		Review: func(ctx context.Context, since time.Time) ([]web.ReviewRow, error) {
			dns, cancel := context.WithTimeout(ctx, 2*allowlist.DefaultBudget)
			defer cancel()
			oo := assess.OutcomeOptions{Now: o.F.Now(), QuietAfter: o.QuietAfter}
			rows, err := assess.Review(ctx, st, assess.Options{Since: since, Checker: checker, DNS: dns, Outcomes: &oo})
			if err == nil && len(backends) > 0 {
				if err = bans.Add(ctx, rows); err == nil {
					assess.JudgeBans(rows, oo) // banned-again needs the bans just added
				}
			}
			return assess.Records(rows), err
		},
		Redeemed: outcomes,
		Listen:   o.Listen, AllowHosts: o.AllowHosts, Auth: auth, RedeemArgs: redeemArgs,
	})
}

// redeemedOutcomes judges the redeemed addresses for the Redeemed table,
// banned-again from the cached bans when there are ban backends here.
func redeemedOutcomes(ctx context.Context, st *store.Store, backends []redeem.Backend, bans *web.BanCache, oo assess.OutcomeOptions) ([]assess.Outcome, error) {
	os, err := assess.Outcomes(ctx, st, nil, oo)
	if err != nil || len(backends) == 0 || len(os) == 0 {
		return os, err
	}
	rows := make([]assess.Row, len(os))
	for i := range os {
		rows[i].IP, rows[i].Redeemed = os[i].IP, &os[i]
	}
	if err := bans.Add(ctx, rows); err != nil {
		return nil, err
	}
	assess.JudgeBans(rows, oo)
	for i := range rows {
		os[i] = *rows[i].Redeemed
	}
	return os, nil
}

// check loads the password file and the certificate, and refuses a
// password asked in clear off loopback and a bad --allow-host.
func (o *Options) check() (*web.Auth, error) {
	var auth *web.Auth
	if o.Auth != "" {
		a, err := web.LoadAuth(o.Auth)
		if err != nil {
			return nil, err // exit 1: a file, not the command line, is wrong
		}
		if err := web.CheckClearAuth(o.Listen, o.Cert != "", o.BehindTLSProxy); err != nil {
			return nil, cmdutil.Explain(err) // a usage error, with the fix
		}
		if err := o.trustProxy(a); err != nil {
			return nil, err
		}
		auth = a
	}
	if err := o.TLSOptions.Load(); err != nil {
		return nil, err
	}
	for _, h := range o.AllowHosts {
		if _, err := web.HostName(h); err != nil {
			return nil, cmdutil.UsageErrorf("--allow-host: %w", err)
		}
	}
	return auth, nil
}

// trustProxy makes a's password limit count the clients the trusted
// proxies name, as serve --trust-proxy does.
func (o *Options) trustProxy(a *web.Auth) error {
	nets, err := clientip.ParseTrust(o.TrustProxy)
	if err != nil {
		return cmdutil.UsageErrorf("%w", err)
	}
	header, err := clientip.ParseHeader(o.ProxyHeader)
	if err != nil {
		return cmdutil.UsageErrorf("%w", err)
	}
	a.TrustProxy(nets, header)
	return nil
}

// redeemArgs are the options of the redeem commands the page offers to
// copy: the store, allowlists and ban backends the page was made from,
// files by absolute path, a database password left out (withoutPassword).
func (o *Options) redeemArgs() ([]string, error) {
	loc, err := o.F.DBLocation()
	if err != nil {
		return nil, err
	}
	args := []string{"--db", absPath(withoutPassword(loc))}
	t, b := o.F.Trust, o.F.Backends
	for _, a := range t.Allowlists {
		args = append(args, "--allowlist", absPath(a))
	}
	if t.NoDefaultAllowlist {
		args = append(args, "--no-default-allowlist")
	}
	for _, n := range b.Names {
		args = append(args, "--backend", n)
	}
	for _, f := range []struct{ name, value string }{
		{"--fail2ban-socket", b.Fail2banSocket}, {"--fail2ban-config", b.Fail2banConfig},
		{"--fail2ban-jaild", b.Fail2banJailD}, {"--ipqbdb-bin", b.IPQBDBBin}, {"--ipqbdb-commands", b.IPQBDBCommands},
	} {
		if f.value != "" {
			args = append(args, f.name, absPath(f.value))
		}
	}
	for _, c := range b.Chains {
		args = append(args, "--chain", c)
	}
	return args, nil
}

// keywordPassword matches a password in a libpq key=value connection
// string, quoted or not, with the white space before it.
var keywordPassword = sync.OnceValue(func() *regexp.Regexp {
	return regexp.MustCompile(`(?i)(^|\s+)(?:ssl)?password\s*=\s*('(?:[^'\\]|\\.)*'?|\S*)`)
})

// withoutPassword is a database location with its passwords left out (a
// URL's user password, password= and sslpassword= in its query or in a
// key=value string), not masked: the copied command then logs in as the
// operator's ~/.pgpass or PGPASSWORD says, not with a mask for a
// password. store.Redact runs last, so nothing secret can stay.
func withoutPassword(loc string) string {
	if !strings.Contains(loc, "://") {
		return store.Redact(strings.TrimSpace(keywordPassword().ReplaceAllString(loc, "")))
	}
	u, err := url.Parse(loc)
	if err != nil {
		return store.Redact(loc)
	}
	if u.User != nil {
		u.User = url.User(u.User.Username())
		if u.User.Username() == "" {
			u.User = nil
		}
	}
	var keep []string
	for _, kv := range strings.Split(u.RawQuery, "&") {
		k, _, _ := strings.Cut(kv, "=")
		if k, err := url.QueryUnescape(k); kv == "" || err == nil && isPassword(k) {
			continue
		}
		keep = append(keep, kv)
	}
	u.RawQuery = strings.Join(keep, "&")
	return store.Redact(u.String())
}

func isPassword(key string) bool {
	k := strings.ToLower(strings.TrimSpace(key))
	return k == "password" || k == "sslpassword"
}

// absPath makes a file path absolute, so the command works from any
// folder; a URL is kept.
func absPath(p string) string {
	if strings.Contains(p, "://") || filepath.IsAbs(p) {
		return p
	}
	if a, err := filepath.Abs(p); err == nil {
		return a
	}
	return p
}

// Run serves until ctx is done or SIGTERM or SIGINT arrives.
func Run(ctx context.Context, o *Options) error {
	auth, err := o.check()
	if err != nil {
		return err
	}
	return o.F.ReadWithBans(ctx, o.NoBans, func(backends []redeem.Backend, st *store.Store) error {
		handler, err := o.handler(st, backends, auth)
		if err != nil {
			return err
		}
		return o.serve(ctx, handler)
	})
}

// serve listens on --listen and serves handler until ctx is done or
// SIGTERM or SIGINT arrives.
func (o *Options) serve(ctx context.Context, handler http.Handler) error {
	ln, err := net.Listen("tcp", o.Listen)
	if err != nil {
		return err
	}
	log := o.F.Logger()
	return httpserve.Run(ctx, ln, handler, o.server(log), func(addr net.Addr) {
		scheme := "http"
		if o.Cert != "" {
			scheme = "https"
		}
		log.Info("dashboard: listening", slog.String("url", scheme+"://"+addr.String()+"/"))
		if o.Ready != nil {
			o.Ready(addr.String())
		}
	})
}

// server is the dashboard's TLS files and time-outs: a page and its API
// answer in well under a minute; a request in flight gets 10 seconds to
// finish at shutdown.
func (o *Options) server(log *slog.Logger) httpserve.Options {
	return httpserve.Options{CertFile: o.Cert, KeyFile: o.Key,
		ReadHeaderTimeout: 10 * time.Second, ReadTimeout: 30 * time.Second, WriteTimeout: 60 * time.Second,
		IdleTimeout: 2 * time.Minute, ShutdownTimeout: 10 * time.Second,
		MaxHeaderBytes: http.DefaultMaxHeaderBytes, Logger: log}
}

package cmdutil

import (
	"context"
	"fmt"
	"os"

	"github.com/spf13/pflag"

	"github.com/tlsrpt/tlsrpt/allowlist"
	"github.com/tlsrpt/tlsrpt/arrival"
	"github.com/tlsrpt/tlsrpt/dmarc"
	"github.com/tlsrpt/tlsrpt/report"
	"github.com/tlsrpt/tlsrpt/store"
)

// TrustOptions are the flags that decide authentication and the
// allowlist, for every command that judges trust.
type TrustOptions struct {
	AuthservIDs        []string
	TrustHosts         []string
	Resolver           string
	NoDKIM             bool
	Allowlists         []string
	NoDefaultAllowlist bool
}

// AddFlags defines the trust flags on fs (the root's persistent flags).
func (t *TrustOptions) AddFlags(fs *pflag.FlagSet) {
	fs.StringArrayVar(&t.AuthservIDs, "trust-authserv-id", nil, "believe Authentication-Results fields with this authserv-`id`, one of your own MTAs' (repeatable; see docs/security.md)")
	fs.StringArrayVar(&t.TrustHosts, "trust-host", nil, "a `host` of yours that adds Received fields before the report mailbox (repeatable; see docs/security.md)")
	fs.StringVar(&t.Resolver, "resolver", os.Getenv("TLSRPT_RESOLVER"), "send every DNS lookup to this `host:port` (default $TLSRPT_RESOLVER, else the first nameserver of /etc/resolv.conf)")
	fs.BoolVar(&t.NoDKIM, "no-dkim", false, "do not verify DKIM signatures (rely on --trust-authserv-id)")
	fs.StringArrayVar(&t.Allowlists, "allowlist", nil, "allowlist `file` adding too-big-to-block senders (repeatable)")
	fs.BoolVar(&t.NoDefaultAllowlist, "no-default-allowlist", false, "drop the built-in allowlist")
}

// DNS returns the resolver, caching answers in cache when it is not nil.
func (t *TrustOptions) DNS(cache allowlist.Cache) *allowlist.Resolver {
	r := &allowlist.Resolver{Server: t.Resolver}
	if cache != nil {
		r.Cache = cache
	}
	return r
}

// Checker loads the allowlist and returns a Checker over it.
func (t *TrustOptions) Checker(cache allowlist.Cache) (*allowlist.Checker, error) {
	l, err := allowlist.Load(t.Allowlists, t.NoDefaultAllowlist)
	if err != nil {
		return nil, fmt.Errorf("%w (fix the file or drop --allowlist)", err)
	}
	return &allowlist.Checker{Resolver: t.DNS(cache), List: l}, nil
}

// Verifier returns the authenticator of report messages.
func (t *TrustOptions) Verifier(cache allowlist.Cache) *allowlist.Verifier {
	return &allowlist.Verifier{Resolver: t.DNS(cache), TrustAuthservIDs: t.AuthservIDs, TrustHosts: t.TrustHosts, NoDKIM: t.NoDKIM}
}

// Authenticate judges whether a report message comes from its reporter.
func (t *TrustOptions) Authenticate(ctx context.Context, cache allowlist.Cache, raw []byte, msg *report.Message) arrival.Auth {
	return t.Verifier(cache).Authenticate(ctx, raw, ReporterOf(msg))
}

// ReporterOf names the reporter of a message for authentication.
func ReporterOf(msg *report.Message) allowlist.Reporter {
	r := allowlist.Reporter{Submitter: msg.Submitter, FromDomain: msg.FromDomain}
	for _, rep := range msg.Reports() {
		if rep.ContactInfo != "" {
			r.ContactInfo = rep.ContactInfo
			break
		}
	}
	return r
}

// AuthenticateDMARC judges whether a message holding DMARC aggregate
// reports comes from its reporter, as Authenticate does for TLS reports.
func (t *TrustOptions) AuthenticateDMARC(ctx context.Context, cache allowlist.Cache, raw []byte, msg *dmarc.Message) arrival.Auth {
	return t.Verifier(cache).Authenticate(ctx, raw, DMARCReporterOf(msg))
}

// DMARCReporterOf names the reporter of a DMARC report message for
// authentication: the domain of the report's own email (the address the
// report names as its sender), else the domain of From. A DKIM signature
// must be by that organization, so a report that names google.com in
// org_name but comes from elsewhere is not authenticated as google.com.
func DMARCReporterOf(msg *dmarc.Message) allowlist.Reporter {
	r := allowlist.Reporter{FromDomain: msg.FromDomain}
	for _, rep := range msg.Reports() {
		if rep.Metadata.Email != "" {
			r.ContactInfo = rep.Metadata.Email
			break
		}
	}
	return r
}

// CacheOf returns st as a DNS cache, or nil for a nil store (an interface
// holding a nil pointer would not be nil).
func CacheOf(st *store.Store) allowlist.Cache {
	if st == nil {
		return nil
	}
	return st
}

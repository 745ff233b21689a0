package main

import (
	"context"
	"flag"
	"fmt"
	"net/netip"
	"os"

	"github.com/tlsrpt/tlsrpt/allowlist"
	"github.com/tlsrpt/tlsrpt/filter"
	"github.com/tlsrpt/tlsrpt/report"
	"github.com/tlsrpt/tlsrpt/store"
)

// trustFlags are the flags that decide authentication and the allowlist,
// shared by filter, review, redeem and allowlist.
type trustFlags struct {
	authservIDs stringList
	resolver    string
	noDKIM      bool
	allowlists  stringList
	noDefault   bool
}

func (t *trustFlags) register(fs *flag.FlagSet) {
	t.registerAuth(fs)
	fs.Var(&t.allowlists, "allowlist", "allowlist `file` adding too-big-to-block senders (repeatable)")
	fs.BoolVar(&t.noDefault, "no-default-allowlist", false, "drop the built-in allowlist")
}

// dns returns the resolver, caching answers in st when it is not nil.
func (t *trustFlags) dns(st *store.Store) *allowlist.Resolver {
	r := &allowlist.Resolver{Server: t.resolver}
	if st != nil {
		r.Cache = st
	}
	return r
}

// checker loads the allowlist and returns a Checker over it.
func (t *trustFlags) checker(st *store.Store) (*allowlist.Checker, error) {
	l, err := allowlist.Load(t.allowlists, t.noDefault)
	if err != nil {
		return nil, fmt.Errorf("%w (fix the file or drop --allowlist)", err)
	}
	return &allowlist.Checker{Resolver: t.dns(st), List: l}, nil
}

// configure sets the filter's authentication and advice hooks. The store
// is opened lazily by the filter, and serves as the DNS cache once open.
// All DNS lookups for the message share the budget context (the caller
// gives it allowlist.DefaultBudget), so a dead resolver delays a message by
// about 2 s at most; the database work keeps its own context.
func (t *trustFlags) configure(opt *filter.Options, budget context.Context, st func() *store.Store) error {
	checker, err := t.checker(nil)
	if err != nil {
		return err
	}
	opt.Authenticate = func(_ context.Context, raw []byte, msg *report.Message) store.Auth {
		return t.authenticate(budget, st(), raw, msg)
	}
	opt.Advise = func(ctx context.Context, ip netip.Addr) string {
		s := st()
		if s == nil {
			return ""
		}
		checker.Resolver = t.dns(s)
		v, err := judge(ctx, budget, s, checker, ip)
		if err != nil {
			return ip.String() + ": " + err.Error()
		}
		return advice(ip, v)
	}
	return nil
}

// authenticate judges whether a report message comes from its reporter:
// DKIM verified here, or a trusted Authentication-Results header. st, when
// not nil, caches the DNS answers.
func (t *trustFlags) authenticate(ctx context.Context, st *store.Store, raw []byte, msg *report.Message) store.Auth {
	v := &allowlist.Verifier{Resolver: t.dns(st), TrustAuthservIDs: t.authservIDs, NoDKIM: t.noDKIM}
	return store.Auth(v.Authenticate(ctx, raw, reporterOf(msg)))
}

// registerAuth registers only the flags that decide authentication, for
// commands that do not consult the allowlist (import).
func (t *trustFlags) registerAuth(fs *flag.FlagSet) {
	fs.Var(&t.authservIDs, "trust-authserv-id", "trust Authentication-Results headers with this authserv-`id` (repeatable)")
	fs.StringVar(&t.resolver, "resolver", os.Getenv("TLSRPT_RESOLVER"), "send all DNS lookups to this `host:port` (default $TLSRPT_RESOLVER, else the first nameserver of /etc/resolv.conf)")
	fs.BoolVar(&t.noDKIM, "no-dkim", false, "do not verify DKIM signatures (rely on --trust-authserv-id)")
}

// reporterOf names the reporter of a message for authentication.
func reporterOf(msg *report.Message) allowlist.Reporter {
	r := allowlist.Reporter{Submitter: msg.Submitter, FromDomain: msg.FromDomain}
	for _, rep := range msg.Reports() {
		if rep.ContactInfo != "" {
			r.ContactInfo = rep.ContactInfo
			break
		}
	}
	return r
}

// judge gives the trust verdict on ip from the reports that name it, with
// DNS bounded by dnsCtx and the resolver's budget.
func judge(ctx, dnsCtx context.Context, st *store.Store, c *allowlist.Checker, ip netip.Addr) (allowlist.Verdict, error) {
	ev, err := st.Evidence(ctx, ip)
	if err != nil {
		return allowlist.Verdict{}, err
	}
	evidence := make([]allowlist.Evidence, 0, len(ev))
	for _, e := range ev {
		evidence = append(evidence, allowlist.Evidence{
			Organization: e.Organization, ContactInfo: e.ContactInfo, Submitter: e.Submitter,
			FromDomain: e.FromDomain, Auth: allowlist.Auth(e.Auth), Transport: e.Transport,
		})
	}
	dnsCtx, cancel := c.Resolver.WithBudget(dnsCtx)
	defer cancel()
	return c.Judge(dnsCtx, ip, evidence), nil
}

// advice is the filter summary's line for one failing address.
func advice(ip netip.Addr, v allowlist.Verdict) string {
	if v.Trusted {
		return fmt.Sprintf("%s: trusted, %s. If it is banned: tlsrpt redeem (plan), tlsrpt redeem --apply", ip, v.Why)
	}
	return fmt.Sprintf("%s: not trusted: %s. See tlsrpt review; redeem only if you know it: tlsrpt redeem --ip %s", ip, v.Why, ip)
}

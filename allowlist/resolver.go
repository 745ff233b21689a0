package allowlist

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/miekg/dns"

	"github.com/tlsrpt/tlsrpt/internal/dnsrr"
	"golang.org/x/sync/singleflight"
)

// Defaults for the zero Resolver.
const (
	// DefaultTimeout bounds one DNS query.
	DefaultTimeout = time.Second
	// DefaultBudget bounds all DNS lookups made for one message or one
	// address.
	DefaultBudget = 2 * time.Second
	// negativeTTL is how long NXDOMAIN and empty answers are cached when the
	// answer carries no SOA record to say.
	negativeTTL = 5 * time.Minute
)

// Cache keeps DNS answers between runs; *store.Store implements it. CacheGet
// must also return entries that have expired, with their expiry, so that a
// stale answer can be served when the server does not answer.
type Cache interface {
	CacheGet(ctx context.Context, key string) (value []byte, expires time.Time, ok bool, err error)
	CachePut(ctx context.Context, key string, value []byte, ttl time.Duration) error
}

// Resolver looks names up against one DNS server, with a per-query timeout,
// an optional cache that keeps answers for their TTL, and stale answers from
// the cache when the server fails. Its methods have the signatures of
// net.Resolver's, so it serves the SPF library too. The zero Resolver asks
// the first name server of /etc/resolv.conf, without a cache.
type Resolver struct {
	// Server is the DNS server as HOST:PORT. Empty means the first name
	// server in /etc/resolv.conf, or Go's resolver when that is unreadable.
	Server string
	// Timeout bounds one query; zero means DefaultTimeout.
	Timeout time.Duration
	// Budget bounds all lookups for one message or address, see WithBudget;
	// zero means DefaultBudget.
	Budget time.Duration
	// Cache, when set, keeps answers for their TTL and serves them stale
	// when the server fails.
	Cache Cache
	// Now returns the current time; nil means time.Now.
	Now func() time.Time

	once   sync.Once
	server string             // resolved Server, empty to use net.DefaultResolver
	flight singleflight.Group // one query in flight per name and type
}

// WithBudget returns a context that ends when the resolver's budget is spent
// (or ctx ends), for all lookups about one message or one address.
func (r *Resolver) WithBudget(ctx context.Context) (context.Context, context.CancelFunc) {
	b := DefaultBudget
	if r != nil && r.Budget > 0 {
		b = r.Budget
	}
	return context.WithTimeout(ctx, b)
}

func (r *Resolver) now() time.Time {
	if r.Now != nil {
		return r.Now()
	}
	return time.Now()
}

func (r *Resolver) timeout() time.Duration {
	if r.Timeout > 0 {
		return r.Timeout
	}
	return DefaultTimeout
}

// serverAddr returns the server to ask, or "" when only Go's resolver is left.
func (r *Resolver) serverAddr() string {
	r.once.Do(func() {
		r.server = r.Server
		if r.server != "" {
			return
		}
		r.server, _ = dnsrr.SystemServer(dnsrr.ResolvConf)
	})
	return r.server
}

// LookupTXT returns the TXT records of name, the strings of each record
// joined.
func (r *Resolver) LookupTXT(ctx context.Context, name string) ([]string, error) {
	if r.serverAddr() == "" {
		return net.DefaultResolver.LookupTXT(ctx, name)
	}
	rrs, err := r.query(ctx, name, dns.TypeTXT)
	return dnsrr.Map(rrs, func(t *dns.TXT) string { return strings.Join(t.Txt, "") }), err
}

// LookupMX returns the mail exchangers of name, by preference.
func (r *Resolver) LookupMX(ctx context.Context, name string) ([]*net.MX, error) {
	if r.serverAddr() == "" {
		return net.DefaultResolver.LookupMX(ctx, name)
	}
	rrs, err := r.query(ctx, name, dns.TypeMX)
	if err != nil {
		return nil, err
	}
	out := dnsrr.Map(rrs, func(mx *dns.MX) *net.MX { return &net.MX{Host: mx.Mx, Pref: mx.Preference} })
	sort.SliceStable(out, func(i, j int) bool { return out[i].Pref < out[j].Pref })
	return out, nil
}

// LookupAddr returns the names of the PTR records of addr.
func (r *Resolver) LookupAddr(ctx context.Context, addr string) ([]string, error) {
	if r.serverAddr() == "" {
		return net.DefaultResolver.LookupAddr(ctx, addr)
	}
	rev, err := dns.ReverseAddr(addr)
	if err != nil {
		return nil, &net.DNSError{Err: "unrecognized address", Name: addr}
	}
	rrs, err := r.query(ctx, rev, dns.TypePTR)
	return dnsrr.Map(rrs, func(p *dns.PTR) string { return p.Ptr }), err
}

// LookupIPAddr returns the A and AAAA addresses of host. It fails only when
// both lookups fail; NXDOMAIN for both is reported as not found.
func (r *Resolver) LookupIPAddr(ctx context.Context, host string) ([]net.IPAddr, error) {
	if r.serverAddr() == "" {
		return net.DefaultResolver.LookupIPAddr(ctx, host)
	}
	var out []net.IPAddr
	var errs []error
	for _, qtype := range []uint16{dns.TypeA, dns.TypeAAAA} {
		rrs, err := r.query(ctx, host, qtype)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		for _, rr := range rrs {
			if ip := dnsrr.IP(rr); ip != nil {
				out = append(out, net.IPAddr{IP: ip})
			}
		}
	}
	if len(out) > 0 {
		return out, nil
	}
	// Both failed: a server failure matters more than a missing record.
	for _, err := range errs {
		var de *net.DNSError
		if errors.As(err, &de) && !de.IsNotFound {
			return nil, err
		}
	}
	return nil, notFound(host, r.server)
}

// lookupAddrs returns the addresses of host as netip.Addr.
func (r *Resolver) lookupAddrs(ctx context.Context, host string) ([]netip.Addr, error) {
	ips, err := r.LookupIPAddr(ctx, host)
	if err != nil {
		return nil, err
	}
	out := make([]netip.Addr, 0, len(ips))
	for _, ip := range ips {
		if a, ok := netip.AddrFromSlice(ip.IP); ok {
			out = append(out, a.Unmap())
		}
	}
	return out, nil
}

// query asks for name's records of qtype: from a fresh cache entry, else the
// server, else a stale cache entry. It returns *net.DNSError on failure,
// IsNotFound for NXDOMAIN and empty answers, as the SPF library expects.
func (r *Resolver) query(ctx context.Context, name string, qtype uint16) ([]dns.RR, error) {
	fqdn := dns.Fqdn(strings.ToLower(name))
	if _, ok := dns.IsDomainName(fqdn); !ok {
		return nil, &net.DNSError{Err: "invalid domain name", Name: name}
	}
	key := "dns " + dns.TypeToString[qtype] + " " + fqdn
	stale, hasStale, fresh := r.cached(ctx, key)
	if fresh {
		return answer(stale, fqdn, qtype, r.server)
	}
	// Concurrent judgements ask the same names (every Google address
	// starts with _spf.google.com): one query answers all who wait.
	// The leader also caches the answer: packing a message changes it,
	// so it must be done before the waiters read it.
	v, err, _ := r.flight.Do(key, func() (any, error) {
		msg, err := r.exchange(ctx, fqdn, qtype)
		if err == nil {
			r.store(ctx, key, msg)
		}
		return msg, err
	})
	if err != nil {
		if hasStale {
			return answer(stale, fqdn, qtype, r.server)
		}
		return nil, err
	}
	return answer(v.(*dns.Msg), fqdn, qtype, r.server)
}

// cached returns the cache entry for key, whether there is one, and whether
// it is still fresh.
func (r *Resolver) cached(ctx context.Context, key string) (msg *dns.Msg, ok, fresh bool) {
	if r.Cache == nil {
		return nil, false, false
	}
	value, expires, ok, err := r.Cache.CacheGet(ctx, key)
	if err != nil || !ok {
		return nil, false, false
	}
	msg = new(dns.Msg)
	if err := msg.Unpack(value); err != nil {
		return nil, false, false
	}
	return msg, true, r.now().Before(expires)
}

// store puts msg in the cache for its TTL; failures only cost a lookup later.
func (r *Resolver) store(ctx context.Context, key string, msg *dns.Msg) {
	if r.Cache == nil {
		return
	}
	ttl := msgTTL(msg)
	if ttl <= 0 {
		return
	}
	packed, err := msg.Pack()
	if err != nil {
		return
	}
	_ = r.Cache.CachePut(ctx, key, packed, ttl)
}

// msgTTL is the smallest TTL of msg's answer, or the negative-caching TTL of
// its SOA record when it has no answer.
func msgTTL(msg *dns.Msg) time.Duration {
	var ttl uint32
	found := false
	for _, rr := range msg.Answer {
		if !found || rr.Header().Ttl < ttl {
			ttl, found = rr.Header().Ttl, true
		}
	}
	if found {
		return time.Duration(ttl) * time.Second
	}
	for _, rr := range msg.Ns {
		if soa, ok := rr.(*dns.SOA); ok {
			return time.Duration(min(soa.Minttl, soa.Hdr.Ttl)) * time.Second
		}
	}
	return negativeTTL
}

// exchange sends one query over UDP, and over TCP when the answer was
// truncated. Only NOERROR and NXDOMAIN answers are returned without error.
func (r *Resolver) exchange(ctx context.Context, fqdn string, qtype uint16) (*dns.Msg, error) {
	m := new(dns.Msg)
	m.SetQuestion(fqdn, qtype)
	m.SetEdns0(1232, false)
	ctx, cancel := context.WithTimeout(ctx, r.timeout())
	defer cancel()
	c := &dns.Client{Net: "udp", Timeout: r.timeout()}
	resp, _, err := c.ExchangeContext(ctx, m, r.server)
	if err == nil && resp.Truncated {
		c.Net = "tcp"
		resp, _, err = c.ExchangeContext(ctx, m, r.server)
	}
	if err != nil {
		var nerr net.Error
		timeout := errors.As(err, &nerr) && nerr.Timeout() || errors.Is(err, context.DeadlineExceeded)
		return nil, &net.DNSError{Err: err.Error(), Name: fqdn, Server: r.server,
			IsTimeout: timeout, IsTemporary: true}
	}
	if resp.Rcode != dns.RcodeSuccess && resp.Rcode != dns.RcodeNameError {
		return nil, &net.DNSError{Err: "server answered " + dns.RcodeToString[resp.Rcode],
			Name: fqdn, Server: r.server, IsTemporary: resp.Rcode == dns.RcodeServerFailure}
	}
	return resp, nil
}

// answer returns msg's records of qtype, following CNAMEs within the
// answer, or a not-found error when there are none.
func answer(msg *dns.Msg, fqdn string, qtype uint16, server string) ([]dns.RR, error) {
	if msg.Rcode == dns.RcodeNameError {
		return nil, notFound(fqdn, server)
	}
	var out []dns.RR
	for _, rr := range msg.Answer {
		if rr.Header().Rrtype == qtype {
			out = append(out, rr)
		}
	}
	if len(out) == 0 {
		return nil, notFound(fqdn, server)
	}
	return out, nil
}

func notFound(name, server string) error {
	return &net.DNSError{Err: "no such host", Name: name, Server: server, IsNotFound: true}
}

// MemCache is a Cache in memory, for tests and short-lived programs.
type MemCache struct {
	mu      sync.Mutex
	entries map[string]memEntry
	// Now returns the current time; nil means time.Now.
	Now func() time.Time
}

type memEntry struct {
	value   []byte
	expires time.Time
}

// CacheGet returns the entry for key, expired or not.
func (c *MemCache) CacheGet(_ context.Context, key string) ([]byte, time.Time, bool, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.entries[key]
	return e.value, e.expires, ok, nil
}

// CachePut keeps value for key for ttl.
func (c *MemCache) CachePut(_ context.Context, key string, value []byte, ttl time.Duration) error {
	if ttl < 0 {
		return fmt.Errorf("caching %q: negative ttl %v", key, ttl)
	}
	now := time.Now
	if c.Now != nil {
		now = c.Now
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.entries == nil {
		c.entries = make(map[string]memEntry)
	}
	c.entries[key] = memEntry{value: append([]byte(nil), value...), expires: now().Add(ttl)}
	return nil
}

// Len returns the number of entries in the cache.
func (c *MemCache) Len() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.entries)
}

package probe

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"time"

	"github.com/miekg/dns"

	"github.com/tlsrpt/tlsrpt/internal/dnsrr"
)

// errServFail is a SERVFAIL answer: for a signed zone, what a validating
// resolver gives when DNSSEC validation fails.
var errServFail = errors.New("server failure (SERVFAIL; for a signed zone, DNSSEC validation failed)")

// answer is the records of one DNS answer and whether the resolver
// validated them (the AD bit).
type answer struct {
	rrs           []dns.RR
	authenticated bool
}

// resolver asks one DNS server, with the DO bit and the AD bit set in
// every query so that a validating resolver says whether it validated.
type resolver struct {
	server  string
	timeout time.Duration
}

// serverOf returns server, or the first name server of /etc/resolv.conf.
func serverOf(server string) (string, error) {
	if server != "" {
		return server, nil
	}
	s, err := dnsrr.SystemServer(dnsrr.ResolvConf)
	if s == "" {
		return "", &NameServerError{File: dnsrr.ResolvConf, Err: err}
	}
	return s, nil
}

// A NameServerError says that no DNS server was given and none could be
// read from the system's file (File), for the caller to say how to name
// one.
type NameServerError struct {
	File string
	Err  error // nil when the file names no server
}

func (e *NameServerError) Error() string {
	return fmt.Sprintf("reading the name servers of %s: %v", e.File, e.Err)
}

// Unwrap returns why the file could not be read.
func (e *NameServerError) Unwrap() error { return e.Err }

// query asks for name's records of type qtype: UDP first, TCP when the
// answer is truncated. NXDOMAIN and NODATA are an empty answer; other
// failures an error.
func (r *resolver) query(ctx context.Context, name string, qtype uint16) (answer, error) {
	m := new(dns.Msg)
	m.SetQuestion(dns.Fqdn(name), qtype)
	m.RecursionDesired = true
	m.AuthenticatedData = true
	m.SetEdns0(4096, true)
	ctx, cancel := context.WithTimeout(ctx, r.timeout)
	defer cancel()
	c := &dns.Client{Timeout: r.timeout}
	in, _, err := c.ExchangeContext(ctx, m, r.server)
	if err == nil && in.Truncated {
		c.Net = "tcp"
		in, _, err = c.ExchangeContext(ctx, m, r.server)
	}
	what := fmt.Sprintf("%s %s", strings.TrimSuffix(dns.Fqdn(name), "."), dns.TypeToString[qtype])
	if err != nil {
		return answer{}, fmt.Errorf("looking up %s at %s: %w", what, r.server, err)
	}
	switch in.Rcode {
	case dns.RcodeSuccess, dns.RcodeNameError:
	case dns.RcodeServerFailure:
		return answer{}, fmt.Errorf("looking up %s at %s: %w", what, r.server, errServFail)
	default:
		return answer{}, fmt.Errorf("looking up %s at %s: %s", what, r.server, dns.RcodeToString[in.Rcode])
	}
	a := answer{authenticated: in.AuthenticatedData}
	for _, rr := range in.Answer {
		if rr.Header().Rrtype == qtype {
			a.rrs = append(a.rrs, rr)
		}
	}
	return a, nil
}

// txt returns the TXT records of name, each one string (its
// character-strings joined).
func (r *resolver) txt(ctx context.Context, name string) ([]string, error) {
	a, err := r.query(ctx, name, dns.TypeTXT)
	return dnsrr.Map(a.rrs, func(t *dns.TXT) string { return strings.Join(t.Txt, "") }), err
}

// mxHost is one MX record.
type mxHost struct {
	name string // lower case, without the final dot
	pref uint16
}

// mx returns the MX records of domain, lowest preference first.
func (r *resolver) mx(ctx context.Context, domain string) ([]mxHost, error) {
	a, err := r.query(ctx, domain, dns.TypeMX)
	if err != nil {
		return nil, err
	}
	out := dnsrr.Map(a.rrs, func(m *dns.MX) mxHost { return mxHost{name: canonName(m.Mx), pref: m.Preference} })
	sortMX(out)
	return out, nil
}

// addrs returns the IPv6 then IPv4 addresses of host.
func (r *resolver) addrs(ctx context.Context, host string) ([]netip.Addr, error) {
	var out []netip.Addr
	var firstErr error
	for _, t := range []uint16{dns.TypeAAAA, dns.TypeA} {
		a, err := r.query(ctx, host, t)
		if err != nil {
			firstErr = cmpErr(firstErr, err)
			continue
		}
		for _, rr := range a.rrs {
			if addr, ok := netip.AddrFromSlice(dnsrr.IP(rr)); ok {
				out = append(out, addr.Unmap())
			}
		}
	}
	if len(out) == 0 && firstErr != nil {
		return nil, firstErr
	}
	return out, nil
}

func cmpErr(first, err error) error {
	if first != nil {
		return first
	}
	return err
}

// canonName is a DNS name in lower case without the final dot.
func canonName(s string) string {
	return strings.ToLower(strings.TrimSuffix(strings.TrimSpace(s), "."))
}

// ValidDomain reports whether s is a domain name tlsrpt may look up: at
// least two labels of letters, digits and hyphens (underscores allowed),
// not an address, at most 253 bytes.
func ValidDomain(s string) bool {
	s = strings.ToLower(strings.TrimSuffix(s, "."))
	if s == "" || len(s) > 253 || !strings.Contains(s, ".") {
		return false
	}
	if _, err := netip.ParseAddr(s); err == nil {
		return false
	}
	for _, label := range strings.Split(s, ".") {
		if label == "" || len(label) > 63 || label[0] == '-' || label[len(label)-1] == '-' {
			return false
		}
		for _, c := range label {
			if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-' || c == '_') {
				return false
			}
		}
	}
	return true
}

// sortMX sorts MX records by preference, then name.
func sortMX(m []mxHost) {
	slices.SortFunc(m, func(a, b mxHost) int {
		if c := cmp.Compare(a.pref, b.pref); c != 0 {
			return c
		}
		return strings.Compare(a.name, b.name)
	})
}

// Package clientip tells who sent an HTTP request, for per-client limits:
// the peer, or, from a trusted reverse proxy, the client the proxy names.
// serve and the dashboard share it, so both read a proxy's header alike.
package clientip

import (
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"strings"
)

// Headers in which a trusted reverse proxy names the client.
const (
	HeaderXForwardedFor = "X-Forwarded-For"
	HeaderForwarded     = "Forwarded" // RFC 7239, its for= parameter
)

// Client is who sent a request, as far as the limits are concerned.
type Client struct {
	Key  string     // the per-client limits' key: the address, or its /64 for IPv6
	Addr netip.Addr // the client's address; invalid when the peer's is not an IP address
	Note string     // why a trusted proxy's header was not used, for the log
}

// Resolver finds a request's client. The zero Resolver trusts no proxy:
// the client is always the peer.
type Resolver struct {
	// Trust are the reverse proxies whose Header names the client.
	Trust []netip.Prefix
	// Header is HeaderXForwardedFor (when empty) or HeaderForwarded.
	Header string
}

// Of is the client of r. From a peer outside Trust it is the peer,
// whatever the request's headers say (anyone can write them). From a
// trusted proxy it is the rightmost address of the proxy header not
// itself trusted; a header that is missing, or malformed where it is
// read, leaves the client as the peer, with a note for the log.
func (res Resolver) Of(r *http.Request) Client {
	peer, ok := PeerAddr(r.RemoteAddr)
	if !ok {
		return Client{Key: r.RemoteAddr}
	}
	if !res.trusted(peer) {
		return At(peer)
	}
	addr, note := res.forwarded(r.Header)
	if note != "" {
		c := At(peer)
		c.Note = note
		return c
	}
	return At(addr)
}

// At is the client at addr: IPv6 clients are keyed by their /64, the
// least a host gets, so that one host cannot pass as many clients.
func At(addr netip.Addr) Client {
	key := addr.String()
	if addr.Is6() {
		key = netip.PrefixFrom(addr, 64).Masked().String()
	}
	return Client{Key: key, Addr: addr}
}

// PeerAddr parses the address of a connection's peer, host:port.
func PeerAddr(remote string) (netip.Addr, bool) {
	host, _, err := net.SplitHostPort(remote)
	if err != nil {
		return netip.Addr{}, false
	}
	a, err := netip.ParseAddr(host)
	if err != nil {
		return netip.Addr{}, false
	}
	return a.Unmap().WithZone(""), true
}

// trusted tells whether a is in Trust.
func (res Resolver) trusted(a netip.Addr) bool {
	for _, p := range res.Trust {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

func (res Resolver) header() string {
	if res.Header == "" {
		return HeaderXForwardedFor
	}
	return http.CanonicalHeaderKey(res.Header)
}

// forwarded walks the proxy header from the right, past the trusted
// proxies, to the first address that is not one: the client as the
// nearest trusted proxy saw it. Everything left of it may be written by
// the client and is never read. When every address is trusted, the
// leftmost is the client. A note says why there is no address.
func (res Resolver) forwarded(hdr http.Header) (netip.Addr, string) {
	name := res.header()
	vals := hdr.Values(name)
	if len(vals) == 0 {
		return netip.Addr{}, "no " + name + " header from the trusted proxy"
	}
	elems := strings.Split(strings.Join(vals, ","), ",")
	var last netip.Addr
	for i := len(elems) - 1; i >= 0; i-- {
		a, ok := parseForwarded(name, strings.TrimSpace(elems[i]))
		if !ok {
			return netip.Addr{}, "malformed " + name + " header from the trusted proxy"
		}
		if !res.trusted(a) {
			return a, ""
		}
		last = a
	}
	return last, ""
}

// parseForwarded reads one element of the proxy header: an address, with
// or without a port, for X-Forwarded-For; the for= parameter of RFC 7239
// for Forwarded. "unknown" and obfuscated identifiers are not addresses.
func parseForwarded(name, elem string) (netip.Addr, bool) {
	if name == HeaderForwarded {
		v, ok := forParam(elem)
		if !ok {
			return netip.Addr{}, false
		}
		elem = v
	}
	if a, err := netip.ParseAddr(elem); err == nil && a.Zone() == "" {
		return a.Unmap(), true
	}
	if ap, err := netip.ParseAddrPort(elem); err == nil && ap.Addr().Zone() == "" {
		return ap.Addr().Unmap(), true
	}
	if strings.HasPrefix(elem, "[") && strings.HasSuffix(elem, "]") {
		if a, err := netip.ParseAddr(elem[1 : len(elem)-1]); err == nil && a.Is6() && a.Zone() == "" {
			return a, true
		}
	}
	return netip.Addr{}, false
}

// forParam is the value of the for= parameter of one Forwarded element,
// unquoted (for="[2001:db8::1]:4711").
func forParam(elem string) (string, bool) {
	for _, pair := range strings.Split(elem, ";") {
		k, v, ok := strings.Cut(strings.TrimSpace(pair), "=")
		if !ok || !strings.EqualFold(k, "for") {
			continue
		}
		if len(v) >= 2 && v[0] == '"' && v[len(v)-1] == '"' {
			v = v[1 : len(v)-1]
		}
		return v, v != ""
	}
	return "", false
}

// ParseTrust parses --trust-proxy values: CIDR ranges or single
// addresses, canonical, not every address. Its error is one line naming
// the value and the fix.
func ParseTrust(vals []string) ([]netip.Prefix, error) {
	var nets []netip.Prefix
	for _, v := range vals {
		p, err := netip.ParsePrefix(v)
		if err != nil {
			a, aerr := netip.ParseAddr(v)
			if aerr != nil || a.Zone() != "" {
				return nil, fmt.Errorf("--trust-proxy %q: not an address or a CIDR range; give the proxy's address or range, such as 127.0.0.1 or 10.0.0.0/8", v)
			}
			p = netip.PrefixFrom(a, a.BitLen())
		}
		switch {
		case p.Addr().Is4In6():
			return nil, fmt.Errorf("--trust-proxy %q: an IPv4-mapped range; give it as IPv4, such as %s", v, netip.PrefixFrom(p.Addr().Unmap(), max(p.Bits()-96, 0)).Masked())
		case p.Bits() == 0:
			return nil, fmt.Errorf("--trust-proxy %q: trusts every address, so any client could name itself; give your proxy's address", v)
		case p != p.Masked():
			return nil, fmt.Errorf("--trust-proxy %q: bits set past the prefix length; did you mean %s", v, p.Masked())
		}
		nets = append(nets, p)
	}
	return nets, nil
}

// ParseHeader parses a --proxy-header value, in any case, to
// HeaderXForwardedFor or HeaderForwarded.
func ParseHeader(v string) (string, error) {
	switch strings.ToLower(v) {
	case "x-forwarded-for":
		return HeaderXForwardedFor, nil
	case "forwarded":
		return HeaderForwarded, nil
	}
	return "", fmt.Errorf("--proxy-header %q: want X-Forwarded-For or Forwarded", v)
}

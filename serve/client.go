package serve

import (
	"net"
	"net/http"
	"net/netip"
	"strings"
)

// Headers in which a trusted reverse proxy names the client
// (Options.ProxyHeader).
const (
	HeaderXForwardedFor = "X-Forwarded-For"
	HeaderForwarded     = "Forwarded" // RFC 7239, its for= parameter
)

// client is who sent a request, as far as the limits are concerned.
type client struct {
	key  string     // the per-client limits' key: the address, or its /64 for IPv6
	addr netip.Addr // the client's address; invalid when the peer's is not an IP address
	note string     // why a trusted proxy's header was not used, for the log
}

// clientOf is the client of r. From a peer outside Options.TrustProxy it
// is the peer, whatever the request's headers say (anyone can write them).
// From a trusted proxy it is the rightmost address of the proxy header not
// itself trusted; a header that is missing, or malformed where it is read,
// leaves the client as the peer, with a note for the log.
func (h *Handler) clientOf(r *http.Request) client {
	peer, ok := peerAddr(r.RemoteAddr)
	if !ok {
		return client{key: r.RemoteAddr}
	}
	if !h.trusted(peer) {
		return clientAt(peer)
	}
	addr, note := h.forwarded(r.Header)
	if note != "" {
		c := clientAt(peer)
		c.note = note
		return c
	}
	return clientAt(addr)
}

// clientAt is the client at addr: IPv6 clients are keyed by their /64, the
// least a host gets, so that one host cannot pass as many clients.
func clientAt(addr netip.Addr) client {
	key := addr.String()
	if addr.Is6() {
		key = netip.PrefixFrom(addr, 64).Masked().String()
	}
	return client{key: key, addr: addr}
}

// peerAddr parses the address of a connection's peer, host:port.
func peerAddr(remote string) (netip.Addr, bool) {
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

// trusted tells whether a is in Options.TrustProxy.
func (h *Handler) trusted(a netip.Addr) bool {
	for _, p := range h.opt.TrustProxy {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

// forwarded walks the proxy header from the right, past the trusted
// proxies, to the first address that is not one: the client as the
// nearest trusted proxy saw it. Everything left of it may be written by
// the client and is never read. When every address is trusted, the
// leftmost is the client. A note says why there is no address.
func (h *Handler) forwarded(hdr http.Header) (netip.Addr, string) {
	name := h.opt.ProxyHeader
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
		if !h.trusted(a) {
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

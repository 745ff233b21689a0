package serve

import (
	"net/http"
	"net/netip"

	"github.com/tlsrpt/tlsrpt/internal/clientip"
)

// Headers in which a trusted reverse proxy names the client
// (Options.ProxyHeader).
const (
	HeaderXForwardedFor = clientip.HeaderXForwardedFor
	HeaderForwarded     = clientip.HeaderForwarded // RFC 7239, its for= parameter
)

// client is who sent a request, as far as the limits are concerned.
type client struct {
	key  string     // the per-client limits' key: the address, or its /64 for IPv6
	addr netip.Addr // the client's address; invalid when the peer's is not an IP address
	note string     // why a trusted proxy's header was not used, for the log
}

// clientOf is the client of r (clientip.Resolver.Of): from a peer
// outside Options.TrustProxy the peer, from a trusted proxy the client its
// Options.ProxyHeader names.
func (h *Handler) clientOf(r *http.Request) client {
	c := clientip.Resolver{Trust: h.opt.TrustProxy, Header: h.opt.ProxyHeader}.Of(r)
	return client{key: c.Key, addr: c.Addr, note: c.Note}
}

// peerAddr parses the address of a connection's peer, host:port.
func peerAddr(remote string) (netip.Addr, bool) { return clientip.PeerAddr(remote) }

package web

import (
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"regexp"
	"strings"

	"sync"

	"github.com/tlsrpt/tlsrpt/internal/pkgerr"
)

// ErrHostName is returned by HostName for a name the dashboard cannot
// be told to answer to.
var ErrHostName = pkgerr.New("web", "bad host name")

// hostNameRE is a DNS host name: labels of letters, digits and hyphens.
var hostNameRE = sync.OnceValue(func() *regexp.Regexp {
	return regexp.MustCompile(`^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?(\.[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)*$`)
})

// HostName checks a name the dashboard may be reached by (a reverse
// proxy's public name, the host's own name or address) and returns it in
// the form requests are compared with: lower case, no trailing dot, an
// IPv6 address without brackets.
func HostName(name string) (string, error) {
	h := strings.TrimSuffix(strings.ToLower(name), ".")
	if strings.HasPrefix(h, "[") && strings.HasSuffix(h, "]") {
		h = h[1 : len(h)-1]
	}
	if ip, err := netip.ParseAddr(h); err == nil && ip.Zone() == "" {
		return h, nil
	}
	if len(h) > 253 || !hostNameRE().MatchString(h) {
		return "", fmt.Errorf("%w %q: want a DNS name (dash.example.com) or an IP address, without port or wildcard", ErrHostName, name)
	}
	return h, nil
}

// normalHost drops the port, brackets, case and trailing dot of a Host
// header or a name.
func normalHost(h string) string {
	if host, _, err := net.SplitHostPort(h); err == nil {
		h = host
	}
	return strings.TrimSuffix(strings.ToLower(strings.Trim(h, "[]")), ".")
}

// hosts are the names and addresses the dashboard answers to. A page
// from a rebound name (rebind.attacker.example resolving to 127.0.0.1)
// names itself in Host: it is refused, so it reads nothing.
type hosts struct {
	names map[string]bool
	ips   map[netip.Addr]bool
	anyIP bool // listening on every address: any IP literal is ours
}

// newHosts accepts localhost, every loopback address, the host of the
// listening address, and extra (already checked by HostName).
func newHosts(listen string, extra []string) hosts {
	hs := hosts{names: map[string]bool{"localhost": true}, ips: map[netip.Addr]bool{}}
	add := func(h string) {
		if ip, err := netip.ParseAddr(h); err == nil {
			hs.ips[ip.WithZone("").Unmap()] = true
			hs.anyIP = hs.anyIP || ip.IsUnspecified()
		} else if h != "" {
			hs.names[h] = true
		}
	}
	if listen != "" {
		host, _, err := net.SplitHostPort(listen)
		if err == nil && host == "" {
			hs.anyIP = true
		}
		add(normalHost(host))
	}
	for _, h := range extra {
		add(normalHost(h))
	}
	return hs
}

// ok says whether a Host header names the dashboard; its port does not
// matter (ssh -L may forward any local port).
func (hs hosts) ok(header string) bool {
	h := normalHost(header)
	if ip, err := netip.ParseAddr(h); err == nil {
		ip = ip.WithZone("").Unmap()
		return ip.IsLoopback() || hs.anyIP || hs.ips[ip]
	}
	return hs.names[h]
}

// refuse answers a request that does not come from the dashboard's own
// page or from someone typing its address, and says so; it returns
// false when the request may go on.
func (hs hosts) refuse(w http.ResponseWriter, r *http.Request) bool {
	switch {
	case !hs.ok(r.Host):
		http.Error(w, "tlsrpt dashboard: this host name is not one the dashboard answers to: browse it by localhost or 127.0.0.1, or start it with --allow-host NAME", http.StatusMisdirectedRequest)
	case r.Header.Get("Sec-Fetch-Site") == "cross-site":
		http.Error(w, "tlsrpt dashboard: refusing a request from another site: open the dashboard's address yourself", http.StatusForbidden)
	case foreignOrigin(r):
		http.Error(w, "tlsrpt dashboard: refusing a request from another origin: open the dashboard's address yourself", http.StatusForbidden)
	default:
		return false
	}
	return true
}

// foreignOrigin says whether a request carries an Origin other than the
// dashboard's own (the host and port it was asked by), "null" included.
func foreignOrigin(r *http.Request) bool {
	o := r.Header.Get("Origin")
	if o == "" {
		return false
	}
	u, err := url.Parse(o)
	if err != nil || u.Host == "" {
		return true
	}
	return !strings.EqualFold(u.Host, r.Host)
}

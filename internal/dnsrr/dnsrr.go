// Package dnsrr holds what the resolvers of allowlist and probe, which
// ask their own servers with github.com/miekg/dns, share: the system's
// name server, and the records of one type picked out of an answer.
package dnsrr

import (
	"net"

	"github.com/miekg/dns"
)

// Map returns f of each record of type T in rrs, in their order; records
// of other types (a CNAME on the way, say) are passed over.
func Map[T dns.RR, V any](rrs []dns.RR, f func(T) V) []V {
	var out []V
	for _, rr := range rrs {
		if r, ok := rr.(T); ok {
			out = append(out, f(r))
		}
	}
	return out
}

// IP returns the address of an A or AAAA record, nil for any other.
func IP(rr dns.RR) net.IP {
	switch a := rr.(type) {
	case *dns.A:
		return a.A
	case *dns.AAAA:
		return a.AAAA
	}
	return nil
}

// ResolvConf is where the system's name servers are read from.
const ResolvConf = "/etc/resolv.conf"

// SystemServer returns the first name server file (in the form of
// ResolvConf) names, as host:port; "" and the error when the file cannot
// be read, "" and nil when it names none.
func SystemServer(file string) (string, error) {
	cc, err := dns.ClientConfigFromFile(file)
	if err != nil || len(cc.Servers) == 0 {
		return "", err
	}
	return net.JoinHostPort(cc.Servers[0], cc.Port), nil
}

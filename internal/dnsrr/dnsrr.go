// Package dnsrr picks the records of one type out of a DNS answer, for
// the resolvers of allowlist and probe, which ask their own servers with
// github.com/miekg/dns.
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

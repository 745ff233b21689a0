package probetest

import (
	"crypto"
	"encoding/base64"
	"fmt"
	"net"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/miekg/dns"

	"github.com/tlsrpt/tlsrpt/internal/dnstest"
)

// Signed is a zone signed with DNSSEC and served by an authoritative
// server written with miekg/dns, for a validating dnsmasq to check.
type Signed struct {
	zone   string // with the final dot
	key    *dns.DNSKEY
	signer crypto.Signer
	rrs    map[string][]dns.RR // by owner name, lower case, with the final dot
	names  []string            // owner names in canonical order
	// Bogus, when it returns true for a record set's type and owner,
	// makes that set's signature invalid: a validating resolver then
	// answers SERVFAIL.
	Bogus func(owner string, rrtype uint16) bool
}

// SignZone signs the world's records with a fresh ECDSA P-256 key, as a
// root zone of their own: dnsmasq takes a trust anchor for the root only,
// and with the test's key as that anchor it validates every answer.
func (w *World) SignZone() *Signed {
	w.t.Helper()
	zone := "."
	key := &dns.DNSKEY{Hdr: hdr(zone, dns.TypeDNSKEY), Flags: 257, Protocol: 3, Algorithm: dns.ECDSAP256SHA256}
	priv, err := key.Generate(256)
	if err != nil {
		w.t.Fatal(err)
	}
	z := &Signed{zone: zone, key: key, signer: priv.(crypto.Signer), rrs: map[string][]dns.RR{}}
	z.add(key)
	z.add(&dns.SOA{Hdr: hdr(zone, dns.TypeSOA), Ns: "ns.", Mbox: "hostmaster.", Serial: 1,
		Refresh: 3600, Retry: 600, Expire: 86400, Minttl: 300})
	for name, txts := range w.Rec.TXT {
		for _, t := range txts {
			z.add(&dns.TXT{Hdr: hdr(name, dns.TypeTXT), Txt: chunks(t)})
		}
	}
	for name, ips := range w.Rec.Host {
		for _, ip := range ips {
			z.add(&dns.A{Hdr: hdr(name, dns.TypeA), A: net.ParseIP(ip)})
		}
	}
	for name, hosts := range w.Rec.MX {
		for i, h := range hosts {
			z.add(&dns.MX{Hdr: hdr(name, dns.TypeMX), Preference: uint16(10 * (i + 1)), Mx: dns.Fqdn(h)})
		}
	}
	for _, line := range w.Rec.RR {
		rr, err := dns.NewRR(line)
		if err != nil {
			w.t.Fatal(err)
		}
		z.add(rr)
	}
	for name := range z.rrs {
		if !dns.IsSubDomain(zone, name) {
			w.t.Fatalf("probetest: %s is outside the signed zone %s", name, zone)
		}
		z.names = append(z.names, name)
	}
	slices.SortFunc(z.names, canonicalCompare)
	return z
}

func hdr(name string, t uint16) dns.RR_Header {
	return dns.RR_Header{Name: strings.ToLower(dns.Fqdn(name)), Rrtype: t, Class: dns.ClassINET, Ttl: 300}
}

func chunks(s string) []string {
	var out []string
	for len(s) > 255 {
		out, s = append(out, s[:255]), s[255:]
	}
	return append(out, s)
}

func (z *Signed) add(rr dns.RR) {
	name := strings.ToLower(rr.Header().Name)
	rr.Header().Name = name
	z.rrs[name] = append(z.rrs[name], rr)
}

// canonicalCompare orders names as RFC 4034 §6.1 does: label by label
// from the right, lower case.
func canonicalCompare(a, b string) int {
	la, lb := dns.SplitDomainName(strings.ToLower(a)), dns.SplitDomainName(strings.ToLower(b))
	for i, j := len(la)-1, len(lb)-1; i >= 0 && j >= 0; i, j = i-1, j-1 {
		if c := strings.Compare(la[i], lb[j]); c != 0 {
			return c
		}
	}
	return len(la) - len(lb)
}

// TrustAnchor is the zone's DS record as dnsmasq's trust-anchor option
// takes it.
func (z *Signed) TrustAnchor() string {
	ds := z.key.ToDS(dns.SHA256)
	return fmt.Sprintf("trust-anchor=.,%d,%d,%d,%s", ds.KeyTag, ds.Algorithm, ds.DigestType, ds.Digest)
}

// sign returns the signature of rrset, made invalid when Bogus says so.
func (z *Signed) sign(rrset []dns.RR) (dns.RR, error) {
	h := rrset[0].Header()
	now := time.Now()
	sig := &dns.RRSIG{Hdr: hdr(h.Name, dns.TypeRRSIG), TypeCovered: h.Rrtype, Algorithm: z.key.Algorithm,
		Labels: uint8(dns.CountLabel(h.Name)), OrigTtl: h.Ttl, Expiration: uint32(now.Add(24 * time.Hour).Unix()),
		Inception: uint32(now.Add(-time.Hour).Unix()), KeyTag: z.key.KeyTag(), SignerName: z.zone}
	if err := sig.Sign(z.signer, rrset); err != nil {
		return nil, err
	}
	if z.Bogus != nil && z.Bogus(h.Name, h.Rrtype) {
		b, err := base64.StdEncoding.DecodeString(sig.Signature)
		if err != nil {
			return nil, err
		}
		b[len(b)/2] ^= 0xff
		sig.Signature = base64.StdEncoding.EncodeToString(b)
	}
	return sig, nil
}

// set returns the records of name of type t, and whether name exists.
func (z *Signed) set(name string, t uint16) ([]dns.RR, bool) {
	all, ok := z.rrs[name]
	var out []dns.RR
	for _, rr := range all {
		if rr.Header().Rrtype == t {
			out = append(out, rr)
		}
	}
	return out, ok
}

// nsec returns the NSEC record owned by the i-th name.
func (z *Signed) nsec(i int) *dns.NSEC {
	name := z.names[i]
	next := z.names[(i+1)%len(z.names)]
	types := []uint16{dns.TypeRRSIG, dns.TypeNSEC}
	for _, rr := range z.rrs[name] {
		if t := rr.Header().Rrtype; !slices.Contains(types, t) {
			types = append(types, t)
		}
	}
	slices.Sort(types)
	return &dns.NSEC{Hdr: hdr(name, dns.TypeNSEC), NextDomain: next, TypeBitMap: types}
}

// covering returns the index of the name that precedes name.
func (z *Signed) covering(name string) int {
	i := 0
	for j, n := range z.names {
		if canonicalCompare(n, name) < 0 {
			i = j
		}
	}
	return i
}

// nonTerminal reports whether name owns no record but has names below.
func (z *Signed) nonTerminal(name string) bool {
	for _, n := range z.names {
		if n != name && dns.IsSubDomain(name, n) {
			return true
		}
	}
	return false
}

// wildcard is the wildcard name at the closest encloser of name (the
// longest ancestor that exists), which an NXDOMAIN answer must deny too.
func (z *Signed) wildcard(name string) string {
	enc := name
	for enc != z.zone {
		_, enc, _ = strings.Cut(enc, ".")
		if enc == "" {
			enc = "."
		}
		if _, ok := z.rrs[enc]; ok || z.nonTerminal(enc) {
			break
		}
	}
	if enc == "." {
		return "*."
	}
	return "*." + enc
}

// answer builds the answer to q: the records with their signature, or
// the signed NSEC records that deny them, with the signed SOA.
func (z *Signed) answer(q *dns.Msg) (*dns.Msg, error) {
	m := new(dns.Msg)
	m.SetReply(q)
	m.Authoritative = true
	qn := strings.ToLower(q.Question[0].Name)
	qt := q.Question[0].Qtype
	if !dns.IsSubDomain(z.zone, qn) {
		m.Rcode = dns.RcodeRefused
		return m, nil
	}
	if rrs, _ := z.set(qn, qt); len(rrs) > 0 {
		sig, err := z.sign(rrs)
		m.Answer = append(rrs, sig)
		return m, err
	}
	var denial []dns.RR
	if _, exists := z.rrs[qn]; exists {
		denial = append(denial, z.nsec(slices.Index(z.names, qn)))
	} else if z.nonTerminal(qn) {
		denial = append(denial, z.nsec(z.covering(qn)))
	} else {
		m.Rcode = dns.RcodeNameError
		denial = append(denial, z.nsec(z.covering(qn)))
		if i := z.covering(z.wildcard(qn)); z.names[i] != denial[0].Header().Name {
			denial = append(denial, z.nsec(i))
		}
	}
	soa, _ := z.set(z.zone, dns.TypeSOA)
	for _, set := range append([][]dns.RR{soa}, splitEach(denial)...) {
		sig, err := z.sign(set)
		if err != nil {
			return nil, fmt.Errorf("%v: %w", set, err)
		}
		m.Ns = append(m.Ns, append(set, sig)...)
	}
	return m, nil
}

func splitEach(rrs []dns.RR) [][]dns.RR {
	var out [][]dns.RR
	for _, rr := range rrs {
		out = append(out, []dns.RR{rr})
	}
	return out
}

// Serve starts the authoritative server on UDP and TCP of one loopback
// port and returns its address.
func (z *Signed) Serve(t testing.TB) string {
	t.Helper()
	var addr string
	for attempt := 0; ; attempt++ {
		port, err := dnstest.FreePort()
		if err != nil {
			t.Fatal(err)
		}
		addr = fmt.Sprintf("127.0.0.1:%d", port)
		pc, perr := net.ListenPacket("udp", addr)
		ln, lerr := net.Listen("tcp", addr)
		if perr == nil && lerr == nil {
			z.serve(t, &dns.Server{PacketConn: pc}, &dns.Server{Listener: ln})
			return addr
		}
		if pc != nil {
			pc.Close()
		}
		if ln != nil {
			ln.Close()
		}
		if attempt == 5 {
			t.Fatalf("probetest: no free port for the signed zone: %v %v", perr, lerr)
		}
	}
}

func (z *Signed) serve(t testing.TB, servers ...*dns.Server) {
	var mu sync.Mutex
	h := dns.HandlerFunc(func(rw dns.ResponseWriter, q *dns.Msg) {
		mu.Lock()
		m, err := z.answer(q)
		mu.Unlock()
		if err != nil {
			m = new(dns.Msg)
			m.SetRcode(q, dns.RcodeServerFailure)
		}
		if o := q.IsEdns0(); o != nil {
			m.SetEdns0(4096, o.Do())
		}
		rw.WriteMsg(m)
	})
	for _, s := range servers {
		s.Handler = h
		started := make(chan struct{})
		s.NotifyStartedFunc = func() { close(started) }
		go s.ActivateAndServe()
		<-started
		t.Cleanup(func() { s.Shutdown() })
	}
}

// ValidatingResolver starts dnsmasq validating DNSSEC with z's key as
// the root trust anchor, forwarding every query to z's server at addr,
// and returns the resolver's address: its answers carry the AD bit when
// they validate, and it answers SERVFAIL when they are bogus.
func (z *Signed) ValidatingResolver(t testing.TB, addr string) string {
	host, port, _ := net.SplitHostPort(addr)
	return dnstest.Start(t, dnstest.Records{Forward: host + "#" + port, Config: []string{"dnssec", z.TrustAnchor()}})
}

// ValidatingResolver signs the world's records, serves them, and returns
// the address of a dnsmasq that validates them (see Signed).
func (w *World) ValidatingResolver() string {
	z := w.SignZone()
	return z.ValidatingResolver(w.t, z.Serve(w.t))
}

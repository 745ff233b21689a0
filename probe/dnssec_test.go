package probe

import (
	"slices"
	"testing"

	"github.com/miekg/dns"
)

// TestDNSSECValidated: the zone is signed and dnsmasq validates it with
// the zone's key as its trust anchor: the TLSA records carry the AD bit,
// and the healthy domain is all ok.
func TestDNSSECValidated(t *testing.T) {
	w := healthy(t, "signed.test")
	z := w.SignZone()
	p := w.proberVia(z.ValidatingResolver(t, z.Serve(t)))
	fs := w.diagnose(p, Request{All: true})
	wantAllOK(t, fs)
	want(t, fs, CheckDANETLSA, "_25._tcp.mx1.signed.test", OK, "validated by DNSSEC (AD bit)")
	want(t, fs, CheckDANEMatch, "mx1.signed.test", OK, "3 1 1")
}

// TestDNSSECBogus: the TLSA records' signature does not verify: the
// validating resolver answers SERVFAIL, and the finding says the zone's
// DNSSEC is broken (dnssec-invalid), a fail and not a probe error.
func TestDNSSECBogus(t *testing.T) {
	w := healthy(t, "bogus.test")
	z := w.SignZone()
	z.Bogus = func(owner string, t uint16) bool { return t == dns.TypeTLSA }
	p := w.proberVia(z.ValidatingResolver(t, z.Serve(t)))
	fs := w.diagnose(p, Request{ResultTypes: []string{DNSSECInvalid}})
	f := want(t, fs, CheckDANETLSA, "_25._tcp.mx1.bogus.test", Fail, "SERVFAIL")
	if !slices.Equal(f.ResultTypes, []string{DNSSECInvalid}) {
		t.Errorf("result types %v", f.ResultTypes)
	}
	want(t, fs, CheckMX, "bogus.test", OK, "mx1.bogus.test")
}

// TestSignedZoneDenials checks the test's signed zone itself: dnsmasq
// validates its NODATA and NXDOMAIN answers (NSEC), not only its records.
func TestSignedZoneDenials(t *testing.T) {
	w := healthy(t, "deny.test")
	res := w.ValidatingResolver()
	for _, q := range []struct {
		name  string
		t     uint16
		rcode int
	}{
		{"mx1.deny.test.", dns.TypeAAAA, dns.RcodeSuccess},
		{"_25._tcp.nothere.deny.test.", dns.TypeTLSA, dns.RcodeNameError},
		{"_tcp.mx1.deny.test.", dns.TypeTXT, dns.RcodeSuccess},
	} {
		m := new(dns.Msg)
		m.SetQuestion(q.name, q.t)
		m.SetEdns0(4096, true)
		m.AuthenticatedData = true
		in, err := dns.Exchange(m, res)
		if err != nil {
			t.Fatal(err)
		}
		if in.Rcode != q.rcode || !in.AuthenticatedData || len(in.Answer) != 0 {
			t.Errorf("%s %s: rcode %s, AD %v, %d answers; want %s, AD, none", q.name, dns.TypeToString[q.t],
				dns.RcodeToString[in.Rcode], in.AuthenticatedData, len(in.Answer), dns.RcodeToString[q.rcode])
		}
	}
}

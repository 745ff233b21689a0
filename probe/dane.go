package probe

import (
	"context"
	"crypto/x509"
	"fmt"
	"strings"

	"github.com/miekg/dns"

	"github.com/tlsrpt/tlsrpt/internal/dnsrr"
)

// dane checks the TLSA records of host's port 25: whether the resolver
// validated them (the AD bit), and whether one matches chain.
func (h *hostFindings) dane(ctx context.Context, host string, chain []*x509.Certificate) {
	name := "_25._tcp." + host
	f := Finding{Check: CheckDANETLSA, Host: name}
	explains := []string{TLSAInvalid, DNSSECInvalid, DANERequired}
	a, err := h.r.res.query(ctx, name, dns.TypeTLSA)
	if err != nil {
		f.Status, f.Detail = dnsStatus(err), err.Error()
		if f.Status == Fail {
			f.Advice = "fix the zone's DNSSEC (expired signatures, a DS record that matches no key): senders that do DANE defer mail while validation fails"
		} else {
			f.Advice = "check the DNS server (--resolver), then run again"
		}
		h.add(f, explains...)
		return
	}
	recs := dnsrr.Map(a.rrs, func(t *dns.TLSA) *dns.TLSA { return t })
	switch {
	case len(recs) == 0:
		f.Status, f.Detail = OK, "no TLSA records: DANE is not in use for this host"
		if h.r.reported(TLSAInvalid, DANERequired, DNSSECInvalid) {
			f.Status = Warn
			f.Advice = "the reports name DANE failures but there are no TLSA records now: the failure may already be fixed (or the records were removed)"
		}
	case !a.authenticated:
		f.Status = Warn
		f.Detail = fmt.Sprintf("%s, but the resolver %s did not validate them (no AD bit)", tlsaCount(len(recs)), h.r.res.server)
		f.Advice = "if the zone is not signed, senders ignore these records and DANE does nothing: sign the zone and publish its DS record; " +
			"if it is signed, ask a validating resolver (--resolver), since a sender that finds the answer bogus defers mail"
	default:
		f.Status, f.Detail = OK, tlsaCount(len(recs))+", validated by DNSSEC (AD bit)"
	}
	h.add(f, explains...)
	if len(recs) > 0 {
		h.daneMatch(host, recs, chain, a.authenticated)
	}
}

// daneMatch checks whether a usable TLSA record matches chain: DANE-EE (3)
// against the leaf, DANE-TA (2) against a certificate of the chain above
// it that the leaf chains to and that names host.
func (h *hostFindings) daneMatch(host string, recs []*dns.TLSA, chain []*x509.Certificate, validated bool) {
	f := Finding{Check: CheckDANEMatch, Host: host}
	explains := []string{TLSAInvalid, DANERequired}
	if chain == nil {
		f.Status, f.Detail = Error, "no certificate to match the TLSA records against (see the smtp and tls findings)"
		h.add(f, explains...)
		return
	}
	var usable, matched []string
	for _, t := range recs {
		if t.Usage != 2 && t.Usage != 3 {
			continue
		}
		usable = append(usable, tlsaText(t))
		if h.r.p.tlsaMatches(t, chain, host) {
			matched = append(matched, tlsaText(t))
		}
	}
	switch {
	case len(usable) == 0:
		f.Status, f.Detail = Fail, "no TLSA record of usage 2 (DANE-TA) or 3 (DANE-EE): RFC 7672 says SMTP senders do not use usages 0 and 1"
		f.Advice = "publish a record of usage 3 1 1 (the SHA-256 of the key) or 2 1 1 (of the issuing CA's key)"
	case len(matched) == 0:
		f.Status, f.Detail = Fail, fmt.Sprintf("none of the TLSA records (%s) matches the chain %s presents", strings.Join(usable, "; "), host)
		f.Advice = "publish a record for the certificate in use (3 1 1 and the SHA-256 of its key) next to the old one, and with the next renewal publish the new one before switching"
	default:
		f.Status, f.Detail = OK, "matches: "+strings.Join(matched, "; ")
	}
	if f.Status == Fail && !validated {
		f.Status = Warn
		f.Detail += " (the records are not validated, so senders ignore them today)"
	}
	h.add(f, explains...)
}

// tlsaMatches reports whether t matches chain.
func (p *Prober) tlsaMatches(t *dns.TLSA, chain []*x509.Certificate, host string) bool {
	if t.Usage == 3 {
		return certMatches(t, chain[0])
	}
	for _, ta := range chain[1:] {
		if !certMatches(t, ta) {
			continue
		}
		opts := p.verifyOptions(chain, host)
		opts.Roots = x509.NewCertPool()
		opts.Roots.AddCert(ta)
		if _, err := chain[0].Verify(opts); err == nil {
			return true
		}
	}
	return false
}

// certMatches compares t's data with c by t's selector and matching type.
func certMatches(t *dns.TLSA, c *x509.Certificate) bool {
	if t.Selector > 1 || t.MatchingType > 2 {
		return false
	}
	want, err := dns.CertificateToDANE(t.Selector, t.MatchingType, c)
	return err == nil && strings.EqualFold(want, t.Certificate)
}

// tlsaText shows a TLSA record's parameters and the start of its data.
func tlsaText(t *dns.TLSA) string {
	data := t.Certificate
	if len(data) > 16 {
		data = data[:16] + "..."
	}
	return fmt.Sprintf("%d %d %d %s", t.Usage, t.Selector, t.MatchingType, data)
}

// tlsaCount says "1 TLSA record" or "N TLSA records".
func tlsaCount(n int) string {
	if n == 1 {
		return "1 TLSA record"
	}
	return fmt.Sprintf("%d TLSA records", n)
}

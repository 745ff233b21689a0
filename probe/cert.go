package probe

import (
	"bytes"
	"crypto/x509"
	"errors"
	"fmt"
	"strings"
	"time"
)

// certificate judges the chain host presented: expiry, trust, names.
func (h *hostFindings) certificate(host string, chain []*x509.Certificate) {
	h.expiry(host, chain[0])
	h.trust(host, chain)
	h.names(host, chain[0])
}

// expiry judges the leaf's validity period against the clock.
func (h *hostFindings) expiry(host string, leaf *x509.Certificate) {
	now := h.r.p.now()
	f := Finding{Check: CheckCertExpiry, Host: host}
	until := leaf.NotAfter.UTC().Format(time.DateOnly)
	switch {
	case now.After(leaf.NotAfter):
		f.Status, f.Detail = Fail, "the certificate expired on "+until
		f.Advice = "renew the certificate and reload the MTA (with ACME, check that the renewal hook reloads it)"
	case now.Before(leaf.NotBefore):
		f.Status, f.Detail = Fail, "the certificate is not valid before "+leaf.NotBefore.UTC().Format(time.DateOnly)
		f.Advice = "check the clock of the host that issued it, or install the previous certificate until then"
	case leaf.NotAfter.Sub(now) < h.r.p.expiryWarning():
		f.Status, f.Detail = Warn, fmt.Sprintf("the certificate expires on %s, in %d days", until, int(leaf.NotAfter.Sub(now).Hours()/24))
		f.Advice = "renew it now, and make sure the renewal reloads the MTA"
	default:
		f.Status, f.Detail = OK, "valid until "+until
	}
	h.add(f, CertificateExpired)
}

// trust verifies the chain to the roots, at a time within the leaf's
// validity so that an expired certificate is judged apart.
func (h *hostFindings) trust(host string, chain []*x509.Certificate) {
	leaf := chain[0]
	f := Finding{Check: CheckCertTrust, Host: host}
	_, err := leaf.Verify(h.r.p.verifyOptions(chain, ""))
	switch {
	case err == nil:
		f.Status, f.Detail = OK, "issued by "+leaf.Issuer.String()+", chains to a trusted root"
	case selfSigned(leaf):
		f.Status, f.Detail = Fail, "the certificate is self-signed ("+leaf.Subject.String()+")"
		f.Advice = "install a certificate from a public CA (Let's Encrypt) with its intermediates; senders that validate (MTA-STS) refuse a self-signed one"
	default:
		f.Status, f.Detail = Fail, fmt.Sprintf("the chain does not lead to a trusted root: %v", err)
		f.Advice = "serve the full chain (certificate then intermediates) from a CA senders trust; for a private CA give its root with --ca-file to check the rest"
	}
	h.add(f, CertificateNotTrusted, ValidationFailure)
}

// names checks that the leaf names host.
func (h *hostFindings) names(host string, leaf *x509.Certificate) {
	f := Finding{Check: CheckCertNames, Host: host}
	if err := leaf.VerifyHostname(host); err != nil {
		f.Status, f.Detail = Fail, fmt.Sprintf("the certificate names %s, not %s", certNames(leaf), host)
		f.Advice = "get a certificate that names " + host + " (the MX record's host name, not the domain), or point the MX record at a name the certificate has"
	} else {
		f.Status, f.Detail = OK, "the certificate names "+host
	}
	h.add(f, CertificateHostMismatch)
}

// verifyOptions verifies chain to the roots at a time within the leaf's
// validity, for name when not empty.
func (p *Prober) verifyOptions(chain []*x509.Certificate, name string) x509.VerifyOptions {
	inter := x509.NewCertPool()
	for _, c := range chain[1:] {
		inter.AddCert(c)
	}
	at := p.now()
	leaf := chain[0]
	if at.After(leaf.NotAfter) {
		at = leaf.NotAfter
	}
	if at.Before(leaf.NotBefore) {
		at = leaf.NotBefore
	}
	return x509.VerifyOptions{Roots: p.Roots, Intermediates: inter, CurrentTime: at, DNSName: name,
		KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageAny}}
}

// selfSigned reports whether c is signed by its own key.
func selfSigned(c *x509.Certificate) bool {
	return bytes.Equal(c.RawIssuer, c.RawSubject) && c.CheckSignature(c.SignatureAlgorithm, c.RawTBSCertificate, c.Signature) == nil
}

// certNames lists the names of c, at most five.
func certNames(c *x509.Certificate) string {
	names := c.DNSNames
	if len(names) == 0 && c.Subject.CommonName != "" {
		names = []string{c.Subject.CommonName + " (common name only)"}
	}
	if len(names) == 0 {
		return "no host name"
	}
	if len(names) > 5 {
		return strings.Join(names[:5], ", ") + fmt.Sprintf(" and %d more", len(names)-5)
	}
	return strings.Join(names, ", ")
}

// isCertError reports whether err is a certificate verification failure.
func isCertError(err error) bool {
	var (
		ua x509.UnknownAuthorityError
		he x509.HostnameError
		ci x509.CertificateInvalidError
	)
	return errors.As(err, &ua) || errors.As(err, &he) || errors.As(err, &ci)
}

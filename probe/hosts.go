package probe

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"net"
	"net/netip"
	"net/smtp"
	"sync"
	"time"
)

// hostFindings collects the findings of one MX host.
type hostFindings struct {
	r   *run
	out []Finding
}

func (h *hostFindings) add(f Finding, explains ...string) {
	h.out = append(h.out, h.r.finish(f, explains))
}

// checkHosts probes the MX hosts, at most Concurrency at once, and adds
// their findings in the hosts' order.
func (r *run) checkHosts(ctx context.Context, mxs []mxHost) {
	results := make([][]Finding, len(mxs))
	sem := make(chan struct{}, r.p.concurrency())
	var wg sync.WaitGroup
	for i, m := range mxs {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer func() { <-sem; wg.Done() }()
			h := &hostFindings{r: r}
			h.check(ctx, m.name)
			results[i] = h.out
		}()
	}
	wg.Wait()
	for _, fs := range results {
		r.out = append(r.out, fs...)
	}
}

// check probes one MX host: SMTP and STARTTLS, then the certificate and
// the TLSA records against the chain it presented.
func (h *hostFindings) check(ctx context.Context, host string) {
	var chain []*x509.Certificate
	if h.r.groups[groupHost] || h.r.groups[groupDANE] {
		chain = h.starttls(ctx, host)
	}
	if chain != nil && h.r.groups[groupHost] {
		h.certificate(host, chain)
	}
	if h.r.groups[groupDANE] {
		h.dane(ctx, host, chain)
	}
}

// starttls connects to port 25 of host, says EHLO, asks for STARTTLS and
// completes the handshake without judging the certificate; it returns the
// chain presented, nil when it got none.
func (h *hostFindings) starttls(ctx context.Context, host string) []*x509.Certificate {
	f := Finding{Check: CheckSMTP, Host: host}
	explains := []string{StartTLSNotSupported}
	addrs, err := h.r.res.addrs(ctx, host)
	if err != nil {
		f.Status, f.Detail, f.Advice = dnsStatus(err), err.Error(), "check the DNS server (--resolver) and the host's A and AAAA records"
		h.add(f, explains...)
		return nil
	}
	if len(addrs) == 0 {
		f.Status, f.Detail, f.Advice = Fail, "the MX host has no A or AAAA record", "publish the host's addresses, or remove the MX record"
		h.add(f, explains...)
		return nil
	}
	if addrs, err = h.r.dialable(addrs); err != nil {
		f.Status, f.Detail, f.Advice = Error, host+" "+err.Error(), nonPublicAdvice(h.r.domain)
		h.add(f, explains...)
		return nil
	}
	conn, addr, err := h.connect(ctx, addrs)
	if err != nil {
		f.Status, f.Detail = failOrError(err), err.Error()
		f.Advice = "make sure the host listens on port 25 and the firewall lets the world in"
		h.add(f, explains...)
		return nil
	}
	defer conn.Close()
	return h.session(conn, host, addr)
}

// connect dials port 25 of each address in turn until one answers.
func (h *hostFindings) connect(ctx context.Context, addrs []netip.Addr) (net.Conn, netip.AddrPort, error) {
	var err error
	for _, a := range addrs {
		ap := netip.AddrPortFrom(a, 25)
		var c net.Conn
		if c, err = h.r.p.dial(ctx, ap.String()); err == nil {
			return c, ap, nil
		}
	}
	return nil, netip.AddrPort{}, fmt.Errorf("connecting to port 25: %w", err)
}

// session speaks SMTP on conn, bounded by the timeout as a whole.
func (h *hostFindings) session(conn net.Conn, host string, addr netip.AddrPort) []*x509.Certificate {
	timeout := h.r.p.timeout()
	conn.SetDeadline(time.Now().Add(timeout))
	f := Finding{Check: CheckSMTP, Host: host}
	explains := []string{StartTLSNotSupported}
	c, err := smtp.NewClient(conn, host)
	if err != nil {
		f.Status, f.Detail = failOrError(err), fmt.Sprintf("no SMTP greeting from %s within %v: %v", addr, timeout, err)
		f.Advice = "make sure the MTA answers on port 25 (is it overloaded, or is something else listening?)"
		h.add(f, explains...)
		return nil
	}
	defer c.Close()
	if err := c.Hello(h.r.p.helloName()); err != nil {
		f.Status, f.Detail = failOrError(err), fmt.Sprintf("EHLO at %s failed: %v", addr, err)
		f.Advice = "make sure the MTA answers EHLO from the world"
		h.add(f, explains...)
		return nil
	}
	if ok, _ := c.Extension("STARTTLS"); !ok {
		f.Status, f.Detail = Fail, fmt.Sprintf("%s does not offer STARTTLS after EHLO", addr)
		f.Advice = "enable STARTTLS in the MTA with a certificate for " + host + " (Postfix: smtpd_tls_security_level = may, smtpd_tls_chain_files)"
		h.add(f, explains...)
		return nil
	}
	f.Status, f.Detail = OK, fmt.Sprintf("%s answers and offers STARTTLS", addr)
	h.add(f, explains...)
	return h.handshake(c, host, addr)
}

// handshake runs STARTTLS and reports the version; the certificate is
// judged afterwards, as senders judge it.
func (h *hostFindings) handshake(c *smtp.Client, host string, addr netip.AddrPort) []*x509.Certificate {
	f := Finding{Check: CheckTLS, Host: host}
	explains := []string{StartTLSNotSupported, ValidationFailure}
	cfg := &tls.Config{ServerName: host, InsecureSkipVerify: true, MinVersion: tls.VersionTLS10}
	if err := c.StartTLS(cfg); err != nil {
		f.Status, f.Detail = failOrError(err), fmt.Sprintf("STARTTLS handshake with %s failed: %v", addr, err)
		f.Advice = "check the MTA's TLS settings and its log for this handshake (key and certificate files readable, protocols and ciphers not too narrow)"
		h.add(f, explains...)
		return nil
	}
	st, _ := c.TLSConnectionState()
	c.Quit()
	f.Status, f.Detail = OK, fmt.Sprintf("%s, %s", tls.VersionName(st.Version), tls.CipherSuiteName(st.CipherSuite))
	if st.Version < tls.VersionTLS12 {
		f.Status, f.Advice = Warn, "allow TLS 1.2 and 1.3: many senders refuse older versions"
	}
	h.add(f, explains...)
	if len(st.PeerCertificates) == 0 {
		return nil
	}
	return st.PeerCertificates
}

// Package probetest gives the tests of tlsrpt diagnose a domain on this
// machine: dnsmasq serving its records, in-process SMTP servers offering
// STARTTLS, an HTTPS server for its MTA-STS policy, certificates from a
// test CA, and a dialer that sends port 25 and 443 of its hosts there.
package probetest

import (
	"bufio"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/sha512"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log"
	"math/big"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tlsrpt/tlsrpt/internal/dnstest"
)

// CA issues certificates for the tests.
type CA struct {
	Cert *x509.Certificate
	key  *ecdsa.PrivateKey
}

func NewCA(t testing.TB) *CA {
	t.Helper()
	key := newKey(t)
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "tlsrpt test CA"},
		NotBefore:             time.Now().Add(-24 * time.Hour * 365),
		NotAfter:              time.Now().Add(24 * time.Hour * 365),
		IsCA:                  true,
		BasicConstraintsValid: true,
		KeyUsage:              x509.KeyUsageCertSign,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, _ := x509.ParseCertificate(der)
	return &CA{Cert: cert, key: key}
}

func newKey(t testing.TB) *ecdsa.PrivateKey {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return key
}

// pool holds the CA's root alone.
func (ca *CA) Pool() *x509.CertPool {
	p := x509.NewCertPool()
	p.AddCert(ca.Cert)
	return p
}

// CertOpts vary an issued certificate.
type CertOpts struct {
	NotBefore, NotAfter time.Time
	SelfSigned          bool
}

// issue returns a certificate for names, valid from an hour ago for 90
// days unless opts say otherwise.
func (ca *CA) Issue(t testing.TB, names []string, opts CertOpts) tls.Certificate {
	t.Helper()
	key := newKey(t)
	if opts.NotBefore.IsZero() {
		opts.NotBefore = time.Now().Add(-time.Hour)
	}
	if opts.NotAfter.IsZero() {
		opts.NotAfter = time.Now().Add(90 * 24 * time.Hour)
	}
	serial, _ := rand.Int(rand.Reader, big.NewInt(1<<62))
	tmpl := &x509.Certificate{
		SerialNumber: serial,
		Subject:      pkix.Name{CommonName: names[0]},
		DNSNames:     names,
		NotBefore:    opts.NotBefore,
		NotAfter:     opts.NotAfter,
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	parent, signer := ca.Cert, ca.key
	if opts.SelfSigned {
		parent, signer = tmpl, key
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, parent, &key.PublicKey, signer)
	if err != nil {
		t.Fatal(err)
	}
	leaf, _ := x509.ParseCertificate(der)
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key, Leaf: leaf}
}

// TLSA311 is the TLSA record data 3 1 1 of a certificate.
func TLSA311(c tls.Certificate) string {
	sum := sha256.Sum256(c.Leaf.RawSubjectPublicKeyInfo)
	return "3 1 1 " + hex.EncodeToString(sum[:])
}

// SMTPMode is how the test SMTP server behaves.
type SMTPMode int

// The modes of SMTPServer.
const (
	SMTPStartTLS  SMTPMode = iota // offers STARTTLS
	SMTPPlain                     // offers no STARTTLS
	SMTPSilent                    // accepts and never says a word
	SMTPBrokenTLS                 // offers STARTTLS, says go ahead, then hangs up
	SMTPOldTLS                    // offers STARTTLS with TLS 1.1 at most
)

// SMTPServer is an in-process SMTP server: greeting, EHLO, STARTTLS,
// QUIT, enough for the probe.
type SMTPServer struct {
	Listener net.Listener
	mode     SMTPMode
	cert     tls.Certificate
	mu       sync.Mutex
	conns    int
}

func StartSMTP(t testing.TB, mode SMTPMode, cert tls.Certificate) *SMTPServer {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	return StartSMTPOn(t, ln, mode, cert)
}

// StartSMTPOn is StartSMTP on a listener of the caller's.
func StartSMTPOn(t testing.TB, ln net.Listener, mode SMTPMode, cert tls.Certificate) *SMTPServer {
	t.Helper()
	s := &SMTPServer{Listener: ln, mode: mode, cert: cert}
	var wg sync.WaitGroup
	done := make(chan struct{})
	t.Cleanup(func() { close(done); ln.Close(); wg.Wait() })
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			s.mu.Lock()
			s.conns++
			s.mu.Unlock()
			wg.Add(1)
			go func() {
				defer wg.Done()
				defer c.Close()
				if s.mode == SMTPSilent {
					<-done
					return
				}
				s.serve(c)
			}()
		}
	}()
	return s
}

// connections is how many connections the server accepted.
func (s *SMTPServer) Connections() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.conns
}

func (s *SMTPServer) serve(c net.Conn) {
	c.SetDeadline(time.Now().Add(time.Minute))
	rw := bufio.NewReadWriter(bufio.NewReader(c), bufio.NewWriter(c))
	say := func(lines ...string) {
		for _, l := range lines {
			rw.WriteString(l + "\r\n")
		}
		rw.Flush()
	}
	say("220 mx.test ESMTP")
	tlsOn := false
	for {
		line, err := rw.ReadString('\n')
		if err != nil {
			return
		}
		verb := strings.ToUpper(strings.Fields(line + " x")[0])
		switch {
		case verb == "EHLO" && s.mode != SMTPPlain && !tlsOn:
			say("250-mx.test", "250-STARTTLS", "250 8BITMIME")
		case verb == "EHLO":
			say("250-mx.test", "250 8BITMIME")
		case verb == "STARTTLS" && s.mode == SMTPBrokenTLS:
			say("220 go ahead")
			return
		case verb == "STARTTLS" && s.mode != SMTPPlain && !tlsOn:
			say("220 go ahead")
			cfg := &tls.Config{Certificates: []tls.Certificate{s.cert}}
			if s.mode == SMTPOldTLS {
				cfg.MinVersion, cfg.MaxVersion = tls.VersionTLS10, tls.VersionTLS11
			}
			tc := tls.Server(c, cfg)
			if tc.Handshake() != nil {
				return
			}
			rw = bufio.NewReadWriter(bufio.NewReader(tc), bufio.NewWriter(tc))
			tlsOn = true
		case verb == "QUIT":
			say("221 bye")
			return
		default:
			say("502 not here")
		}
	}
}

// world is a domain with its DNS records, MX servers and policy server,
// all on this machine. Host names resolve to addresses of 127.0.1.0/24
// that nothing listens on; the prober's Dial sends port 25 and 443 of
// those to the test servers, and fails the test on anything else.
type World struct {
	t      testing.TB
	real   bool // the servers listen on the hosts' own addresses and ports
	public bool // the hosts' addresses are of 192.0.2.0/24, not loopback
	Domain string
	CA     *CA
	Rec    dnstest.Records
	routes map[string]string // "127.0.1.N:PORT" -> the test server's address

	mu     sync.Mutex
	Dialed []string
	nextIP int
}

const Policy = "version: STSv1\r\nmode: enforce\r\nmx: mx1.%[1]s\r\nmx: *.backup.%[1]s\r\nmax_age: 604800\r\n"

// Healthy is a domain with everything right: one MX host offering
// STARTTLS with a certificate of the test CA, a matching TLSA record, a
// TLSRPT record and an MTA-STS policy covering the MX host.
func Healthy(t testing.TB, domain string) *World {
	return newWorld(t, domain, false, false)
}

// HealthyReal is Healthy with its servers on port 25 and 443 of the
// hosts' own addresses, for a test in a network namespace of its own
// (internal/netnstest) that probes with the prober's real dialer.
func HealthyReal(t testing.TB, domain string) *World {
	return newWorld(t, domain, true, false)
}

// HealthyPublic is Healthy with the hosts' addresses in 192.0.2.0/24
// (TEST-NET-1), which the prober takes for public ones, so that a domain
// from the reports is probed; Dial still sends their port 25 and 443 to
// the test servers, and nothing else.
func HealthyPublic(t testing.TB, domain string) *World {
	return newWorld(t, domain, false, true)
}

func newWorld(t testing.TB, domain string, real, public bool) *World {
	w := &World{t: t, real: real, public: public, Domain: domain, CA: NewCA(t), routes: map[string]string{}, nextIP: 1,
		Rec: dnstest.Records{TXT: map[string][]string{}, Host: map[string][]string{}, MX: map[string][]string{}}}
	mx := "mx1." + domain
	cert := w.CA.Issue(t, []string{mx}, CertOpts{})
	w.AddMX(mx, StartSMTPOn(t, w.ListenFor(mx, 25), SMTPStartTLS, cert))
	w.Rec.RR = append(w.Rec.RR, "_25._tcp."+mx+". 300 IN TLSA "+TLSA311(cert))
	w.Rec.TXT["_smtp._tls."+domain] = []string{"v=TLSRPTv1; rua=mailto:tlsrpt@" + domain}
	w.Rec.TXT["_mta-sts."+domain] = []string{"v=STSv1; id=20260101T000000"}
	w.ServePolicy(w.CA.Issue(t, []string{"mta-sts." + domain}, CertOpts{}), PolicyText(fmt.Sprintf(Policy, domain)))
	return w
}

// AddMX adds host as an MX record served by s (in a real world, s must
// listen on ListenFor(host, 25)).
func (w *World) AddMX(host string, s *SMTPServer) {
	w.Rec.MX[w.Domain] = append(w.Rec.MX[w.Domain], host)
	if !w.real {
		w.Route(host, 25, s.Listener.Addr().String())
	}
}

// ListenFor listens for port of host: on the host's own address and port
// in a real world, else on a free loopback port routed from them.
func (w *World) ListenFor(host string, port int) net.Listener {
	w.t.Helper()
	ip := w.ip(host)
	addr := "127.0.0.1:0"
	if w.real {
		addr = net.JoinHostPort(ip, fmt.Sprint(port))
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		w.t.Fatal(err)
	}
	w.t.Cleanup(func() { ln.Close() })
	if !w.real {
		w.Route(host, port, ln.Addr().String())
	}
	return ln
}

// ip gives host an address of its own.
func (w *World) ip(host string) string {
	ip, ok := w.Rec.Host[host]
	if !ok {
		ip = []string{fmt.Sprintf("127.0.1.%d", w.nextIP)}
		if w.public {
			ip = []string{fmt.Sprintf("192.0.2.%d", w.nextIP)}
		}
		w.nextIP++
		w.Rec.Host[host] = ip
	}
	return ip[0]
}

// Route gives host an address of its own and sends port of it to addr.
func (w *World) Route(host string, port int, addr string) {
	w.routes[net.JoinHostPort(w.ip(host), fmt.Sprint(port))] = addr
}

// ServePolicy serves h as https://mta-sts.DOMAIN with cert.
func (w *World) ServePolicy(cert tls.Certificate, h http.Handler) {
	srv := httptest.NewUnstartedServer(h)
	srv.TLS = &tls.Config{Certificates: []tls.Certificate{cert}}
	srv.Config.ErrorLog = log.New(io.Discard, "", 0)
	srv.Listener.Close()
	srv.Listener = w.ListenFor("mta-sts."+w.Domain, 443)
	srv.StartTLS()
	w.t.Cleanup(srv.Close)
}

// PolicyText serves a policy as text/plain.
func PolicyText(p string) http.Handler {
	return http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/.well-known/mta-sts.txt" {
			http.NotFound(rw, r)
			return
		}
		rw.Header().Set("Content-Type", "text/plain; charset=utf-8")
		fmt.Fprint(rw, p)
	})
}

// dial is the prober's Dial: only routed addresses, recorded.
func (w *World) Dial(ctx context.Context, network, address string) (net.Conn, error) {
	w.mu.Lock()
	w.Dialed = append(w.Dialed, address)
	w.mu.Unlock()
	to, ok := w.routes[address]
	if !ok {
		w.t.Errorf("the prober dialed %s, which is no MX host's port 25 nor the policy host's port 443", address)
		return nil, errors.New("test: no route")
	}
	var d net.Dialer
	return d.DialContext(ctx, network, to)
}

// NoCert is no certificate, for servers that never reach TLS.
func NoCert() tls.Certificate { return tls.Certificate{} }

// SHA512Hex is the TLSA matching type 2 of data.
func SHA512Hex(data []byte) string {
	sum := sha512.Sum512(data)
	return hex.EncodeToString(sum[:])
}

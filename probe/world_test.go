package probe

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

	"github.com/miekg/dns"

	"github.com/tlsrpt/tlsrpt/allowlist/dnstest"
)

// testCA issues certificates for the tests.
type testCA struct {
	cert *x509.Certificate
	key  *ecdsa.PrivateKey
}

func newCA(t testing.TB) *testCA {
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
	return &testCA{cert: cert, key: key}
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
func (ca *testCA) pool() *x509.CertPool {
	p := x509.NewCertPool()
	p.AddCert(ca.cert)
	return p
}

// certOpts vary an issued certificate.
type certOpts struct {
	notBefore, notAfter time.Time
	selfSigned          bool
}

// issue returns a certificate for names, valid from an hour ago for 90
// days unless opts say otherwise.
func (ca *testCA) issue(t testing.TB, names []string, opts certOpts) tls.Certificate {
	t.Helper()
	key := newKey(t)
	if opts.notBefore.IsZero() {
		opts.notBefore = time.Now().Add(-time.Hour)
	}
	if opts.notAfter.IsZero() {
		opts.notAfter = time.Now().Add(90 * 24 * time.Hour)
	}
	serial, _ := rand.Int(rand.Reader, big.NewInt(1<<62))
	tmpl := &x509.Certificate{
		SerialNumber: serial,
		Subject:      pkix.Name{CommonName: names[0]},
		DNSNames:     names,
		NotBefore:    opts.notBefore,
		NotAfter:     opts.notAfter,
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	parent, signer := ca.cert, ca.key
	if opts.selfSigned {
		parent, signer = tmpl, key
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, parent, &key.PublicKey, signer)
	if err != nil {
		t.Fatal(err)
	}
	leaf, _ := x509.ParseCertificate(der)
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key, Leaf: leaf}
}

// tlsa311 is the TLSA record data 3 1 1 of a certificate.
func tlsa311(c tls.Certificate) string {
	sum := sha256.Sum256(c.Leaf.RawSubjectPublicKeyInfo)
	return "3 1 1 " + hex.EncodeToString(sum[:])
}

// smtpMode is how the test SMTP server behaves.
type smtpMode int

const (
	smtpSTARTTLS smtpMode = iota // offers STARTTLS
	smtpPlain                    // offers no STARTTLS
	smtpSilent                   // accepts and never says a word
)

// smtpServer is an in-process SMTP server: greeting, EHLO, STARTTLS,
// QUIT, enough for the probe.
type smtpServer struct {
	ln    net.Listener
	mode  smtpMode
	cert  tls.Certificate
	mu    sync.Mutex
	conns int
}

func startSMTP(t testing.TB, mode smtpMode, cert tls.Certificate) *smtpServer {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := &smtpServer{ln: ln, mode: mode, cert: cert}
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
				if s.mode == smtpSilent {
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
func (s *smtpServer) connections() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.conns
}

func (s *smtpServer) serve(c net.Conn) {
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
		case verb == "EHLO" && s.mode == smtpSTARTTLS && !tlsOn:
			say("250-mx.test", "250-STARTTLS", "250 8BITMIME")
		case verb == "EHLO":
			say("250-mx.test", "250 8BITMIME")
		case verb == "STARTTLS" && s.mode == smtpSTARTTLS && !tlsOn:
			say("220 go ahead")
			tc := tls.Server(c, &tls.Config{Certificates: []tls.Certificate{s.cert}})
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
type world struct {
	t      *testing.T
	domain string
	ca     *testCA
	rec    dnstest.Records
	routes map[string]string // "127.0.1.N:PORT" -> the test server's address

	mu     sync.Mutex
	dialed []string
	nextIP int
}

const testPolicy = "version: STSv1\r\nmode: enforce\r\nmx: mx1.%[1]s\r\nmx: *.backup.%[1]s\r\nmax_age: 604800\r\n"

// healthyWorld is a domain with everything right: one MX host offering
// STARTTLS with a certificate of the test CA, a matching TLSA record, a
// TLSRPT record and an MTA-STS policy covering the MX host.
func healthyWorld(t *testing.T, domain string) *world {
	w := &world{t: t, domain: domain, ca: newCA(t), routes: map[string]string{}, nextIP: 1,
		rec: dnstest.Records{TXT: map[string][]string{}, Host: map[string][]string{}, MX: map[string][]string{}}}
	mx := "mx1." + domain
	cert := w.ca.issue(t, []string{mx}, certOpts{})
	w.addMX(mx, startSMTP(t, smtpSTARTTLS, cert))
	w.rec.RR = append(w.rec.RR, "_25._tcp."+mx+". 300 IN TLSA "+tlsa311(cert))
	w.rec.TXT["_smtp._tls."+domain] = []string{"v=TLSRPTv1; rua=mailto:tlsrpt@" + domain}
	w.rec.TXT["_mta-sts."+domain] = []string{"v=STSv1; id=20260101T000000"}
	w.servePolicy(w.ca.issue(t, []string{"mta-sts." + domain}, certOpts{}), policyText(fmt.Sprintf(testPolicy, domain)))
	return w
}

// addMX adds host as an MX record served by s.
func (w *world) addMX(host string, s *smtpServer) {
	w.rec.MX[w.domain] = append(w.rec.MX[w.domain], host)
	w.route(host, 25, s.ln.Addr().String())
}

// route gives host an address of its own and sends port of it to addr.
func (w *world) route(host string, port int, addr string) {
	ip, ok := w.rec.Host[host]
	if !ok {
		ip = []string{fmt.Sprintf("127.0.1.%d", w.nextIP)}
		w.nextIP++
		w.rec.Host[host] = ip
	}
	w.routes[fmt.Sprintf("%s:%d", ip[0], port)] = addr
}

// servePolicy serves h as https://mta-sts.DOMAIN with cert.
func (w *world) servePolicy(cert tls.Certificate, h http.Handler) {
	srv := httptest.NewUnstartedServer(h)
	srv.TLS = &tls.Config{Certificates: []tls.Certificate{cert}}
	srv.Config.ErrorLog = log.New(io.Discard, "", 0)
	srv.StartTLS()
	w.t.Cleanup(srv.Close)
	w.route("mta-sts."+w.domain, 443, srv.Listener.Addr().String())
}

// policyText serves a policy as text/plain.
func policyText(p string) http.Handler {
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
func (w *world) dial(ctx context.Context, network, address string) (net.Conn, error) {
	w.mu.Lock()
	w.dialed = append(w.dialed, address)
	w.mu.Unlock()
	to, ok := w.routes[address]
	if !ok {
		w.t.Errorf("the prober dialed %s, which is no MX host's port 25 nor the policy host's port 443", address)
		return nil, errors.New("test: no route")
	}
	var d net.Dialer
	return d.DialContext(ctx, network, to)
}

// prober starts the DNS server and returns a prober of this world.
func (w *world) prober() *Prober {
	return &Prober{Resolver: dnstest.Start(w.t, w.rec), Roots: w.ca.pool(), Dial: w.dial, Timeout: 5 * time.Second, HelloName: "probe.test"}
}

// diagnose runs every check of the world's domain.
func (w *world) diagnose(p *Prober, req Request) []Finding {
	w.t.Helper()
	if req.Domain == "" {
		req.Domain = w.domain
	}
	fs, err := p.Diagnose(context.Background(), req)
	if err != nil {
		w.t.Fatal(err)
	}
	return fs
}

// validatingProxy is a DNS server written with miekg/dns that forwards to
// upstream and sets the AD bit on every answer, standing in for a
// validating resolver of a signed zone (dnsmasq only validates a zone
// actually signed up to a trust anchor).
func validatingProxy(t testing.TB, upstream string) string {
	t.Helper()
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &dns.Server{PacketConn: pc, Handler: dns.HandlerFunc(func(rw dns.ResponseWriter, q *dns.Msg) {
		in, err := dns.Exchange(q, upstream)
		if err != nil {
			m := new(dns.Msg)
			m.SetRcode(q, dns.RcodeServerFailure)
			rw.WriteMsg(m)
			return
		}
		in.AuthenticatedData = true
		rw.WriteMsg(in)
	})}
	started := make(chan struct{})
	srv.NotifyStartedFunc = func() { close(started) }
	go srv.ActivateAndServe()
	<-started
	t.Cleanup(func() { srv.Shutdown() })
	return pc.LocalAddr().String()
}

// find returns the finding of check for host, failing the test when there
// is none.
func find(t *testing.T, fs []Finding, check, host string) Finding {
	t.Helper()
	for _, f := range fs {
		if f.Check == check && f.Host == host {
			return f
		}
	}
	t.Fatalf("no %s finding for %s in:\n%s", check, host, dump(fs))
	return Finding{}
}

// want checks a finding's status and that its detail holds substr.
func want(t *testing.T, fs []Finding, check, host string, status Status, substr string) Finding {
	t.Helper()
	f := find(t, fs, check, host)
	if f.Status != status || !strings.Contains(f.Detail, substr) {
		t.Errorf("%s %s: got %s %q, want %s with %q\nall findings:\n%s", check, host, f.Status, f.Detail, status, substr, dump(fs))
	}
	return f
}

func dump(fs []Finding) string {
	var b strings.Builder
	for _, f := range fs {
		fmt.Fprintf(&b, "  %-13s %-28s %-5s %s | %s %v\n", f.Check, f.Host, f.Status, f.Detail, f.Advice, f.ResultTypes)
	}
	return b.String()
}

// tlsCertZero is no certificate, for servers that never reach TLS.
func tlsCertZero() tls.Certificate { return tls.Certificate{} }

// sha512Hex is the TLSA matching type 2 of data.
func sha512Hex(data []byte) string {
	sum := sha512.Sum512(data)
	return hex.EncodeToString(sum[:])
}

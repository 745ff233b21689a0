// Package dnstest runs a real DNS server, Debian's dnsmasq, on loopback for
// tests, serving only the records a test gives it.
//
// Every query goes to that server and nowhere else: dnsmasq is started
// without upstream servers, without /etc/hosts, and with every domain marked
// local, so names it does not know are answered NXDOMAIN at once.
package dnstest

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/miekg/dns"

	"github.com/tlsrpt/tlsrpt/internal/testenv"
)

// TTL is the time to live, in seconds, of every answer the server gives.
const TTL = 300

// Records are the DNS records a test server serves. Names may be given with
// or without the final dot.
type Records struct {
	// TXT maps a name to its TXT records, one string per record. Strings
	// longer than 255 bytes are split into several character-strings of
	// one record, as DKIM keys need.
	TXT map[string][]string
	// PTR maps an IP address (not its in-addr.arpa name) to the names its
	// PTR records give.
	PTR map[string][]string
	// Host maps a name to its A and AAAA addresses. dnsmasq also answers
	// the matching PTR queries for these addresses with the name.
	Host map[string][]string
	// MX maps a name to its mail exchangers, lowest preference first.
	MX map[string][]string
	// RR are records of any other type (TLSA, for one) in zone-file
	// form: "_25._tcp.mx.example.test. 300 IN TLSA 3 1 1 ab12...".
	// dnsmasq serves them as given, without DNSSEC: no answer of this
	// server carries the AD bit.
	RR []string
	// Forward, when set (HOST#PORT), sends every query dnsmasq cannot
	// answer from these records to that server of the test's own,
	// instead of answering NXDOMAIN.
	Forward string
	// Config are more dnsmasq options, one per line as in its
	// configuration file: "dnssec" and "trust-anchor=..." make dnsmasq
	// validate what it forwards.
	Config []string
}

// Start starts dnsmasq on a free loopback port serving records and returns
// its address as HOST:PORT. The server is stopped when the test ends. Start
// skips the test when dnsmasq is not installed (failing it under
// $TLSRPT_TEST_REQUIRE_ALL=1, as testenv does).
func Start(t testing.TB, records Records) string {
	t.Helper()
	bin := testenv.MustHaveExec(t, "dnsmasq", "dnsmasq-base")
	conf, err := config(records)
	if err != nil {
		t.Fatalf("dnstest: %v", err)
	}
	dir := t.TempDir()
	file := filepath.Join(dir, "dnsmasq.conf")
	if err := os.WriteFile(file, []byte(conf), 0o644); err != nil {
		t.Fatalf("dnstest: writing %s: %v", file, err)
	}
	var lastErr error
	for attempt := 0; attempt < 5; attempt++ {
		port, err := FreePort()
		if err != nil {
			t.Fatalf("dnstest: %v", err)
		}
		addr := net.JoinHostPort("127.0.0.1", fmt.Sprint(port))
		cmd := exec.Command(bin,
			"--keep-in-foreground", "--no-resolv", "--no-hosts", "--no-poll",
			fmt.Sprintf("--port=%d", port), "--listen-address=127.0.0.1",
			"--bind-interfaces", "--conf-file="+file, "--user=root",
			"--pid-file=", fmt.Sprintf("--local-ttl=%d", TTL), "--log-facility=-")
		var stderr strings.Builder
		cmd.Stderr = &stderr
		if err := cmd.Start(); err != nil {
			t.Fatalf("dnstest: starting %s: %v", bin, err)
		}
		done := make(chan error, 1)
		go func() { done <- cmd.Wait() }()
		if err := waitReady(addr, done); err != nil {
			_ = cmd.Process.Kill()
			if !errors.Is(err, errExited) {
				<-done
			}
			lastErr = fmt.Errorf("%w: %s", err, strings.TrimSpace(stderr.String()))
			continue
		}
		t.Cleanup(func() {
			_ = cmd.Process.Kill()
			<-done
		})
		return addr
	}
	t.Fatalf("dnstest: dnsmasq did not start: %v", lastErr)
	return ""
}

// FreePort returns a loopback port that is free for both UDP and TCP at the
// time of the call. Tests also use it for an address where nothing answers.
func FreePort() (int, error) {
	for i := 0; i < 20; i++ {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return 0, fmt.Errorf("finding a free port: %w", err)
		}
		port := l.Addr().(*net.TCPAddr).Port
		u, err := net.ListenPacket("udp", fmt.Sprintf("127.0.0.1:%d", port))
		l.Close()
		if err != nil {
			continue
		}
		u.Close()
		return port, nil
	}
	return 0, errors.New("finding a free port: none free for both udp and tcp")
}

// Down returns the address of a loopback port where no DNS server
// listens, as a server that is down looks, failing t when no port is free.
func Down(t testing.TB) string {
	t.Helper()
	port, err := FreePort()
	if err != nil {
		t.Fatal(err)
	}
	return fmt.Sprintf("127.0.0.1:%d", port)
}

// errExited is waitReady's error when dnsmasq exited.
var errExited = errors.New("dnsmasq exited")

// waitReady polls the server until it answers or its process exits (dnsmasq
// gives no other sign that it is ready), for at most testenv.Patience.
func waitReady(addr string, exited <-chan error) error {
	c := &dns.Client{Timeout: 200 * time.Millisecond}
	m := new(dns.Msg)
	m.SetQuestion("dnstest.ready.invalid.", dns.TypeA)
	deadline := time.Now().Add(testenv.Patience)
	for time.Now().Before(deadline) {
		select {
		case err := <-exited:
			return fmt.Errorf("%w: %v", errExited, err)
		default:
		}
		if _, _, err := c.Exchange(m, addr); err == nil {
			return nil
		}
		time.Sleep(20 * time.Millisecond)
	}
	return fmt.Errorf("dnsmasq did not answer within %v", testenv.Patience)
}

// config renders records as a dnsmasq configuration file.
func config(r Records) (string, error) {
	var b strings.Builder
	// Every domain is local: unknown names get NXDOMAIN, nothing is forwarded.
	if r.Forward != "" {
		b.WriteString("server=" + r.Forward + "\n")
	} else {
		b.WriteString("local=/#/\n")
	}
	for _, line := range r.Config {
		if strings.ContainsAny(line, "\n") {
			return "", fmt.Errorf("config line %q: newlines are not supported", line)
		}
		b.WriteString(line + "\n")
	}
	for _, name := range sortedKeys(r.TXT) {
		for _, txt := range r.TXT[name] {
			if strings.ContainsAny(txt, "\"\\\n") {
				return "", fmt.Errorf("txt record for %s: quotes, backslashes and newlines are not supported", name)
			}
			fmt.Fprintf(&b, "txt-record=%s,%s\n", bare(name), quoteChunks(txt))
		}
	}
	for _, ip := range sortedKeys(r.PTR) {
		rev, err := dns.ReverseAddr(ip)
		if err != nil {
			return "", fmt.Errorf("ptr record for %q: %w", ip, err)
		}
		for _, name := range r.PTR[ip] {
			fmt.Fprintf(&b, "ptr-record=%s,%s\n", bare(rev), bare(name))
		}
	}
	for _, name := range sortedKeys(r.Host) {
		var v4, v6 []string
		for _, s := range r.Host[name] {
			a, err := netip.ParseAddr(s)
			if err != nil {
				return "", fmt.Errorf("host record for %s: %w", name, err)
			}
			if a.Is4() {
				v4 = append(v4, a.String())
			} else {
				v6 = append(v6, a.String())
			}
		}
		// host-record takes at most one address of each family.
		for i := 0; i < max(len(v4), len(v6)); i++ {
			fields := []string{bare(name)}
			if i < len(v4) {
				fields = append(fields, v4[i])
			}
			if i < len(v6) {
				fields = append(fields, v6[i])
			}
			fmt.Fprintf(&b, "host-record=%s\n", strings.Join(fields, ","))
		}
	}
	for _, line := range r.RR {
		name, rrtype, data, err := rawRecord(line)
		if err != nil {
			return "", err
		}
		fmt.Fprintf(&b, "dns-rr=%s,%d,%s\n", name, rrtype, data)
	}
	for _, name := range sortedKeys(r.MX) {
		for i, host := range r.MX[name] {
			fmt.Fprintf(&b, "mx-host=%s,%s,%d\n", bare(name), bare(host), 10*(i+1))
		}
	}
	return b.String(), nil
}

// rawRecord parses a record in zone-file form into its name, type and
// record data in hex, as dnsmasq's dns-rr option takes them.
func rawRecord(line string) (name string, rrtype uint16, data string, err error) {
	rr, err := dns.NewRR(line)
	if err != nil || rr == nil {
		return "", 0, "", fmt.Errorf("record %q: %v", line, err)
	}
	buf := make([]byte, dns.MaxMsgSize)
	off, err := dns.PackRR(rr, buf, 0, nil, false)
	if err != nil {
		return "", 0, "", fmt.Errorf("record %q: %w", line, err)
	}
	rdata := buf[off-int(rr.Header().Rdlength) : off]
	return bare(rr.Header().Name), rr.Header().Rrtype, fmt.Sprintf("%x", rdata), nil
}

// quoteChunks splits s into quoted strings of at most 255 bytes.
func quoteChunks(s string) string {
	var parts []string
	for len(s) > 255 {
		parts = append(parts, `"`+s[:255]+`"`)
		s = s[255:]
	}
	parts = append(parts, `"`+s+`"`)
	return strings.Join(parts, ",")
}

func bare(name string) string { return strings.TrimSuffix(name, ".") }

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

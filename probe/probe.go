// Package probe checks, live and from the outside, what the failures of
// SMTP TLS reports (RFC 8460) can be caused by: the domain's TLSRPT record,
// its MX hosts (SMTP and STARTTLS on port 25, the certificate they
// present), its MTA-STS policy (RFC 8461) and its TLSA records (DANE,
// RFC 7672). Each check gives a Finding with the advice that fixes it.
//
// Probes go only to hosts the domain names in DNS: port 25 of its MX
// hosts and port 443 of mta-sts.DOMAIN. A host a report names as its
// receiving-mx-hostname that is not an MX record of the domain is listed
// and never connected to: what a report names is data, never a target.
// Every DNS query, connection and fetch is bounded by a timeout, and the
// number of hosts probed and probed at once is bounded too.
package probe

import (
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/tlsrpt/tlsrpt/internal/pkgerr"
)

// Status is the verdict of one finding.
type Status string

// Statuses, from best to worst but for Error, which says a probe could
// not run (a DNS failure, a timeout) and so tells nothing of the cause.
const (
	OK    Status = "ok"
	Warn  Status = "warn"
	Fail  Status = "fail"
	Error Status = "error"
)

// Finding is the result of one check of one host.
type Finding struct {
	Check       string   `json:"check"`        // what was checked, one of the Check constants
	Host        string   `json:"host"`         // the domain, MX host or policy host checked
	Status      Status   `json:"status"`       // ok, warn, fail or error
	Detail      string   `json:"detail"`       // what was seen
	Advice      string   `json:"advice"`       // what to do, empty when nothing
	ResultTypes []string `json:"result_types"` // the RFC 8460 result types this finding explains
}

// Names of the checks.
const (
	CheckTLSRPT     = "tlsrpt-record" // _smtp._tls.DOMAIN TXT
	CheckMX         = "mx"            // the MX records
	CheckReportedMX = "reported-mx"   // a receiving-mx-hostname that is no MX record: never probed
	CheckSMTP       = "smtp"          // port 25 connects, EHLO offers STARTTLS
	CheckTLS        = "tls"           // the STARTTLS handshake and its version
	CheckCertTrust  = "cert-trust"    // the chain leads to a trusted root
	CheckCertExpiry = "cert-expiry"   // the certificate is valid now and for a while
	CheckCertNames  = "cert-names"    // the certificate names the MX host
	CheckSTSRecord  = "sts-record"    // _mta-sts.DOMAIN TXT
	CheckSTSPolicy  = "sts-policy"    // the policy fetch by RFC 8461's rules
	CheckSTSSyntax  = "sts-syntax"    // the policy's fields
	CheckSTSMX      = "sts-mx"        // every MX host matches an mx pattern
	CheckSTSChanged = "sts-changed"   // the live policy against the reported policy-string
	CheckDANETLSA   = "dane-tlsa"     // TLSA records and DNSSEC validation
	CheckDANEMatch  = "dane-match"    // a TLSA record matches the chain presented
)

// Defaults of the zero Prober.
const (
	DefaultTimeout       = 10 * time.Second
	DefaultMaxHosts      = 10
	DefaultConcurrency   = 4
	DefaultExpiryWarning = 14 * 24 * time.Hour
	// MaxPolicySize bounds the MTA-STS policy read (RFC 8461 §3.3 lets
	// senders bound it; 64 KiB is what they use).
	MaxPolicySize = 64 << 10
	// MaxReportedMX bounds the reported receiving-mx-hostnames listed.
	MaxReportedMX = 20
)

// Prober runs the checks. Its zero value asks the first name server of
// /etc/resolv.conf, trusts the system roots, and uses the defaults above.
type Prober struct {
	// Resolver is the DNS server as HOST:PORT; empty means the first name
	// server of /etc/resolv.conf. Ask a validating resolver: the DANE
	// check reads its AD bit.
	Resolver string
	// Timeout bounds each DNS query, each SMTP session and each policy
	// fetch; zero means DefaultTimeout.
	Timeout time.Duration
	// MaxHosts bounds the MX hosts probed per domain; zero means
	// DefaultMaxHosts.
	MaxHosts int
	// Concurrency bounds the MX hosts probed at once; zero means
	// DefaultConcurrency.
	Concurrency int
	// ExpiryWarning is how close to its expiry a certificate is a
	// warning; zero means DefaultExpiryWarning.
	ExpiryWarning time.Duration
	// Roots are the trusted roots; nil means the system's.
	Roots *x509.CertPool
	// Now is the clock certificates are judged by; nil means time.Now.
	Now func() time.Time
	// HelloName is the name given in EHLO; empty means the host name.
	HelloName string
	// Dial connects; nil means a net.Dialer. The prober only ever asks
	// it for port 25 of an address of an MX host and port 443 of an
	// address of mta-sts.DOMAIN, both found in DNS: tests set it to send
	// those to their own servers.
	Dial func(ctx context.Context, network, address string) (net.Conn, error)
}

// Request is what to diagnose for one domain.
type Request struct {
	// Domain is the policy domain.
	Domain string
	// ResultTypes are the failing result types the reports named; the
	// checks that explain them run. Empty runs every check, as All does.
	ResultTypes []string
	// All runs every check whatever the result types.
	All bool
	// ReportedMX are the receiving-mx-hostnames the reports named: those
	// that are not MX records of Domain are listed, never probed.
	ReportedMX []string
	// PolicyStrings are the MTA-STS policy-strings the reports carried,
	// one per distinct policy: the live policy is compared with them.
	PolicyStrings [][]string
	// AllowNonPublic lets the probes connect to loopback, private,
	// link-local and shared addresses. Leave it false for a domain a
	// report chose: its DNS could point the probes at this host or the
	// local network. The command sets it for the domains named on its
	// command line.
	AllowNonPublic bool
}

// ErrDomain is returned for a domain that is no domain name.
var ErrDomain = pkgerr.New("probe", "not a domain name")

// ErrNonPublic says a host resolves only to addresses that are not
// probed for a domain a report chose.
var ErrNonPublic = errors.New("resolves only to non-public addresses, not probed for a domain from the reports")

// sharedSpace is RFC 6598's shared address space (carrier-grade NAT).
var sharedSpace = netip.MustParsePrefix("100.64.0.0/10")

// public reports whether a is an address of the public Internet.
func public(a netip.Addr) bool {
	a = a.Unmap()
	return a.IsGlobalUnicast() && !a.IsPrivate() && !sharedSpace.Contains(a)
}

// dialable returns the addresses the probes may connect to: all with
// AllowNonPublic, else the public ones, and ErrNonPublic when none is.
func (r *run) dialable(addrs []netip.Addr) ([]netip.Addr, error) {
	if r.req.AllowNonPublic {
		return addrs, nil
	}
	var out []netip.Addr
	for _, a := range addrs {
		if public(a) {
			out = append(out, a)
		}
	}
	if len(out) == 0 && len(addrs) > 0 {
		return nil, fmt.Errorf("%w (%v)", ErrNonPublic, addrs[0])
	}
	return out, nil
}

// nonPublicAdvice is the advice of a host not probed for ErrNonPublic.
func nonPublicAdvice(domain string) string {
	return "if this is your own setup, name the domain: tlsrpt diagnose " + domain
}

// Diagnose runs the checks req calls for and returns their findings in a
// stable order: the TLSRPT record, the MX records, the reported hosts
// that are not MX records, MTA-STS, then each MX host.
func (p *Prober) Diagnose(ctx context.Context, req Request) ([]Finding, error) {
	domain := canonName(req.Domain)
	if !ValidDomain(req.Domain) {
		return nil, fmt.Errorf("%w: %q", ErrDomain, req.Domain)
	}
	server, err := serverOf(p.Resolver)
	if err != nil {
		return nil, pkgerr.Errorf("probe", "%w", err)
	}
	r := &run{p: p, domain: domain, req: req, res: &resolver{server: server, timeout: p.timeout()}}
	r.groups = groupsFor(req)
	r.checkTLSRPT(ctx)
	mxs := r.checkMX(ctx)
	r.checkReportedMX(mxs)
	if r.groups[groupSTS] {
		r.checkSTS(ctx, mxs)
	}
	if r.groups[groupHost] || r.groups[groupDANE] {
		r.checkHosts(ctx, mxs)
	}
	return r.out, nil
}

func (p *Prober) timeout() time.Duration {
	if p.Timeout > 0 {
		return p.Timeout
	}
	return DefaultTimeout
}

func (p *Prober) now() time.Time {
	if p.Now != nil {
		return p.Now()
	}
	return time.Now()
}

func (p *Prober) maxHosts() int {
	if p.MaxHosts > 0 {
		return p.MaxHosts
	}
	return DefaultMaxHosts
}

func (p *Prober) concurrency() int {
	if p.Concurrency > 0 {
		return p.Concurrency
	}
	return DefaultConcurrency
}

func (p *Prober) expiryWarning() time.Duration {
	if p.ExpiryWarning > 0 {
		return p.ExpiryWarning
	}
	return DefaultExpiryWarning
}

func (p *Prober) helloName() string {
	if p.HelloName != "" {
		return p.HelloName
	}
	if h, err := os.Hostname(); err == nil && ValidDomain(h) {
		return h
	}
	return "localhost"
}

func (p *Prober) dial(ctx context.Context, address string) (net.Conn, error) {
	ctx, cancel := context.WithTimeout(ctx, p.timeout())
	defer cancel()
	if p.Dial != nil {
		return p.Dial(ctx, "tcp", address)
	}
	var d net.Dialer
	return d.DialContext(ctx, "tcp", address)
}

// run is one domain's diagnosis.
type run struct {
	p      *Prober
	domain string
	req    Request
	res    *resolver
	groups map[group]bool

	mu  sync.Mutex
	out []Finding
}

// add appends a finding whose check explains the result types explains.
func (r *run) add(f Finding, explains ...string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.out = append(r.out, r.finish(f, explains))
}

// finish fills in the result types f explains: those of explains that the
// reports named, or all of explains when they named none.
func (r *run) finish(f Finding, explains []string) Finding {
	f.ResultTypes = []string{}
	for _, t := range explains {
		if len(r.req.ResultTypes) == 0 || slices.Contains(r.req.ResultTypes, t) {
			f.ResultTypes = append(f.ResultTypes, t)
		}
	}
	return f
}

// reported reports whether the reports named any of types.
func (r *run) reported(types ...string) bool {
	for _, t := range types {
		if slices.Contains(r.req.ResultTypes, t) {
			return true
		}
	}
	return false
}

// dnsStatus is the status of a failed lookup: a SERVFAIL is the domain's
// fault when its zone is signed (fail), anything else says the probe
// could not run (error).
func dnsStatus(err error) Status {
	if errors.Is(err, errServFail) {
		return Fail
	}
	return Error
}

// timedOut reports whether err is a timeout.
func timedOut(err error) bool {
	var ne net.Error
	return errors.Is(err, context.DeadlineExceeded) || errors.As(err, &ne) && ne.Timeout()
}

// failOrError is Error for a timeout (the probe could not tell), else Fail.
func failOrError(err error) Status {
	if timedOut(err) {
		return Error
	}
	return Fail
}

// joinNames joins names for a detail.
func joinNames(names []string) string { return strings.Join(names, ", ") }

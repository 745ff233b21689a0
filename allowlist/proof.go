package allowlist

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"slices"
	"strings"
	"sync"

	"blitiri.com.ar/go/spf"

	"github.com/tlsrpt/tlsrpt/arrival"
	"github.com/tlsrpt/tlsrpt/neutral"
)

// maxPTRNames bounds the reverse DNS names checked per address.
const maxPTRNames = 10

// Proof is whether an address is shown to belong to an allowlist entry.
type Proof struct {
	OK     bool
	Method string // "ip", "spf" or "rdns" when OK
	Detail string // one line: which proof, or which failed
	// DNSFailed is set when the proof failed because DNS did not answer
	// (time-out, server failure, budget spent), not because the answer
	// said no.
	DNSFailed bool
}

// Evidence is one report naming an address, as the store keeps it.
type Evidence struct {
	Organization string // organization-name of the report
	ContactInfo  string
	Submitter    string // TLS-Report-Submitter
	FromDomain   string
	Auth         arrival.Auth // how the report message was authenticated
	Transport    string       // "mail", "https", "file"...: HTTPS reports are never authenticated
	Reports      int64        // how many such reports this stands for (0: one)
}

// Verdict is whether an address is trusted: a sender too big to block.
type Verdict struct {
	Trusted bool
	Why     string // one line: which reporter and which proof, or what is missing
	Entry   *Entry // the allowlist entry concerned, if any
	Proof   Proof
	// DNSFailed is set when an address is not trusted and a DNS failure
	// kept at least one proof from being decided; Why then starts with
	// "DNS failed: ". Asked again with DNS working, the answer may differ.
	DNSFailed bool
}

// dnsFailure reports whether err is DNS trouble rather than an answer: any
// error but "no such name" or "no such record".
func dnsFailure(err error) bool {
	if err == nil {
		return false
	}
	var de *net.DNSError
	return !errors.As(err, &de) || !de.IsNotFound
}

// failedByDNS returns v marked as kept from a decision by DNS.
func failedByDNS(v Verdict) Verdict {
	v.DNSFailed = true
	if !strings.HasPrefix(v.Why, "DNS failed: ") {
		v.Why = "DNS failed: " + v.Why
	}
	return v
}

// DefaultConcurrency bounds the addresses JudgeAll judges at once.
const DefaultConcurrency = 16

// Checker proves addresses against an allowlist. The zero Checker has an
// empty list and the zero Resolver.
type Checker struct {
	Resolver *Resolver
	List     *List
	// Concurrency bounds the addresses JudgeAll judges at once; zero
	// means DefaultConcurrency.
	Concurrency int
}

// JudgeAll judges every address of ips with the evidence at the same
// index, up to Concurrency at once, all within ctx (give it the resolver's
// budget to bound the whole run). Addresses whose evidence needs no DNS
// cost nothing; the rest share the resolver's cache and its in-flight
// queries.
func (c *Checker) JudgeAll(ctx context.Context, ips []netip.Addr, ev [][]Evidence) []Verdict {
	out := make([]Verdict, len(ips))
	n := c.Concurrency
	if n <= 0 {
		n = DefaultConcurrency
	}
	sem := make(chan struct{}, n)
	var wg sync.WaitGroup
	for i, ip := range ips {
		var e []Evidence
		if i < len(ev) {
			e = ev[i]
		}
		sem <- struct{}{}
		wg.Add(1)
		go func() {
			defer func() { <-sem; wg.Done() }()
			out[i] = c.Judge(ctx, ip, e)
		}()
	}
	wg.Wait()
	return out
}

// defaultResolver serves Checkers and Verifiers without a Resolver.
var defaultResolver = new(Resolver)

func (c *Checker) resolver() *Resolver {
	if c.Resolver == nil {
		return defaultResolver
	}
	return c.Resolver
}

// Prove tells whether ip belongs to e: in one of its ip: ranges, passing
// SPF for one of its spf: domains, or with a forward-confirmed reverse DNS
// name under one of its rdns: suffixes, tried in that order.
func (c *Checker) Prove(ctx context.Context, ip netip.Addr, e *Entry) Proof {
	ip = ip.Unmap()
	var missing []string
	failed := false
	if p := inRanges(ip, e); p.OK {
		return p
	} else if len(e.IPs) > 0 {
		missing = append(missing, "not in its ranges")
	}
	for _, d := range e.SPF {
		p := c.proveSPF(ctx, ip, d)
		if p.OK {
			return p
		}
		missing = append(missing, p.Detail)
		failed = failed || p.DNSFailed
	}
	if len(e.RDNS) > 0 {
		p, _ := c.proveRDNS(ctx, ip, e.RDNS)
		if p.OK {
			return p
		}
		missing = append(missing, p.Detail)
		failed = failed || p.DNSFailed
	}
	if len(missing) == 0 {
		missing = append(missing, "its entry has no proof")
	}
	return Proof{Detail: fmt.Sprintf("%s is not %s's: %s", ip, e.Domain, strings.Join(missing, ", ")), DNSFailed: failed}
}

// inRanges proves ip by e's ip: ranges.
func inRanges(ip netip.Addr, e *Entry) Proof {
	for _, p := range e.IPs {
		if p.Contains(ip) {
			return Proof{OK: true, Method: "ip", Detail: fmt.Sprintf("%s is in %s", ip, p)}
		}
	}
	return Proof{}
}

// proveSPF runs SPF check_host for ip and domain.
func (c *Checker) proveSPF(ctx context.Context, ip netip.Addr, domain string) Proof {
	res, err := spf.CheckHostWithSender(net.IP(ip.AsSlice()), domain, "postmaster@"+domain,
		spf.WithResolver(c.resolver()), spf.WithContext(ctx))
	if res == spf.Pass {
		return Proof{OK: true, Method: "spf", Detail: fmt.Sprintf("%s passes SPF for %s", ip, domain)}
	}
	detail := fmt.Sprintf("fails SPF for %s (%s)", domain, res)
	if res == spf.TempError || res == spf.PermError {
		if err != nil {
			detail = fmt.Sprintf("no SPF answer for %s (%s: %s)", domain, res, neutral.Error(err))
		}
	}
	return Proof{Detail: detail, DNSFailed: res == spf.TempError}
}

// proveRDNS looks for a PTR name of ip under one of suffixes whose
// forward lookup returns ip, and returns the suffix that proved it.
func (c *Checker) proveRDNS(ctx context.Context, ip netip.Addr, suffixes []string) (Proof, string) {
	r := c.resolver()
	under := strings.Join(suffixes, " or ")
	names, err := r.LookupAddr(ctx, ip.String())
	if err != nil {
		return Proof{Detail: fmt.Sprintf("no forward-confirmed rDNS under %s (no PTR: %s)", under, dnsReason(err)),
			DNSFailed: dnsFailure(err)}, ""
	}
	var unconfirmed []string
	failed := false
	for i, name := range names {
		if i >= maxPTRNames {
			break
		}
		name = strings.ToLower(strings.TrimSuffix(name, "."))
		suffix := ""
		for _, s := range suffixes {
			if underSuffix(name, s) {
				suffix = s
				break
			}
		}
		if suffix == "" {
			continue
		}
		addrs, err := r.lookupAddrs(ctx, name)
		failed = failed || dnsFailure(err)
		if err == nil && slices.Contains(addrs, ip) {
			return Proof{OK: true, Method: "rdns",
				Detail: fmt.Sprintf("%s has forward-confirmed rDNS %s under %s", ip, name, suffix)}, suffix
		}
		unconfirmed = append(unconfirmed, name)
	}
	if len(unconfirmed) > 0 {
		return Proof{Detail: fmt.Sprintf("no forward-confirmed rDNS under %s (%s does not resolve to %s)",
			under, strings.Join(unconfirmed, ", "), ip), DNSFailed: failed}, ""
	}
	return Proof{Detail: fmt.Sprintf("no forward-confirmed rDNS under %s", under)}, ""
}

// dnsReason returns a short reason for a DNS error.
func dnsReason(err error) string {
	if de, ok := err.(*net.DNSError); ok {
		switch {
		case de.IsNotFound:
			return "not found"
		case de.IsTimeout:
			return "timed out"
		}
		return neutral.LogAttr(de.Err)
	}
	return neutral.Error(err)
}

// Judge decides whether ip is trusted, given the reports naming it: at
// least one must be authenticated (and not received over HTTPS), by a
// reporter on the allowlist, and ip must be proven that reporter's. DNS
// lookups are bounded by the resolver's budget.
func (c *Checker) Judge(ctx context.Context, ip netip.Addr, ev []Evidence) Verdict {
	ip = ip.Unmap()
	ctx, cancel := c.resolver().WithBudget(ctx)
	defer cancel()
	var authed []Evidence
	var why []string
	var n, https int64
	for _, e := range ev {
		n += max(e.Reports, 1)
		switch {
		case strings.EqualFold(e.Transport, "https"):
			https += max(e.Reports, 1)
		case e.Auth.Authenticated:
			authed = append(authed, e)
		case e.Auth.Detail != "":
			why = appendNew(why, e.Auth.Detail)
		}
	}
	if len(authed) == 0 {
		return Verdict{Why: notAuthenticated(n, https, why)}
	}
	var verdict *Verdict
	dnsFailed := false
	proved := make(map[*Entry]Proof)
	for _, e := range authed {
		entry := c.List.ForReporter(e.Auth.Domain)
		if entry == nil {
			if verdict == nil {
				verdict = &Verdict{Why: fmt.Sprintf("reporter %s is not on the allowlist", reporterName(e))}
			}
			continue
		}
		p, ok := proved[entry]
		if !ok {
			p = c.Prove(ctx, ip, entry)
			proved[entry] = p
		}
		if p.OK {
			return Verdict{Trusted: true, Entry: entry, Proof: p,
				Why: fmt.Sprintf("%s: %s, %s", entry.Domain, authPhrase(e.Auth), p.Detail)}
		}
		if verdict == nil || verdict.Entry == nil {
			verdict = &Verdict{Entry: entry, Proof: p, Why: p.Detail}
		}
		dnsFailed = dnsFailed || p.DNSFailed
	}
	if dnsFailed || ctx.Err() != nil {
		return failedByDNS(*verdict)
	}
	return *verdict
}

// notAuthenticated says why none of n reports counts.
func notAuthenticated(n, https int64, why []string) string {
	if n == 0 {
		return "no report names it"
	}
	var parts []string
	if https > 0 {
		parts = append(parts, fmt.Sprintf("%d by HTTPS, which cannot be authenticated", https))
	}
	if len(why) > 2 {
		why = append(why[:2:2], "...")
	}
	parts = append(parts, why...)
	reports := "reports"
	if n == 1 {
		reports = "report"
	}
	return fmt.Sprintf("no authenticated report (%d %s: %s)", n, reports, strings.Join(parts, "; "))
}

// reporterName names the reporter of an evidence.
func reporterName(e Evidence) string {
	if org := OrgDomain(e.Auth.Domain); org != "" {
		return org
	}
	if e.Submitter != "" {
		return e.Submitter
	}
	return e.Organization
}

// authPhrase says how a report was authenticated.
func authPhrase(a arrival.Auth) string {
	if a.Method == "authres" {
		return "report authenticated by our Authentication-Results"
	}
	return "DKIM-authenticated report"
}

// Check tells which allowlist entry claims ip, without reports: the first
// entry whose ip: ranges hold it, else whose rdns: suffixes prove it, else
// whose spf: domains pass it. It serves `tlsrpt allowlist check`. DNS
// lookups are bounded by the resolver's budget.
func (c *Checker) Check(ctx context.Context, ip netip.Addr) Verdict {
	ip = ip.Unmap()
	if c.List == nil || len(c.List.Entries) == 0 {
		return Verdict{Why: "the allowlist is empty"}
	}
	ctx, cancel := c.resolver().WithBudget(ctx)
	defer cancel()
	entries := c.List.Entries
	for i := range entries {
		if p := inRanges(ip, &entries[i]); p.OK {
			return claimed(&entries[i], p)
		}
	}
	// One PTR lookup serves every entry's rdns: suffixes.
	var suffixes []string
	for _, e := range entries {
		suffixes = append(suffixes, e.RDNS...)
	}
	dnsFailed := false
	if len(suffixes) > 0 {
		p, suffix := c.proveRDNS(ctx, ip, suffixes)
		dnsFailed = p.DNSFailed
		if p.OK {
			for i := range entries {
				if slices.Contains(entries[i].RDNS, suffix) {
					return claimed(&entries[i], p)
				}
			}
		}
	}
	tried := make(map[string]bool) // Yahoo, AOL and others share SPF domains
	for i := range entries {
		for _, d := range entries[i].SPF {
			if tried[d] {
				continue
			}
			tried[d] = true
			p := c.proveSPF(ctx, ip, d)
			if p.OK {
				return claimed(&entries[i], p)
			}
			dnsFailed = dnsFailed || p.DNSFailed
		}
	}
	if ctx.Err() != nil {
		return failedByDNS(Verdict{Why: fmt.Sprintf("%s: no allowlist entry claims it before the DNS time budget ran out", ip)})
	}
	if dnsFailed {
		return failedByDNS(Verdict{Why: fmt.Sprintf("%s: no allowlist entry claims it, but some lookups got no answer (in no ip: range, no forward-confirmed rDNS under an rdns: suffix, passes no spf: domain)", ip)})
	}
	return Verdict{Why: fmt.Sprintf("%s: no allowlist entry claims it (in no ip: range, no forward-confirmed rDNS under an rdns: suffix, passes no spf: domain)", ip)}
}

func claimed(e *Entry, p Proof) Verdict {
	return Verdict{Trusted: true, Entry: e, Proof: p, Why: fmt.Sprintf("%s: %s", e.Domain, p.Detail)}
}

package allowlist

import (
	"bufio"
	_ "embed"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"os"
	"slices"
	"strings"

	"golang.org/x/net/publicsuffix"

	"github.com/tlsrpt/tlsrpt/internal/pkgerr"
)

// SyntaxError is the error Parse returns for a malformed line.
type SyntaxError struct {
	File string // the name given to Parse
	Line int    // 1-based
	Err  error  // the reason
}

// Error reads `allowlist: FILE:LINE: REASON`.
func (e *SyntaxError) Error() string {
	return fmt.Sprintf("allowlist: %s:%d: %v", e.File, e.Line, e.Err)
}

// Unwrap returns the reason.
func (e *SyntaxError) Unwrap() error { return e.Err }

// Package is the package whose name the text starts with.
func (e *SyntaxError) Package() string { return "allowlist" }

//go:embed default.list
var defaultList string

// Entry is one sender too big to block, with what proves that an address
// is theirs.
type Entry struct {
	// Domain is the sender's domain, matched by organizational domain
	// against the domain that authenticated a report.
	Domain string
	// IPs are the sender's address ranges (ip:).
	IPs []netip.Prefix
	// SPF are domains whose SPF record authorizes the sender's addresses
	// (spf:).
	SPF []string
	// RDNS are suffixes under which the sender's addresses have
	// forward-confirmed reverse DNS names (rdns:).
	RDNS []string
}

// String returns e in the allowlist file format.
func (e *Entry) String() string {
	fields := []string{e.Domain}
	for _, p := range e.IPs {
		fields = append(fields, "ip:"+p.String())
	}
	for _, d := range e.SPF {
		fields = append(fields, "spf:"+d)
	}
	for _, s := range e.RDNS {
		fields = append(fields, "rdns:"+s)
	}
	return strings.Join(fields, " ")
}

// List is an allowlist: senders too big to block.
type List struct {
	Entries []Entry
}

// Default returns the built-in allowlist (the file default.list in this
// package): Google, Microsoft, Yahoo/AOL, Apple iCloud, Amazon SES, Mail.ru,
// Comcast, GMX/WEB.DE, Zoho and Fastmail.
func Default() *List {
	entries, err := Parse(strings.NewReader(defaultList), "default.list")
	if err != nil {
		panic(err) // default.list is tested
	}
	l := new(List)
	for _, e := range entries {
		l.Add(e)
	}
	return l
}

// Load returns the built-in list, unless noDefault, with the entries of the
// files at paths added. An entry for a domain already listed adds its
// proofs to that entry.
func Load(paths []string, noDefault bool) (*List, error) {
	l := new(List)
	if !noDefault {
		l = Default()
	}
	for _, path := range paths {
		f, err := os.Open(path)
		if err != nil {
			return nil, pkgerr.Errorf("allowlist", "%w", err)
		}
		entries, err := Parse(f, path)
		f.Close()
		if err != nil {
			return nil, err
		}
		for _, e := range entries {
			l.Add(e)
		}
	}
	return l, nil
}

// Add adds e to l, merged into the entry for the same domain if there is one.
func (l *List) Add(e Entry) {
	for i := range l.Entries {
		old := &l.Entries[i]
		if old.Domain != e.Domain {
			continue
		}
		for _, p := range e.IPs {
			if !slices.Contains(old.IPs, p) {
				old.IPs = append(old.IPs, p)
			}
		}
		old.SPF = appendNew(old.SPF, e.SPF...)
		old.RDNS = appendNew(old.RDNS, e.RDNS...)
		return
	}
	l.Entries = append(l.Entries, e)
}

func appendNew(list []string, add ...string) []string {
	for _, s := range add {
		if !slices.Contains(list, s) {
			list = append(list, s)
		}
	}
	return list
}

// ForReporter returns the entry of the first of domains whose
// organizational domain is an entry's, or nil when none is listed.
func (l *List) ForReporter(domains ...string) *Entry {
	if l == nil {
		return nil
	}
	for _, d := range domains {
		org := OrgDomain(d)
		if org == "" {
			continue
		}
		for i := range l.Entries {
			if OrgDomain(l.Entries[i].Domain) == org {
				return &l.Entries[i]
			}
		}
	}
	return nil
}

// Parse reads an allowlist file: one sender a line,
// `DOMAIN [ip:CIDR]... [spf:DOMAIN]... [rdns:SUFFIX]...`, with `#` comments
// and blank lines. name is the file's name for error messages, which read
// `allowlist: NAME:LINE: REASON`.
func Parse(r io.Reader, name string) ([]Entry, error) {
	var entries []Entry
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 4096), 64*1024)
	n := 0
	for sc.Scan() {
		n++
		line, _, _ := strings.Cut(sc.Text(), "#")
		fields := strings.Fields(line)
		if len(fields) == 0 {
			continue
		}
		e, err := parseEntry(fields)
		if err != nil {
			return nil, &SyntaxError{File: name, Line: n, Err: err}
		}
		entries = append(entries, e)
	}
	if err := sc.Err(); err != nil {
		return nil, pkgerr.Errorf("allowlist", "reading %s after line %d: %w", name, n, err)
	}
	return entries, nil
}

// parseEntry parses the fields of one line.
func parseEntry(fields []string) (Entry, error) {
	domain, err := parseDomain(fields[0])
	if err != nil {
		return Entry{}, fmt.Errorf("bad domain: %q: %w", fields[0], err)
	}
	e := Entry{Domain: domain}
	if len(fields) == 1 {
		return Entry{}, fmt.Errorf("%s has no ip:, spf: or rdns: proof", domain)
	}
	for _, f := range fields[1:] {
		kind, value, ok := strings.Cut(f, ":")
		if !ok {
			return Entry{}, fmt.Errorf("%q is not ip:CIDR, spf:DOMAIN or rdns:SUFFIX", f)
		}
		switch strings.ToLower(kind) {
		case "ip":
			p, err := parsePrefix(value)
			if err != nil {
				return Entry{}, fmt.Errorf("bad ip: %q: %w", value, err)
			}
			e.IPs = append(e.IPs, p)
		case "spf":
			d, err := parseDomain(value)
			if err != nil {
				return Entry{}, fmt.Errorf("bad spf: %q: %w", value, err)
			}
			e.SPF = append(e.SPF, d)
		case "rdns":
			d, err := parseDomain(value)
			if err != nil {
				return Entry{}, fmt.Errorf("bad rdns: %q: %w", value, err)
			}
			e.RDNS = append(e.RDNS, d)
		default:
			return Entry{}, fmt.Errorf("unknown proof %q in %q (want ip:, spf: or rdns:)", kind, f)
		}
	}
	return e, nil
}

// parsePrefix parses a CIDR prefix, or a single address as a /32 or /128.
func parsePrefix(s string) (netip.Prefix, error) {
	if !strings.Contains(s, "/") {
		a, err := netip.ParseAddr(s)
		if err != nil {
			return netip.Prefix{}, fmt.Errorf("netip.ParsePrefix(%q): %w", s, err)
		}
		a = a.Unmap()
		return netip.PrefixFrom(a, a.BitLen()), nil
	}
	p, err := netip.ParsePrefix(s)
	if err != nil {
		return netip.Prefix{}, err
	}
	if p.Addr().Is4In6() {
		return netip.Prefix{}, fmt.Errorf("netip.ParsePrefix(%q): IPv4-mapped prefix", s)
	}
	return p.Masked(), nil
}

// parseDomain checks that s is a domain name and returns it in lower case
// without a final dot.
func parseDomain(s string) (string, error) {
	d := strings.ToLower(strings.TrimSuffix(s, "."))
	if !isDomain(d) {
		return "", errors.New("not a domain name")
	}
	return d, nil
}

// isDomain reports whether d looks like a fully qualified host name: at
// least two labels of letters, digits, hyphens and underscores (for
// _spf.example.com).
func isDomain(d string) bool {
	if len(d) == 0 || len(d) > 253 {
		return false
	}
	labels := strings.Split(d, ".")
	if len(labels) < 2 {
		return false
	}
	for _, l := range labels {
		if len(l) == 0 || len(l) > 63 || l[0] == '-' || l[len(l)-1] == '-' {
			return false
		}
		for _, c := range []byte(l) {
			ok := c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_'
			if !ok {
				return false
			}
		}
	}
	return true
}

// OrgDomain returns the organizational domain of d (its public suffix plus
// one label, as DMARC defines it: corp.mail.ru → mail.ru), or "" when d is
// not a domain name.
func OrgDomain(d string) string {
	d = strings.ToLower(strings.TrimSuffix(strings.TrimSpace(d), "."))
	if !isDomain(d) {
		return ""
	}
	org, err := publicsuffix.EffectiveTLDPlusOne(d)
	if err != nil {
		return ""
	}
	return org
}

// underSuffix reports whether name is suffix or ends in "."+suffix.
func underSuffix(name, suffix string) bool {
	name = strings.ToLower(strings.TrimSuffix(name, "."))
	suffix = strings.ToLower(strings.TrimSuffix(suffix, "."))
	return name == suffix || strings.HasSuffix(name, "."+suffix)
}

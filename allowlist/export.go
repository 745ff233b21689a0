package allowlist

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"slices"
	"strconv"
	"strings"

	"github.com/tlsrpt/tlsrpt/internal/pkgerr"
)

// maxSPFLookups is RFC 7208's limit on DNS-querying terms per check.
const maxSPFLookups = 10

// ErrFormat is returned by Export for an unknown format.
var ErrFormat = pkgerr.New("allowlist", "unknown export format (want fail2ban, postscreen or cidr)")

// Export writes the address ranges of l's senders, for keeping them from
// being banned at all: each entry's ip: ranges and the ranges its spf:
// domains authorize (ip4:, ip6:, a and mx mechanisms, following include:
// and redirect=, within SPF's limit of 10 lookups per domain). Formats:
// "cidr", one prefix a line; "fail2ban", one `ignoreip = ...` line for a
// jail; "postscreen", `PREFIX permit` lines for a postscreen_access_list
// cidr table. SPF domains that cannot be resolved are skipped; the ranges
// that could be found are written and the failures returned, joined.
func (l *List) Export(ctx context.Context, format string, r *Resolver, w io.Writer) error {
	switch format {
	case "cidr", "fail2ban", "postscreen":
	default:
		return fmt.Errorf("%w: %q", ErrFormat, format)
	}
	if r == nil {
		r = new(Resolver)
	}
	prefixes, expandErr := l.Prefixes(ctx, r)
	var b strings.Builder
	switch format {
	case "cidr":
		for _, p := range prefixes {
			b.WriteString(p.String() + "\n")
		}
	case "postscreen":
		for _, p := range prefixes {
			b.WriteString(p.String() + " permit\n")
		}
	case "fail2ban":
		fields := make([]string, len(prefixes))
		for i, p := range prefixes {
			fields[i] = p.String()
		}
		b.WriteString("ignoreip = " + strings.Join(fields, " ") + "\n")
	}
	if _, err := io.WriteString(w, b.String()); err != nil {
		return pkgerr.Errorf("allowlist", "writing %s export: %w", format, err)
	}
	return expandErr
}

// Prefixes returns the ranges of all entries, ip: and SPF-expanded, sorted
// and without duplicates, and the SPF expansion failures, joined.
func (l *List) Prefixes(ctx context.Context, r *Resolver) ([]netip.Prefix, error) {
	var out []netip.Prefix
	var errs []error
	if l != nil {
		for _, e := range l.Entries {
			out = append(out, e.IPs...)
			for _, d := range e.SPF {
				x := &spfExpander{r: r}
				err := x.expand(ctx, d, 0)
				out = append(out, x.prefixes...)
				if err != nil {
					errs = append(errs, pkgerr.Errorf("allowlist", "expanding spf:%s of %s: %w", d, e.Domain, err))
				}
			}
		}
	}
	slices.SortFunc(out, comparePrefix)
	return slices.Compact(out), errors.Join(errs...)
}

func comparePrefix(a, b netip.Prefix) int {
	if c := a.Addr().Compare(b.Addr()); c != 0 {
		return c
	}
	return a.Bits() - b.Bits()
}

// spfExpander collects the ranges an SPF record authorizes.
type spfExpander struct {
	r        *Resolver
	lookups  int
	prefixes []netip.Prefix
}

// expand adds the ranges of domain's SPF record.
func (x *spfExpander) expand(ctx context.Context, domain string, depth int) error {
	if depth > maxSPFLookups {
		return fmt.Errorf("spf: include loop at %s", domain)
	}
	txts, err := x.r.LookupTXT(ctx, domain)
	if err != nil {
		return fmt.Errorf("spf record of %s: %w", domain, err)
	}
	var record string
	for _, t := range txts {
		if lt := strings.ToLower(t); lt == "v=spf1" || strings.HasPrefix(lt, "v=spf1 ") {
			if record != "" {
				return fmt.Errorf("spf: %s has several SPF records", domain)
			}
			record = t
		}
	}
	if record == "" {
		return fmt.Errorf("spf: %s has no SPF record", domain)
	}
	redirect := ""
	for _, term := range strings.Fields(record)[1:] {
		term = strings.ToLower(term)
		if strings.HasPrefix(term, "redirect=") {
			redirect = strings.TrimPrefix(term, "redirect=")
			continue
		}
		if strings.Contains(term, "=") {
			continue // exp= and unknown modifiers
		}
		switch term[0] {
		case '-', '~', '?':
			continue // only pass mechanisms authorize
		case '+':
			term = term[1:]
		}
		if term == "all" {
			return nil
		}
		if err := x.mechanism(ctx, domain, term, depth); err != nil {
			return err
		}
	}
	if redirect != "" {
		if err := x.count(); err != nil {
			return err
		}
		return x.expand(ctx, redirect, depth+1)
	}
	return nil
}

// mechanism adds the ranges of one pass mechanism of domain's record.
func (x *spfExpander) mechanism(ctx context.Context, domain, term string, depth int) error {
	name, arg, _ := strings.Cut(term, ":")
	if i := strings.IndexByte(name, '/'); i >= 0 { // "a/24", "mx/24"
		name, arg = name[:i], term[i:]
	}
	if strings.Contains(arg, "%") {
		return nil // macros depend on the message: nothing to export
	}
	switch name {
	case "ip4", "ip6":
		p, err := parsePrefix(arg)
		if err != nil {
			return fmt.Errorf("spf: %s: bad %s: %w", domain, term, err)
		}
		x.prefixes = append(x.prefixes, p)
	case "include":
		if err := x.count(); err != nil {
			return err
		}
		return x.expand(ctx, arg, depth+1)
	case "a", "mx":
		if err := x.count(); err != nil {
			return err
		}
		target, bits4, bits6 := splitCIDR(arg, domain)
		hosts := []string{target}
		if name == "mx" {
			mxs, err := x.r.LookupMX(ctx, target)
			if err != nil {
				return fmt.Errorf("spf: %s: %s: %w", domain, term, err)
			}
			hosts = hosts[:0]
			for i, mx := range mxs {
				if i < maxSPFLookups {
					hosts = append(hosts, mx.Host)
				}
			}
		}
		for _, h := range hosts {
			addrs, err := x.r.lookupAddrs(ctx, h)
			if err != nil {
				continue // a void lookup matches nothing
			}
			for _, a := range addrs {
				bits := bits4
				if a.Is6() {
					bits = bits6
				}
				if p, err := a.Prefix(bits); err == nil {
					x.prefixes = append(x.prefixes, p)
				}
			}
		}
	}
	return nil // ptr and exists match no fixed range
}

// splitCIDR splits "domain/24//64" into its domain (default def) and
// prefix lengths.
func splitCIDR(arg, def string) (string, int, int) {
	target, cidr, _ := strings.Cut(arg, "/")
	if target == "" {
		target = def
	}
	bits4, bits6 := 32, 128
	if cidr != "" {
		v4, v6, dual := strings.Cut(cidr, "/")
		if dual {
			v6 = strings.TrimPrefix(v6, "/")
		}
		if n, err := strconv.Atoi(v4); err == nil && n >= 0 && n <= 32 {
			bits4 = n
		}
		if n, err := strconv.Atoi(v6); err == nil && n >= 0 && n <= 128 {
			bits6 = n
		}
	}
	return target, bits4, bits6
}

func (x *spfExpander) count() error {
	x.lookups++
	if x.lookups > maxSPFLookups {
		return errors.New("spf: more than 10 DNS lookups")
	}
	return nil
}

package allowlist

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/emersion/go-message/textproto"
	"github.com/emersion/go-msgauth/authres"
	"github.com/emersion/go-msgauth/dkim"

	"github.com/tlsrpt/tlsrpt/arrival"
	"github.com/tlsrpt/tlsrpt/neutral"
)

// maxSignatures bounds the DKIM signatures verified per message.
const maxSignatures = 5

// Reporter is who a report says it comes from.
type Reporter struct {
	// Submitter is the TLS-Report-Submitter header field.
	Submitter string
	// ContactInfo is the report's contact-info: an address, a URL or a
	// domain.
	ContactInfo string
	// FromDomain is the domain of the From address, used only when neither
	// Submitter nor ContactInfo names a domain.
	FromDomain string
}

// Verifier authenticates report messages. The zero Verifier verifies DKIM
// signatures with the system's DNS server and trusts no
// Authentication-Results header.
type Verifier struct {
	// Resolver looks up DKIM keys; nil means a zero Resolver.
	Resolver *Resolver
	// TrustAuthservIDs are the authserv-ids of our own MTAs, whose
	// Authentication-Results header fields are believed (RFC 8601
	// section 5).
	TrustAuthservIDs []string
	// TrustHosts are the names our own hosts write in the "by" clause of
	// the Received fields they add, besides the TrustAuthservIDs. An
	// Authentication-Results field below a Received field by any other
	// host was written before the message reached us and never counts.
	TrustHosts []string
	// NoDKIM skips verifying DKIM signatures ourselves.
	NoDKIM bool
	// Now returns the current time, to check signature expiry; nil means
	// time.Now.
	Now func() time.Time
}

// Authenticate decides whether raw, a report message, comes from reporter:
// a DKIM signature that verifies, without l=, by a domain of the reporter's
// organization (RFC 8460 section 3), or else a dkim=pass for such a domain
// in an Authentication-Results field of a trusted authserv-id. DNS lookups
// for one message are bounded by the resolver's budget; DNS trouble makes a
// message not authenticated, never an error.
func (v *Verifier) Authenticate(ctx context.Context, raw []byte, reporter Reporter) arrival.Auth {
	orgs := reporterOrgs(reporter)
	if len(orgs) == 0 {
		return arrival.Auth{Detail: fmt.Sprintf("no reporter domain (submitter %q, contact-info %q)",
			reporter.Submitter, reporter.ContactInfo)}
	}
	var notes []string
	if !v.NoDKIM {
		a, note := v.verifyDKIM(ctx, raw, orgs)
		if a.Authenticated {
			return a
		}
		notes = append(notes, note)
	}
	a, note := v.checkAuthres(raw, orgs)
	if a.Authenticated {
		return a
	}
	if note != "" {
		notes = append(notes, note)
	}
	if len(notes) == 0 {
		notes = append(notes, "DKIM not verified (--no-dkim) and no trusted Authentication-Results")
	}
	return arrival.Auth{Detail: strings.Join(notes, "; ")}
}

// reporterOrgs returns the organizational domains of the reporter: of
// Submitter and ContactInfo, else of FromDomain.
func reporterOrgs(r Reporter) []string {
	var orgs []string
	for _, d := range []string{r.Submitter, contactDomain(r.ContactInfo)} {
		if org := OrgDomain(d); org != "" && !slices.Contains(orgs, org) {
			orgs = append(orgs, org)
		}
	}
	if len(orgs) == 0 {
		if org := OrgDomain(r.FromDomain); org != "" {
			orgs = append(orgs, org)
		}
	}
	return orgs
}

// contactDomain returns the domain in a contact-info value: an email
// address (with or without mailto:), a URL, or a domain.
func contactDomain(s string) string {
	s = strings.TrimSpace(s)
	if i := strings.Index(s, "://"); i > 0 {
		if u, err := url.Parse(s); err == nil {
			return u.Hostname()
		}
		return ""
	}
	s = strings.TrimPrefix(strings.TrimPrefix(s, "mailto:"), "MAILTO:")
	if i := strings.LastIndexByte(s, '@'); i >= 0 {
		s = s[i+1:]
	}
	return strings.TrimRight(s, ">")
}

// verifyDKIM verifies the message's DKIM signatures and returns an
// authenticated Auth for the first one that verifies for a reporter's
// organization, or a note saying why none did.
func (v *Verifier) verifyDKIM(ctx context.Context, raw []byte, orgs []string) (arrival.Auth, string) {
	r := v.Resolver
	if r == nil {
		r = defaultResolver
	}
	ctx, cancel := r.WithBudget(ctx)
	defer cancel()
	if why := headerTooLarge(raw); why != "" {
		return arrival.Auth{}, "dkim not verified: " + why
	}
	opts := &dkim.VerifyOptions{
		LookupTXT:        func(name string) ([]string, error) { return lookupKey(ctx, r, name) },
		MaxVerifications: maxSignatures,
	}
	verifs, err := dkim.VerifyWithOptions(bytes.NewReader(raw), opts)
	if err != nil && !errors.Is(err, dkim.ErrTooManySignatures) {
		return arrival.Auth{}, "dkim: " + neutral.Error(err)
	}
	if len(verifs) == 0 {
		return arrival.Auth{}, "no DKIM signature"
	}
	var fails []string
	for _, vf := range verifs {
		d := strings.ToLower(vf.Domain)
		if why := v.signatureProblem(raw, vf); why != "" {
			fails = append(fails, fmt.Sprintf("dkim fail d=%s: %s", d, why))
			continue
		}
		if org := OrgDomain(d); slices.Contains(orgs, org) {
			return arrival.Auth{Authenticated: true, Method: "dkim", Domain: d,
				Detail: fmt.Sprintf("dkim pass d=%s matches reporter %s", d, org)}, ""
		}
		fails = append(fails, fmt.Sprintf("dkim pass d=%s does not match reporter %s", d, strings.Join(orgs, " or ")))
	}
	return arrival.Auth{}, strings.Join(fails, "; ")
}

// Bounds on what reaches go-msgauth's DKIM verifier. Its header reader
// appends each continuation line to the field read so far by string
// concatenation (dkim/header.go, readHeader), so a field folded over many
// lines costs time quadratic in its length: 300 KB of folded lines took
// 2 s, 600 KB over a minute. No report message comes near these bounds
// (real ones have headers of 2 to 12 KB).
const (
	maxFieldBytes  = 16 << 10
	maxHeaderBytes = 256 << 10
)

// headerTooLarge returns why raw's header is too large to hand to the DKIM
// verifier, or "". It reads the header once, line by line.
func headerTooLarge(raw []byte) string {
	total, field := 0, 0
	for len(raw) > 0 {
		line := raw
		if i := bytes.IndexByte(raw, '\n'); i >= 0 {
			line = raw[:i+1]
		}
		raw = raw[len(line):]
		if len(bytes.TrimRight(line, "\r\n")) == 0 {
			return ""
		}
		total += len(line)
		if line[0] == ' ' || line[0] == '\t' {
			field += len(line)
		} else {
			field = len(line)
		}
		switch {
		case field > maxFieldBytes:
			return fmt.Sprintf("a header field longer than %d bytes", maxFieldBytes)
		case total > maxHeaderBytes:
			return fmt.Sprintf("a header longer than %d bytes", maxHeaderBytes)
		}
	}
	return ""
}

// signatureProblem returns why a verification does not count, or "".
func (v *Verifier) signatureProblem(raw []byte, vf *dkim.Verification) string {
	if vf.Err != nil {
		return neutral.LogAttr(strings.TrimPrefix(vf.Err.Error(), "dkim: "))
	}
	now := time.Now
	if v.Now != nil {
		now = v.Now
	}
	if !vf.Expiration.IsZero() && now().After(vf.Expiration) {
		return "signature has expired"
	}
	// go-msgauth refuses l= itself; RFC 8460 section 3 forbids it, so make
	// sure whatever the library does.
	if hasBodyLength(raw, vf.Domain) {
		return "body length tag l= (forbidden by RFC 8460)"
	}
	return ""
}

// hasBodyLength reports whether a DKIM-Signature field of raw by domain
// carries an l= tag.
func hasBodyLength(raw []byte, domain string) bool {
	h, err := textproto.ReadHeader(bufio.NewReader(bytes.NewReader(raw)))
	if err != nil {
		return true
	}
	fields := h.FieldsByKey("DKIM-Signature")
	for fields.Next() {
		tags := parseTags(fields.Value())
		if _, ok := tags["l"]; ok && strings.EqualFold(tags["d"], domain) {
			return true
		}
	}
	return false
}

// parseTags parses a tag=value list (RFC 6376 section 3.2) leniently.
func parseTags(s string) map[string]string {
	tags := make(map[string]string)
	for _, part := range strings.Split(s, ";") {
		k, val, ok := strings.Cut(part, "=")
		if !ok {
			continue
		}
		tags[strings.TrimSpace(k)] = strings.Join(strings.Fields(val), "")
	}
	return tags
}

// lookupKey looks up a DKIM key record and lets keys restricted to the
// tlsrpt service (RFC 8460 section 3) through go-msgauth, which accepts
// only s=email or s=*.
func lookupKey(ctx context.Context, r *Resolver, name string) ([]string, error) {
	txts, err := r.LookupTXT(ctx, name)
	if err != nil {
		return nil, err
	}
	for i, txt := range txts {
		txts[i] = acceptTLSRPTService(txt)
	}
	return txts, nil
}

// acceptTLSRPTService rewrites the s= tag of a DKIM key record that lists
// the tlsrpt service so that it also lists email; other records are
// returned unchanged.
func acceptTLSRPTService(record string) string {
	parts := strings.Split(record, ";")
	for i, part := range parts {
		k, val, ok := strings.Cut(part, "=")
		if !ok || strings.TrimSpace(k) != "s" {
			continue
		}
		for _, svc := range strings.Split(val, ":") {
			if strings.EqualFold(strings.TrimSpace(svc), "tlsrpt") {
				parts[i] = k + "=" + val + ":email"
				return strings.Join(parts, ";")
			}
		}
	}
	return record
}

// checkAuthres looks for dkim=pass by a reporter's organization in the
// topmost Authentication-Results fields of a trusted authserv-id. Those are
// the fields our own MTA added; RFC 8601 section 5 asks it to remove any
// claiming its id from incoming mail. A field counts only while no Received
// field added by a foreign host stands above it: below such a field every
// line was written before the message reached us, by whoever sent it. The
// first trusted field and the trusted ones right below it are read, up to a
// Received field or a field of a foreign authserv-id; all others are
// ignored however they read.
func (v *Verifier) checkAuthres(raw []byte, orgs []string) (arrival.Auth, string) {
	h, err := textproto.ReadHeader(bufio.NewReader(bytes.NewReader(raw)))
	if err != nil {
		return arrival.Auth{}, "unreadable header: " + neutral.Error(err)
	}
	var ignored, seen []string
	started, foreign := false, ""
	fields := h.Fields()
	for fields.Next() {
		key := strings.ToLower(fields.Key())
		if key == "received" {
			if started {
				break
			}
			if by := receivedBy(fields.Value()); foreign == "" && !v.ours(by) {
				foreign = by
				if foreign == "" {
					foreign = "(no by)"
				}
			}
			continue
		}
		if key != "authentication-results" {
			continue
		}
		id, results, err := authres.Parse(fields.Value())
		if err != nil {
			if started {
				break
			}
			continue
		}
		if !v.trusted(id) {
			if started {
				break
			}
			ignored = appendNew(ignored, neutral.LogAttr(id))
			continue
		}
		if foreign != "" {
			ignored = appendNew(ignored, neutral.LogAttr(id)+" below a Received field by foreign host "+neutral.LogAttr(foreign))
			continue
		}
		started = true
		if a, ok := authresPass(id, results, orgs, &seen); ok {
			return a, ""
		}
	}
	if len(seen) > 0 {
		return arrival.Auth{}, strings.Join(seen, "; ")
	}
	if len(ignored) > 0 {
		return arrival.Auth{}, fmt.Sprintf("authres from untrusted authserv-id %s ignored", strings.Join(ignored, ", "))
	}
	return arrival.Auth{}, ""
}

// authresPass returns an authenticated Auth for the first dkim=pass of a
// reporter's organization among results, noting every other DKIM result in
// seen.
func authresPass(id string, results []authres.Result, orgs []string, seen *[]string) (arrival.Auth, bool) {
	id = neutral.LogAttr(id)
	for _, res := range results {
		d, ok := res.(*authres.DKIMResult)
		if !ok {
			continue
		}
		dom := strings.ToLower(d.Domain)
		if dom == "" {
			_, dom, _ = strings.Cut(strings.ToLower(d.Identifier), "@")
		}
		if d.Value != authres.ResultPass {
			*seen = append(*seen, fmt.Sprintf("authres %s: dkim=%s d=%s", id, neutral.LogAttr(string(d.Value)), neutral.LogAttr(dom)))
			continue
		}
		if org := OrgDomain(dom); org != "" && slices.Contains(orgs, org) {
			return arrival.Auth{Authenticated: true, Method: "authres", Domain: dom,
				Detail: fmt.Sprintf("authres %s: dkim=pass d=%s matches reporter %s", id, dom, org)}, true
		}
		*seen = append(*seen, fmt.Sprintf("authres %s: dkim=pass d=%s does not match reporter %s", id, neutral.LogAttr(dom), strings.Join(orgs, " or ")))
	}
	return arrival.Auth{}, false
}

// receivedBy returns the host of the "by" clause of a Received field value
// (RFC 5321 section 4.4), lower-cased, or "" when there is none. Comments in
// parentheses are skipped, so "(helo by x)" names nothing; the date after
// the last ";" is not read.
func receivedBy(value string) string {
	if i := strings.LastIndexByte(value, ';'); i >= 0 {
		value = value[:i]
	}
	var b strings.Builder
	depth := 0
	for _, r := range value {
		switch {
		case r == '(':
			depth++
			b.WriteByte(' ')
		case r == ')' && depth > 0:
			depth--
		case depth == 0:
			b.WriteRune(r)
		}
	}
	words := strings.Fields(b.String())
	for i := 0; i+1 < len(words); i++ {
		if strings.EqualFold(words[i], "by") {
			return strings.TrimSuffix(strings.ToLower(words[i+1]), ".")
		}
	}
	return ""
}

// ours reports whether host is one of our own hosts: an authserv-id we
// trust or a host given in TrustHosts.
func (v *Verifier) ours(host string) bool {
	if host == "" {
		return false
	}
	for _, h := range append(v.TrustHosts[:len(v.TrustHosts):len(v.TrustHosts)], v.TrustAuthservIDs...) {
		if strings.EqualFold(strings.TrimSuffix(strings.TrimSpace(h), "."), host) {
			return true
		}
	}
	return false
}

// trusted reports whether id is one of our own authserv-ids.
func (v *Verifier) trusted(id string) bool {
	for _, t := range v.TrustAuthservIDs {
		if strings.EqualFold(strings.TrimSpace(t), id) {
			return true
		}
	}
	return false
}

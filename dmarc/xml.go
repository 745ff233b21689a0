package dmarc

import (
	"encoding/xml"
	"fmt"
	"net/netip"
	"strconv"
	"strings"
	"time"
)

// The wire types below follow RFC 7489 appendix C and RFC 9990 with their
// element names. Every field is a string: values are trimmed, checked and
// converted by toModel, which names the element when one is wrong, so that
// a reporter's odd value never surfaces as an encoding/xml type error.
// Struct tags carry no namespace: RFC 7489 reports have none, RFC 9990
// ones use urn:ietf:params:xml:ns:dmarc-2.0, and both match.

// wireMetadata is report_metadata.
type wireMetadata struct {
	OrgName          string `xml:"org_name"`
	Email            string `xml:"email"`
	ExtraContactInfo string `xml:"extra_contact_info"`
	ReportID         string `xml:"report_id"`
	DateRange        struct {
		Begin *string `xml:"begin"`
		End   *string `xml:"end"`
	} `xml:"date_range"`
	Errors    []string `xml:"error"`
	Generator string   `xml:"generator"`
}

// wirePolicy is policy_published.
type wirePolicy struct {
	Domain          string `xml:"domain"`
	ADKIM           string `xml:"adkim"`
	ASPF            string `xml:"aspf"`
	P               string `xml:"p"`
	SP              string `xml:"sp"`
	NP              string `xml:"np"`
	Pct             string `xml:"pct"`
	FO              string `xml:"fo"`
	Testing         string `xml:"testing"`
	DiscoveryMethod string `xml:"discovery_method"`
}

// wireRecord is one record.
type wireRecord struct {
	Row struct {
		SourceIP        *string `xml:"source_ip"`
		Count           *string `xml:"count"`
		PolicyEvaluated struct {
			Disposition string       `xml:"disposition"`
			DKIM        string       `xml:"dkim"`
			SPF         string       `xml:"spf"`
			Reasons     []wireReason `xml:"reason"`
		} `xml:"policy_evaluated"`
	} `xml:"row"`
	Identifiers struct {
		HeaderFrom   string `xml:"header_from"`
		EnvelopeFrom string `xml:"envelope_from"`
		EnvelopeTo   string `xml:"envelope_to"`
	} `xml:"identifiers"`
	AuthResults struct {
		DKIM []wireAuth `xml:"dkim"`
		SPF  []wireAuth `xml:"spf"`
	} `xml:"auth_results"`
}

type wireReason struct {
	Type    string `xml:"type"`
	Comment string `xml:"comment"`
}

// wireAuth is an auth_results/dkim or auth_results/spf: selector is
// DKIM's, scope SPF's.
type wireAuth struct {
	Domain      string `xml:"domain"`
	Selector    string `xml:"selector"`
	Scope       string `xml:"scope"`
	Result      string `xml:"result"`
	HumanResult string `xml:"human_result"`
}

// known are the enumeration values of both RFCs. enum returns these
// constants, so that 100,000 records share them instead of each holding
// its own copy of "pass".
var known = map[string]string{}

func init() {
	for _, s := range []string{
		"none", "quarantine", "reject", "pass", "fail", "r", "s", "y", "n",
		"psl", "treewalk", "mfrom", "helo", "softfail", "neutral",
		"temperror", "permerror", "policy", "unknown", "forwarded",
		"sampled_out", "trusted_forwarder", "mailing_list", "local_policy", "other",
	} {
		known[s] = s
	}
}

// enum normalises an enumeration value: trimmed, lower case.
func enum(s string) string {
	s = strings.ToLower(strings.TrimSpace(s))
	if c, ok := known[s]; ok {
		return c
	}
	return s
}

// domain normalises a domain name: trimmed, lower case, without the
// trailing dot.
func domain(s string) string {
	return strings.TrimSuffix(strings.ToLower(strings.TrimSpace(s)), ".")
}

// field is a problem with one element's value.
func field(path, format string, args ...any) error {
	return &PathError{Path: path, Err: fmt.Errorf(format, args...)}
}

// toModel checks and converts report_metadata.
func (w *wireMetadata) toModel(path string) (Metadata, error) {
	m := Metadata{
		OrgName:          strings.TrimSpace(w.OrgName),
		Email:            strings.TrimSpace(w.Email),
		ExtraContactInfo: strings.TrimSpace(w.ExtraContactInfo),
		ReportID:         strings.TrimSpace(w.ReportID),
		Generator:        strings.TrimSpace(w.Generator),
	}
	m.Reporter = m.OrgName
	if m.Reporter == "" {
		// Some small reporters leave org_name empty; the email
		// element still names them.
		m.Reporter = emailDomain(m.Email)
	}
	if m.Reporter == "" {
		return m, field(path+"/org_name", "empty, and no domain in email %.60q: the reporter cannot be named", m.Email)
	}
	if m.ReportID == "" {
		return m, field(path+"/report_id", "missing or empty")
	}
	var err error
	if m.Begin, err = seconds(w.DateRange.Begin, path+"/date_range/begin"); err != nil {
		return m, err
	}
	if m.End, err = seconds(w.DateRange.End, path+"/date_range/end"); err != nil {
		return m, err
	}
	for _, e := range w.Errors {
		if e = strings.TrimSpace(e); e != "" {
			m.Errors = append(m.Errors, e)
		}
	}
	return m, nil
}

// emailDomain returns the lower-case domain of an address, also when it
// comes as "mailto:" or "Name <addr>".
func emailDomain(email string) string {
	at := strings.LastIndexByte(email, '@')
	if at < 0 {
		return ""
	}
	return domain(strings.TrimRight(email[at+1:], "> \t"))
}

// maxSeconds is the end of year 9999: later dates are no report's.
const maxSeconds = 253402300799

// seconds parses a date_range bound: seconds since 1970, UTC. A fraction
// (".0", sent by some reporters) is dropped.
func seconds(s *string, path string) (time.Time, error) {
	if s == nil || strings.TrimSpace(*s) == "" {
		return time.Time{}, field(path, "missing or empty")
	}
	v := strings.TrimSpace(*s)
	whole, frac, _ := strings.Cut(v, ".")
	n, err := strconv.ParseInt(whole, 10, 64)
	if err != nil || n < 0 || n > maxSeconds || strings.Trim(frac, "0123456789") != "" {
		return time.Time{}, field(path, "%.40q is not seconds since 1970", v)
	}
	return time.Unix(n, 0).UTC(), nil
}

// toModel converts policy_published. Nothing in it is refused: it is
// what the reporter found, shown for information.
func (w *wirePolicy) toModel() PolicyPublished {
	p := PolicyPublished{
		Domain: domain(w.Domain), ADKIM: enum(w.ADKIM), ASPF: enum(w.ASPF),
		P: enum(w.P), SP: enum(w.SP), NP: enum(w.NP), FO: enum(w.FO),
		Testing: enum(w.Testing), DiscoveryMethod: enum(w.DiscoveryMethod),
		Pct: -1,
	}
	if n, err := strconv.Atoi(strings.TrimSpace(w.Pct)); err == nil && n >= 0 && n <= 100 {
		p.Pct = n
	}
	return p
}

// toModel checks and converts one record; path names it
// ("feedback/record[3]").
func (w *wireRecord) toModel(path string) (Record, error) {
	var r Record
	var err error
	if r.SourceIP, err = sourceIP(w.Row.SourceIP, path+"/row/source_ip"); err != nil {
		return r, err
	}
	if r.Count, err = count(w.Row.Count, path+"/row/count"); err != nil {
		return r, err
	}
	pe := &w.Row.PolicyEvaluated
	r.Disposition, r.DKIM, r.SPF = enum(pe.Disposition), enum(pe.DKIM), enum(pe.SPF)
	for _, rs := range pe.Reasons {
		reason := Reason{Type: enum(rs.Type), Comment: strings.TrimSpace(rs.Comment)}
		if reason != (Reason{}) { // an empty <reason> says nothing
			r.Reasons = append(r.Reasons, reason)
		}
	}
	id := &w.Identifiers
	r.HeaderFrom, r.EnvelopeFrom, r.EnvelopeTo = domain(id.HeaderFrom), domain(id.EnvelopeFrom), domain(id.EnvelopeTo)
	for _, a := range w.AuthResults.DKIM {
		r.DKIMResults = append(r.DKIMResults, DKIMResult{Domain: domain(a.Domain),
			Selector: strings.TrimSpace(a.Selector), Result: enum(a.Result), HumanResult: strings.TrimSpace(a.HumanResult)})
	}
	for _, a := range w.AuthResults.SPF {
		r.SPFResults = append(r.SPFResults, SPFResult{Domain: domain(a.Domain),
			Scope: enum(a.Scope), Result: enum(a.Result), HumanResult: strings.TrimSpace(a.HumanResult)})
	}
	return r, nil
}

// sourceIP parses row/source_ip: required, no zone, IPv4-mapped IPv6
// unmapped.
func sourceIP(s *string, path string) (netip.Addr, error) {
	if s == nil || strings.TrimSpace(*s) == "" {
		return netip.Addr{}, field(path, "missing or empty")
	}
	v := strings.TrimSpace(*s)
	a, err := netip.ParseAddr(v)
	if err != nil || a.Zone() != "" {
		return netip.Addr{}, field(path, "%.60q is not an IP address", v)
	}
	return a.Unmap(), nil
}

// count parses row/count: required, an integer from 0 to MaxCount.
func count(s *string, path string) (int64, error) {
	if s == nil || strings.TrimSpace(*s) == "" {
		return 0, field(path, "missing or empty")
	}
	v := strings.TrimSpace(*s)
	n, err := strconv.ParseInt(v, 10, 64)
	if err != nil || n < 0 || n > MaxCount {
		return 0, field(path, "%.40q is not a message count from 0 to 10^12", v)
	}
	return n, nil
}

// rootName is the element name a DOCTYPE declares, lower case.
func rootName(d xml.Directive) (string, bool) {
	f := strings.Fields(string(d))
	if len(f) == 0 || !strings.EqualFold(f[0], "DOCTYPE") {
		return "", false
	}
	if len(f) < 2 {
		return "", true
	}
	name, _, _ := strings.Cut(f[1], "[")
	return strings.ToLower(name), true
}

func trim(s string) string { return strings.TrimSpace(s) }

package report

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"math"
	"net/netip"
	"strconv"
	"strings"
	"time"

	"github.com/go-json-experiment/json"
	"github.com/go-json-experiment/json/jsontext"

	"github.com/tlsrpt/tlsrpt/internal/pkgerr"
)

// decodeOptions make the decoder as lenient as encoding/json was, for the
// reporters' sake: member names match without regard to case, a repeated
// member is taken (the last wins), and invalid UTF-8 in a string becomes
// U+FFFD instead of refusing the report.
//
// The decoder is go-json-experiment/json (the proposal that became
// encoding/json/v2) rather than encoding/json: it decodes a report three
// times as fast, and it lets failure-details be decoded element by element
// straight into the model, where encoding/json would first build a slice
// of wire structs that grows by copying (a third of the filter's time at
// 50,000 details, most of it in fresh pages for the copies).
var decodeOptions = json.JoinOptions(
	json.MatchCaseInsensitiveNames(true),
	jsontext.AllowDuplicateNames(true),
	jsontext.AllowInvalidUTF8(true),
)

// The wire types below follow RFC 8460 section 4.4 with its hyphenated
// member names. They are kept apart from the model in model.go: every
// reporter's deviation from the RFC is absorbed here, and toModel turns the
// result into a clean Report, checking what must be right (addresses and
// counts) and naming the offending member when it is not.

// jsonReport is the top-level report object.
type jsonReport struct {
	OrganizationName string `json:"organization-name"`
	DateRange        struct {
		Start xtime `json:"start-datetime"`
		End   xtime `json:"end-datetime"`
	} `json:"date-range"`
	// Small MTAs send "contact-info": null; decoding null into a string
	// leaves it empty, which is what we want.
	ContactInfo string          `json:"contact-info"`
	ReportID    *string         `json:"report-id"`
	Policies    []jsonPolicyRes `json:"policies"`
}

// jsonPolicyRes is one element of "policies".
type jsonPolicyRes struct {
	Policy struct {
		Type    string        `json:"policy-type"`
		Strings policyStrings `json:"policy-string"`
		Domain  string        `json:"policy-domain"`
		MXHost  mxHosts       `json:"mx-host"`
	} `json:"policy"`
	Summary struct {
		Successful count `json:"total-successful-session-count"`
		Failed     count `json:"total-failure-session-count"`
	} `json:"summary"`
	// Mail.ru and Microsoft send details without sending-mta-ip and
	// without receiving-* members; small MTAs send an empty array. All of
	// that decodes to empty strings or a nil slice here.
	Details failureDetails `json:"failure-details"`
}

// failureDetails is the failure-details member, converted to the model
// while it is decoded: each element goes through one reused
// jsonFailureDetail, so the wire form of the whole array never exists.
type failureDetails struct {
	list []FailureDetail // nil when the member is absent or null
	err  error           // the first element that does not convert
}

// entriesDecoder is the decoding option that counts policies and
// failure details against b, each against its own bound: past either,
// decoding stops with ErrTooLarge, so a report of millions of tiny
// entries ({} is a whole detail or policy) costs no more than the bounds.
func (b *budget) entriesDecoder() json.Options {
	return json.WithUnmarshalers(json.JoinUnmarshalers(
		json.UnmarshalFromFunc(func(dec *jsontext.Decoder, fd *failureDetails) error {
			return fd.decode(dec, b)
		}),
		json.UnmarshalFromFunc(func(*jsontext.Decoder, *jsonPolicyRes) error {
			b.policiesLeft--
			if b.policiesLeft < 0 {
				return errTooManyEntries
			}
			return json.SkipFunc // decoded as any struct
		}),
	))
}

// takeDetail counts one failure detail and reports whether it is within
// the bound.
func (b *budget) takeDetail() bool {
	b.detailsLeft--
	return b.detailsLeft >= 0
}

// errTooManyEntries stops the decoder past one of the budget's bounds;
// decodeError tells which in the operator's words.
var errTooManyEntries = errors.New("too many policies or failure details")

// decodeError is err from decoding a report against b; past one of b's
// bounds it is a *LimitError saying which.
func (b *budget) decodeError(err error) error {
	switch {
	case err == nil:
		return nil
	case b.detailsLeft < 0:
		return fmt.Errorf("%w: %w", &LimitError{Limit: "MaxDetails", Max: b.lim.MaxDetails, What: "failure details"}, ErrTooLarge)
	case b.policiesLeft < 0:
		return fmt.Errorf("%w: %w", &LimitError{Limit: "MaxPolicies", Max: b.lim.MaxPolicies, What: "policies"}, ErrTooLarge)
	}
	return err
}

// decode decodes an array of failure details, or null, counting them
// against b. An element that does not convert (a bad address or count) is
// remembered with its index, and decoding goes on, so that malformed JSON
// later in the report is still told as such.
func (fd *failureDetails) decode(dec *jsontext.Decoder, b *budget) error {
	switch k := dec.PeekKind(); k {
	case 'n':
		_, err := dec.ReadToken()
		return err
	case '[':
	default:
		if _, err := dec.ReadValue(); err != nil {
			return err
		}
		return fmt.Errorf("failure-details: want an array, not %s", kindName(k))
	}
	if _, err := dec.ReadToken(); err != nil {
		return err
	}
	fd.list = make([]FailureDetail, 0, 8)
	var jd jsonFailureDetail
	for i := 0; dec.PeekKind() != ']'; i++ {
		if !b.takeDetail() {
			return errTooManyEntries
		}
		jd = jsonFailureDetail{FailedSessions: count{raw: jd.FailedSessions.raw[:0]}}
		if err := json.UnmarshalDecode(dec, &jd); err != nil {
			return err
		}
		if fd.err != nil {
			continue
		}
		d, err := jd.toModel()
		if err != nil {
			fd.err = fmt.Errorf("failure-details[%d].%w", i, err)
			continue
		}
		fd.list = appendDoubling(fd.list, d)
	}
	_, err := dec.ReadToken()
	return err
}

// appendDoubling appends d, doubling the capacity when it is full: append
// grows large slices by a quarter, which for 50,000 details copies the
// array a dozen times into fresh memory.
func appendDoubling(list []FailureDetail, d FailureDetail) []FailureDetail {
	if len(list) == cap(list) {
		grown := make([]FailureDetail, len(list), 2*cap(list)+8)
		copy(grown, list)
		list = grown
	}
	return append(list, d)
}

// kindName names a JSON kind in an error.
func kindName(k jsontext.Kind) string {
	switch k {
	case '"':
		return "a string"
	case '0':
		return "a number"
	case 't', 'f':
		return "a boolean"
	case '{':
		return "an object"
	default:
		return "nothing"
	}
}

// jsonFailureDetail is one element of "failure-details". Addresses stay
// strings here so that toModel can name the member that does not parse.
type jsonFailureDetail struct {
	ResultType            string `json:"result-type"`
	SendingMTAIP          string `json:"sending-mta-ip"`
	ReceivingMXHostname   string `json:"receiving-mx-hostname"`
	ReceivingMXHelo       string `json:"receiving-mx-helo"`
	ReceivingIP           string `json:"receiving-ip"`
	FailedSessions        count  `json:"failed-session-count"`
	AdditionalInformation string `json:"additional-information"`
	FailureReasonCode     string `json:"failure-reason-code"`
}

// xtime is a date-time as reporters write it. RFC 8460 asks for RFC 3339
// date-time with a zone, but Microsoft sends "2023-01-10T00:00:00" without
// one; such times are taken as UTC.
type xtime string

// xtimeLayouts are tried in order; the first has a zone and accepts
// fractional seconds, the others are the zone-less forms seen in the wild.
var xtimeLayouts = []string{
	time.RFC3339Nano,
	"2006-01-02T15:04:05.999999999Z0700", // offset without a colon
	"2006-01-02T15:04:05.999999999",      // Microsoft: no zone
	"2006-01-02 15:04:05.999999999Z07:00",
	"2006-01-02 15:04:05.999999999",
	"2006-01-02",
}

// parse returns the time in UTC, or the zero time when the member was
// absent or empty.
func (t xtime) parse() (time.Time, error) {
	s := strings.TrimSpace(string(t))
	if s == "" {
		return time.Time{}, nil
	}
	var firstErr error
	for _, layout := range xtimeLayouts {
		tm, err := time.Parse(layout, s)
		if err == nil {
			return tm.UTC(), nil
		}
		if firstErr == nil {
			firstErr = err
		}
	}
	return time.Time{}, firstErr
}

// mxHosts is the mx-host member: RFC 8460 shows a string, RFC errata 6241
// an array of strings, Google sends an array, Microsoft leaves it out.
type mxHosts []string

// UnmarshalJSONFrom accepts a string, an array of strings or null.
func (m *mxHosts) UnmarshalJSONFrom(dec *jsontext.Decoder) error {
	hosts, err := readStrings(dec, MaxStrings)
	if err != nil {
		return fmt.Errorf("mx-host: %w", err)
	}
	*m = hosts
	return nil
}

// policyStrings is the policy-string member. RFC 8460 says an array of
// strings. Microsoft sends its tlsa policy as an array holding ONE string
// that is itself a JSON-encoded array of TLSA records; such elements are
// flattened. A plain string is taken as a one-line policy.
type policyStrings []string

// UnmarshalJSONFrom accepts an array of strings, a string or null, and
// flattens elements that hold a JSON-encoded array of strings.
func (p *policyStrings) UnmarshalJSONFrom(dec *jsontext.Decoder) error {
	lines, err := readStrings(dec, MaxStrings)
	if err != nil {
		return fmt.Errorf("policy-string: %w", err)
	}
	var flat []string
	if lines != nil {
		flat = make([]string, 0, len(lines))
	}
	for _, l := range lines {
		nested, ok, err := nestedStrings(l, MaxStrings-len(flat))
		if err != nil {
			return fmt.Errorf("policy-string: %w", err)
		}
		if !ok {
			nested = []string{l}
		}
		if len(flat)+len(nested) > MaxStrings {
			return fmt.Errorf("policy-string: %w", errTooManyStrings)
		}
		flat = append(flat, nested...)
	}
	*p = flat
	return nil
}

// MaxStrings bounds the lines of a policy-string (nested TLSA records
// included) and the names of an mx-host: a real policy has a handful, and
// two bytes of JSON ("") decode to a whole string, so that without a bound
// a 20 KB message of five million took 3 s and 400 MB.
const MaxStrings = 1000

// errTooManyStrings refuses a member past MaxStrings.
var errTooManyStrings = fmt.Errorf("more than %d strings: %w", MaxStrings, ErrTooLarge)

// nestedStrings decodes s when it is a JSON-encoded array of strings
// (Microsoft's tlsa policy-string), of at most max; ok is false when s is
// no such array, and err is set when it holds more.
func nestedStrings(s string, max int) (nested []string, ok bool, err error) {
	t := strings.TrimSpace(s)
	if !strings.HasPrefix(t, "[") || !strings.HasSuffix(t, "]") {
		return nil, false, nil
	}
	dec := jsontext.NewDecoder(strings.NewReader(t), decodeOptions)
	nested, err = readStrings(dec, max)
	switch {
	case errors.Is(err, ErrTooLarge):
		return nil, false, err
	case err != nil:
		return nil, false, nil
	}
	if _, err := dec.ReadToken(); err != io.EOF {
		return nil, false, nil // something after the array
	}
	return nested, true, nil
}

// readStrings decodes a JSON string, array of at most max strings, or
// null. A string becomes a one-element slice (none when empty); null
// gives nil; a null element is an empty string. The strings are decoded
// one by one, so that an array past max costs no more than max strings.
func readStrings(dec *jsontext.Decoder, max int) ([]string, error) {
	switch k := dec.PeekKind(); k {
	case 'n':
		_, err := dec.ReadToken()
		return nil, err
	case '"':
		var s string
		if err := json.UnmarshalDecode(dec, &s); err != nil {
			return nil, err
		}
		if s == "" {
			return []string{}, nil
		}
		return []string{s}, nil
	case '[':
	default:
		if _, err := dec.ReadValue(); err != nil {
			return nil, err
		}
		return nil, fmt.Errorf("want a string or an array of strings, not %s", kindName(k))
	}
	if _, err := dec.ReadToken(); err != nil {
		return nil, err
	}
	ss := []string{}
	for dec.PeekKind() != ']' {
		if len(ss) == max {
			return nil, errTooManyStrings
		}
		var s string
		if err := json.UnmarshalDecode(dec, &s); err != nil {
			return nil, fmt.Errorf("want a string or an array of strings: %w", err)
		}
		ss = append(ss, s)
	}
	_, err := dec.ReadToken()
	return ss, err
}

// MaxCount bounds every session count: no MTA makes 10^12 sessions in a
// report's day, and sums of such counts stay far from overflow. A report
// with a larger count is refused whole, with the member named.
const MaxCount = 1_000_000_000_000

// count is a session count. It must be a JSON number holding a
// non-negative integer up to MaxCount; 3.0 is accepted, 3.5, "3", -1 and
// 10^13 are not. It is
// kept raw until toModel so that the error can name the member.
type count struct {
	raw []byte
}

// UnmarshalJSONFrom keeps the raw value for value.
func (c *count) UnmarshalJSONFrom(dec *jsontext.Decoder) error {
	v, err := dec.ReadValue()
	if err != nil {
		return err
	}
	c.raw = append(c.raw[:0], v...)
	return nil
}

// value returns the count; absent or null counts are 0.
func (c count) value() (int64, error) {
	s := string(bytes.TrimSpace(c.raw))
	if s == "" || s == "null" {
		return 0, nil
	}
	if s[0] == '"' {
		return 0, fmt.Errorf("count %s is a string, not a number", s)
	}
	if n, err := strconv.ParseInt(s, 10, 64); err == nil {
		if n < 0 {
			return 0, fmt.Errorf("negative count %d", n)
		}
		if n > MaxCount {
			return 0, fmt.Errorf("count %d exceeds 10^12 sessions: not a real report", n)
		}
		return n, nil
	}
	f, err := strconv.ParseFloat(s, 64)
	if err != nil {
		return 0, fmt.Errorf("count %.40q is not a number", s)
	}
	if f != math.Trunc(f) || f < 0 {
		return 0, fmt.Errorf("count %.40s is not a non-negative integer", s)
	}
	if f > MaxCount {
		return 0, fmt.Errorf("count %.40s exceeds 10^12 sessions: not a real report", s)
	}
	return int64(f), nil
}

// parseAddr parses an address member: empty means absent (the zero
// Addr); zones are refused; IPv4-mapped IPv6 is unmapped.
func parseAddr(s string) (netip.Addr, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return netip.Addr{}, nil
	}
	a, err := netip.ParseAddr(s)
	if err != nil {
		return netip.Addr{}, err
	}
	if a.Zone() != "" {
		return netip.Addr{}, fmt.Errorf("address %q has a zone", s)
	}
	return a.Unmap(), nil
}

// errNotReport is wrapped when a JSON value is not a TLS report at all.
func errNotReport(why string) error {
	return fmt.Errorf("not a TLS report (%s): %w", why, ErrNoReport)
}

// ParseJSON reads one RFC 8460 JSON report from r, reading at most
// lim.MaxDecompressed bytes (ErrTooLarge beyond). A JSON value that is not
// an object with "report-id" and "policies" gives an error wrapping
// ErrNoReport. Reporter quirks are accepted (see the wire types); invalid
// addresses and counts are errors that name the member, such as
// policies[0].failure-details[1].sending-mta-ip.
func ParseJSON(r io.Reader, lim Limits) (*Report, error) {
	lim = lim.orDefault()
	data, err := io.ReadAll(io.LimitReader(r, lim.MaxDecompressed+1))
	if err != nil {
		return nil, pkgerr.Errorf("report", "reading JSON: %w", err)
	}
	if int64(len(data)) > lim.MaxDecompressed {
		return nil, pkgerr.Errorf("report", "reading JSON: more than %d bytes: %w", lim.MaxDecompressed, ErrTooLarge)
	}
	rep, err := parseJSON(data, newBudget(lim))
	if err != nil {
		return nil, pkgerr.Errorf("report", "parsing JSON: %w", err)
	}
	return rep, nil
}

// parseJSON decodes data, which is already bounded, and refuses a report
// with more policies or failure details than are left in b. Its errors are ErrJSON (and ErrTooLarge or ErrNoReport
// where they apply).
func parseJSON(data []byte, b *budget) (*Report, error) {
	r, err := parseJSONData(data, b)
	if err != nil {
		return nil, pkgerr.Kind(ErrJSON, err)
	}
	return r, nil
}

func parseJSONData(data []byte, b *budget) (*Report, error) {
	data = bytes.TrimPrefix(data, []byte(utf8BOM))
	trimmed := bytes.TrimSpace(data)
	if len(trimmed) == 0 {
		return nil, errNotReport("empty")
	}
	if trimmed[0] != '{' {
		return nil, errNotReport("not a JSON object")
	}
	var jr jsonReport
	if err := json.Unmarshal(data, &jr, decodeOptions, b.entriesDecoder()); err != nil {
		return nil, b.decodeError(err)
	}
	return jr.toModel()
}

// parseJSONFrom decodes a report from r, which the caller bounds and
// which starts with '{'. Its errors are ErrJSON, as parseJSON's.
func parseJSONFrom(r io.Reader, b *budget) (*Report, error) {
	var jr jsonReport
	err := b.decodeError(json.UnmarshalRead(r, &jr, decodeOptions, b.entriesDecoder()))
	var rep *Report
	if err == nil {
		rep, err = jr.toModel()
	}
	if err != nil {
		return nil, pkgerr.Kind(ErrJSON, err)
	}
	return rep, nil
}

// toModel checks jr and converts it to a Report.
func (jr *jsonReport) toModel() (*Report, error) {
	if jr.Policies == nil {
		return nil, errNotReport(`no "policies"`)
	}
	if jr.ReportID == nil {
		return nil, errNotReport(`no "report-id"`)
	}
	if err := checkNames(
		"organization-name", jr.OrganizationName,
		"report-id", *jr.ReportID,
	); err != nil {
		return nil, err
	}
	rep := &Report{
		OrganizationName: jr.OrganizationName,
		ContactInfo:      jr.ContactInfo,
		ReportID:         *jr.ReportID,
		Policies:         make([]Policy, 0, len(jr.Policies)),
	}
	var err error
	if rep.Start, err = jr.DateRange.Start.parse(); err != nil {
		return nil, fmt.Errorf("date-range.start-datetime %q: %w", jr.DateRange.Start, err)
	}
	if rep.End, err = jr.DateRange.End.parse(); err != nil {
		return nil, fmt.Errorf("date-range.end-datetime %q: %w", jr.DateRange.End, err)
	}
	for i := range jr.Policies {
		p, err := jr.Policies[i].toModel(fmt.Sprintf("policies[%d]", i))
		if err != nil {
			return nil, err
		}
		rep.Policies = append(rep.Policies, p)
	}
	return rep, nil
}

// toModel converts one policy result; path names it in errors.
func (jp *jsonPolicyRes) toModel(path string) (Policy, error) {
	p := Policy{
		Type:    jp.Policy.Type,
		Strings: []string(jp.Policy.Strings),
		Domain:  jp.Policy.Domain,
		MXHosts: []string(jp.Policy.MXHost),
	}
	if err := checkNames("policy.policy-domain", p.Domain); err != nil {
		return Policy{}, fmt.Errorf("%s.%w", path, err)
	}
	for i, h := range p.MXHosts {
		if err := checkNames(fmt.Sprintf("policy.mx-host[%d]", i), h); err != nil {
			return Policy{}, fmt.Errorf("%s.%w", path, err)
		}
	}
	var err error
	if p.Successful, err = jp.Summary.Successful.value(); err != nil {
		return Policy{}, fmt.Errorf("%s.summary.total-successful-session-count: %w", path, err)
	}
	if p.Failed, err = jp.Summary.Failed.value(); err != nil {
		return Policy{}, fmt.Errorf("%s.summary.total-failure-session-count: %w", path, err)
	}
	if jp.Details.err != nil {
		return Policy{}, fmt.Errorf("%s.%w", path, jp.Details.err)
	}
	p.Details = jp.Details.list
	return p, nil
}

// toModel converts one failure detail; its errors name the member.
func (jd *jsonFailureDetail) toModel() (FailureDetail, error) {
	if err := checkNames(
		"result-type", jd.ResultType,
		"receiving-mx-hostname", jd.ReceivingMXHostname,
		"receiving-mx-helo", jd.ReceivingMXHelo,
	); err != nil {
		return FailureDetail{}, err
	}
	d := FailureDetail{
		ResultType:            jd.ResultType,
		ReceivingMXHostname:   jd.ReceivingMXHostname,
		ReceivingMXHelo:       jd.ReceivingMXHelo,
		AdditionalInformation: jd.AdditionalInformation,
		FailureReasonCode:     jd.FailureReasonCode,
	}
	var err error
	if d.SendingMTAIP, err = parseAddr(jd.SendingMTAIP); err != nil {
		return FailureDetail{}, fmt.Errorf("sending-mta-ip %q: %w", jd.SendingMTAIP, err)
	}
	if d.ReceivingIP, err = parseAddr(jd.ReceivingIP); err != nil {
		return FailureDetail{}, fmt.Errorf("receiving-ip %q: %w", jd.ReceivingIP, err)
	}
	if d.FailedSessions, err = jd.FailedSessions.value(); err != nil {
		return FailureDetail{}, fmt.Errorf("failed-session-count: %w", err)
	}
	return d, nil
}

// MaxName bounds, in bytes, each name a report gives: organization-name,
// report-id and result-type, which the store keys and indexes on, and the
// host and domain names (policy-domain, mx-host, receiving-mx-hostname,
// receiving-mx-helo), which DNS bounds at 255 bytes anyway. A real one
// is a few dozen bytes. Without a bound, SQLite stored a 20 KB report-id
// that PostgreSQL refused ("index row requires 20032 bytes"), so the same
// report was stored by one engine and failed on the other; both now
// refuse it here, naming the member. 255 bytes, even if every byte
// became three in the store (a NUL is stored as U+FFFD on PostgreSQL),
// leave three such names within one PostgreSQL index row.
const MaxName = 255

// checkNames checks member, value pairs against MaxName; its error names
// the first member over the bound and its length, never its value.
func checkNames(pairs ...string) error {
	for i := 0; i+1 < len(pairs); i += 2 {
		if n := len(pairs[i+1]); n > MaxName {
			return fmt.Errorf("%s of %d bytes exceeds %d: not a real report", pairs[i], n, MaxName)
		}
	}
	return nil
}

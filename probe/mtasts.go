package probe

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"mime"
	"net"
	"net/http"
	"slices"
	"strconv"
	"strings"
)

// policy is a parsed MTA-STS policy (RFC 8461 §3.2).
type policy struct {
	version, mode string
	maxAge        int64
	hasMaxAge     bool
	mx            []string
	lines         []string // normalised "key: value" lines, sorted
}

// stsTypes are the result types of MTA-STS.
var stsTypes = []string{STSPolicyFetchError, STSPolicyInvalid, STSWebPKIInvalid}

// checkSTS checks the MTA-STS record and policy; it returns the policy
// when it could be fetched and parsed.
func (r *run) checkSTS(ctx context.Context, mxs []mxHost) *policy {
	if !r.checkSTSRecord(ctx) {
		return nil
	}
	body := r.fetchPolicy(ctx)
	if body == nil {
		return nil
	}
	pol := r.checkSyntax(body)
	if pol == nil {
		return nil
	}
	r.checkCoverage(pol, mxs)
	r.checkChanged(pol)
	return pol
}

// checkSTSRecord checks _mta-sts.DOMAIN and reports whether there is a
// policy to fetch.
func (r *run) checkSTSRecord(ctx context.Context) bool {
	f := Finding{Check: CheckSTSRecord, Host: "_mta-sts." + r.domain}
	recs, ok := r.versionRecords(ctx, f, "v=STSv1", stsTypes...)
	if !ok {
		return false
	}
	switch {
	case len(recs) == 0:
		f.Status, f.Detail = OK, "no TXT record starting with v=STSv1: MTA-STS is not in use"
		if r.reported(stsTypes...) {
			f.Status = Warn
			f.Advice = "the reports name MTA-STS failures but there is no record now: senders keep a cached policy until its max_age ends; keep the policy served with mode: none until then"
		}
		r.add(f, stsTypes...)
		return r.reported(stsTypes...)
	case len(recs) > 1:
		f.Status, f.Detail = Fail, fmt.Sprintf("%d v=STSv1 records: RFC 8461 §3.1 says senders then use none", len(recs))
		f.Advice = "keep one record: v=STSv1; id=ID"
	case !validSTSID(recs[0]):
		f.Status, f.Detail = Fail, recs[0]
		f.Advice = "give the record an id of 1 to 32 letters and digits: v=STSv1; id=20240101T000000"
	default:
		f.Status, f.Detail = OK, recs[0]
	}
	r.add(f, STSPolicyFetchError)
	return true
}

// validSTSID reports whether an STS record has a valid id field.
func validSTSID(rec string) bool {
	for _, fl := range strings.Split(rec, ";") {
		k, v, _ := strings.Cut(strings.TrimSpace(fl), "=")
		if k != "id" {
			continue
		}
		if len(v) < 1 || len(v) > 32 {
			return false
		}
		for _, c := range v {
			if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9') {
				return false
			}
		}
		return true
	}
	return false
}

// fetchPolicy fetches https://mta-sts.DOMAIN/.well-known/mta-sts.txt as
// RFC 8461 §3.3 says: a valid certificate for that name, no redirects,
// status 200, text/plain, a bounded size. It returns the body, nil when
// the fetch failed.
func (r *run) fetchPolicy(ctx context.Context) []byte {
	host := "mta-sts." + r.domain
	url := "https://" + host + "/.well-known/mta-sts.txt"
	f := Finding{Check: CheckSTSPolicy, Host: host}
	resp, err := r.policyClient(host).Do(mustRequest(ctx, url))
	if err != nil {
		f.Status, f.Detail = failOrError(err), fmt.Sprintf("fetching %s: %v", url, err)
		types := []string{STSPolicyFetchError}
		switch {
		case errors.Is(err, ErrNonPublic):
			f.Status, f.Advice = Error, nonPublicAdvice(r.domain)
		case isCertError(err):
			f.Status = Fail
			f.Advice = "serve a certificate for " + host + " from a public CA, with its intermediates"
			types = []string{STSWebPKIInvalid}
		case f.Status == Error:
			f.Advice = "check that " + host + " answers HTTPS on port 443 from the world, then run again"
		default:
			f.Advice = "publish the policy over HTTPS at " + url
		}
		r.add(f, types...)
		return nil
	}
	defer resp.Body.Close()
	if body, ok := r.judgeResponse(&f, resp, url); ok {
		return body
	}
	r.add(f, STSPolicyFetchError)
	return nil
}

// judgeResponse judges the policy response; when it fails it fills f.
func (r *run) judgeResponse(f *Finding, resp *http.Response, url string) ([]byte, bool) {
	f.Status = Fail
	if resp.StatusCode >= 300 && resp.StatusCode < 400 {
		f.Detail = fmt.Sprintf("%s answers %s, redirecting to %q: RFC 8461 §3.3 forbids following redirects", url, resp.Status, resp.Header.Get("Location"))
		f.Advice = "serve the policy itself at that URL, with status 200"
		return nil, false
	}
	if resp.StatusCode != http.StatusOK {
		f.Detail = fmt.Sprintf("%s answers %s", url, resp.Status)
		f.Advice = "serve the policy at " + url + " with status 200"
		return nil, false
	}
	if mt, _, err := mime.ParseMediaType(resp.Header.Get("Content-Type")); err != nil || mt != "text/plain" {
		f.Detail = fmt.Sprintf("%s has Content-Type %q, not text/plain", url, resp.Header.Get("Content-Type"))
		f.Advice = "serve the policy as text/plain"
		return nil, false
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, MaxPolicySize+1))
	if err != nil {
		f.Status, f.Detail = failOrError(err), fmt.Sprintf("reading %s: %v", url, err)
		return nil, false
	}
	if len(body) > MaxPolicySize {
		f.Detail = fmt.Sprintf("%s is larger than %d KiB", url, MaxPolicySize>>10)
		f.Advice = "a policy is a few lines: serve only the policy"
		return nil, false
	}
	r.add(Finding{Check: CheckSTSPolicy, Host: f.Host, Status: OK, Detail: fmt.Sprintf("%s: 200, text/plain, %d bytes", url, len(body))}, STSPolicyFetchError, STSWebPKIInvalid)
	return body, true
}

func mustRequest(ctx context.Context, url string) *http.Request {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		panic(err) // the URL is built from a validated domain
	}
	return req
}

// policyClient fetches from host only, port 443 of its addresses from
// DNS, with no proxy, no redirects and the roots.
func (r *run) policyClient(host string) *http.Client {
	tr := &http.Transport{
		Proxy: nil,
		DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
			if addr != net.JoinHostPort(host, "443") {
				return nil, fmt.Errorf("refusing to connect to %s", addr)
			}
			return r.dialPolicyHost(ctx, host)
		},
		TLSClientConfig:        &tls.Config{RootCAs: r.p.Roots, ServerName: host, Time: r.p.now},
		TLSHandshakeTimeout:    r.p.timeout(),
		ResponseHeaderTimeout:  r.p.timeout(),
		MaxResponseHeaderBytes: 16 << 10,
		DisableKeepAlives:      true,
	}
	return &http.Client{
		Transport:     tr,
		Timeout:       r.p.timeout(),
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
}

// dialPolicyHost dials port 443 of host's addresses in turn.
func (r *run) dialPolicyHost(ctx context.Context, host string) (net.Conn, error) {
	addrs, err := r.res.addrs(ctx, host)
	if err != nil {
		return nil, err
	}
	if len(addrs) == 0 {
		return nil, errors.New(host + " has no A or AAAA record")
	}
	if addrs, err = r.dialable(addrs); err != nil {
		return nil, fmt.Errorf("%s %w", host, err)
	}
	for _, a := range addrs {
		var c net.Conn
		if c, err = r.p.dial(ctx, net.JoinHostPort(a.String(), "443")); err == nil {
			return c, nil
		}
	}
	return nil, err
}

// checkSyntax parses the policy and checks its fields.
func (r *run) checkSyntax(body []byte) *policy {
	f := Finding{Check: CheckSTSSyntax, Host: "mta-sts." + r.domain}
	pol, err := parsePolicy(string(body))
	if err != nil {
		f.Status, f.Detail = Fail, err.Error()
		f.Advice = "write the policy as RFC 8461 §3.2 shows: version: STSv1, mode: enforce|testing|none, max_age: SECONDS, one mx: line per MX host pattern"
		r.add(f, STSPolicyInvalid)
		return nil
	}
	f.Status, f.Detail = OK, fmt.Sprintf("mode %s, max_age %d, mx %s", pol.mode, pol.maxAge, joinNames(pol.mx))
	if pol.maxAge < 86400 && pol.mode != "none" {
		f.Status, f.Advice = Warn, "a max_age under a day makes senders fetch the policy often; RFC 8461 advises weeks"
	}
	r.add(f, STSPolicyInvalid)
	return pol
}

// maxMaxAge is the largest max_age RFC 8461 allows (about a year).
const maxMaxAge = 31557600

// parsePolicy parses a policy; fields other than the four known are
// ignored, as senders ignore them.
func parsePolicy(s string) (*policy, error) {
	p := &policy{}
	seen := map[string]bool{}
	for i, line := range strings.Split(s, "\n") {
		line = strings.TrimSuffix(line, "\r")
		if strings.TrimSpace(line) == "" {
			continue
		}
		k, v, ok := strings.Cut(line, ":")
		if !ok {
			return nil, fmt.Errorf("line %d is not key: value", i+1)
		}
		k, v = strings.TrimSpace(k), strings.TrimSpace(v)
		p.lines = append(p.lines, k+": "+v)
		if k != "mx" && seen[k] {
			return nil, fmt.Errorf("line %d repeats %s", i+1, k)
		}
		seen[k] = true
		if err := p.set(k, v); err != nil {
			return nil, fmt.Errorf("line %d: %w", i+1, err)
		}
	}
	slices.Sort(p.lines)
	return p, p.complete()
}

// set sets one field.
func (p *policy) set(k, v string) error {
	switch k {
	case "version":
		if v != "STSv1" {
			return fmt.Errorf("version %q is not STSv1", v)
		}
		p.version = v
	case "mode":
		if v != "enforce" && v != "testing" && v != "none" {
			return fmt.Errorf("mode %q is not enforce, testing or none", v)
		}
		p.mode = v
	case "max_age":
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil || n < 0 || n > maxMaxAge || len(v) > 10 {
			return fmt.Errorf("max_age %q is not a number of seconds from 0 to %d", v, maxMaxAge)
		}
		p.maxAge, p.hasMaxAge = n, true
	case "mx":
		pat := strings.ToLower(v)
		if !ValidDomain(strings.TrimPrefix(pat, "*.")) {
			return fmt.Errorf("mx %q is not a host name or *.domain pattern", v)
		}
		p.mx = append(p.mx, pat)
	}
	return nil
}

// complete checks that the required fields are there.
func (p *policy) complete() error {
	switch {
	case p.version == "":
		return errors.New("no version field")
	case p.mode == "":
		return errors.New("no mode field")
	case !p.hasMaxAge:
		return errors.New("no max_age field")
	case len(p.mx) == 0 && p.mode != "none":
		return errors.New("no mx field")
	}
	return nil
}

// matches reports whether host matches an mx pattern (RFC 8461 §4.1: a
// wildcard covers exactly one label).
func (p *policy) matches(host string) bool {
	for _, pat := range p.mx {
		if pat == host {
			return true
		}
		if rest, ok := strings.CutPrefix(pat, "*."); ok {
			if _, after, ok := strings.Cut(host, "."); ok && after == rest {
				return true
			}
		}
	}
	return false
}

// checkCoverage checks that every MX host matches an mx pattern.
func (r *run) checkCoverage(pol *policy, mxs []mxHost) {
	if pol.mode == "none" {
		return
	}
	for _, m := range mxs {
		f := Finding{Check: CheckSTSMX, Host: m.name}
		if pol.matches(m.name) {
			f.Status, f.Detail = OK, "matches the policy's mx patterns"
		} else {
			f.Status, f.Detail = Fail, fmt.Sprintf("%s matches none of the policy's mx patterns (%s)", m.name, joinNames(pol.mx))
			f.Advice = "add the line \"mx: " + m.name + "\" to the policy and change the id of the _mta-sts record, or remove the MX record"
		}
		r.add(f, STSPolicyInvalid, ValidationFailure, CertificateHostMismatch)
	}
}

// checkChanged compares the live policy with those the reports carried.
func (r *run) checkChanged(pol *policy) {
	if len(r.req.PolicyStrings) == 0 {
		return
	}
	f := Finding{Check: CheckSTSChanged, Host: "mta-sts." + r.domain}
	for _, ps := range r.req.PolicyStrings {
		if slices.Equal(normalisePolicy(ps), pol.lines) {
			f.Status, f.Detail = OK, "the live policy is the one the reports carried"
			r.add(f, stsTypes...)
			return
		}
	}
	f.Status, f.Detail = Warn, "the live policy differs from the one the reports carried"
	f.Advice = "the failure may already be fixed by the change: check the next reports before changing more"
	r.add(f, stsTypes...)
}

// normalisePolicy gives a report's policy-string the form of policy.lines.
func normalisePolicy(lines []string) []string {
	var out []string
	for _, l := range lines {
		for _, part := range strings.Split(l, "\n") {
			k, v, ok := strings.Cut(strings.TrimSpace(part), ":")
			if ok {
				out = append(out, strings.TrimSpace(k)+": "+strings.TrimSpace(v))
			}
		}
	}
	slices.Sort(out)
	return out
}

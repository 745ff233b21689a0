package probe

import (
	"context"
	"fmt"
	"net/mail"
	"net/url"
	"strings"
)

// versionRecords looks up the TXT records at f.Host and returns those that
// start with version (v=STSv1, v=TLSRPTv1). When the lookup fails it adds
// f as the failure, explaining the result-types explains, and returns
// false.
func (r *run) versionRecords(ctx context.Context, f Finding, version string, explains ...string) ([]string, bool) {
	txts, err := r.res.txt(ctx, f.Host)
	if err != nil {
		f.Status, f.Detail, f.Advice = dnsStatus(err), err.Error(), "check the DNS server (--resolver) and the zone, then run again"
		r.add(f, explains...)
		return nil, false
	}
	var recs []string
	for _, t := range txts {
		if strings.HasPrefix(t, version) {
			recs = append(recs, t)
		}
	}
	return recs, true
}

// checkTLSRPT checks the TLSRPT record: one record at _smtp._tls.DOMAIN,
// v=TLSRPTv1, a valid rua.
func (r *run) checkTLSRPT(ctx context.Context) {
	name := "_smtp._tls." + r.domain
	f := Finding{Check: CheckTLSRPT, Host: name}
	recs, ok := r.versionRecords(ctx, f, "v=TLSRPTv1")
	if !ok {
		return
	}
	switch {
	case len(recs) == 0:
		f.Status, f.Detail = Fail, "no TXT record starting with v=TLSRPTv1"
		f.Advice = fmt.Sprintf(`publish "v=TLSRPTv1; rua=mailto:tlsrpt@%s" at %s: reporters send reports nowhere without it`, r.domain, name)
	case len(recs) > 1:
		f.Status, f.Detail = Fail, fmt.Sprintf("%d TLSRPT records: RFC 8460 §3 says senders then use none", len(recs))
		f.Advice = "keep one v=TLSRPTv1 record, listing every rua address in it, comma-separated"
	default:
		f.Detail = recs[0]
		if err := checkRUA(recs[0]); err != nil {
			f.Status, f.Advice = Fail, err.Error()+`: give rua=mailto:ADDRESS or rua=https://URL, several comma-separated`
		} else {
			f.Status = OK
		}
	}
	r.add(f)
}

// checkRUA checks a TLSRPT record's fields: v first, then a rua of
// mailto: or https: URIs.
func checkRUA(rec string) error {
	fields := strings.Split(rec, ";")
	if strings.TrimSpace(fields[0]) != "v=TLSRPTv1" {
		return fmt.Errorf("the record does not start with the field v=TLSRPTv1")
	}
	var rua string
	found := false
	for _, fl := range fields[1:] {
		k, v, _ := strings.Cut(strings.TrimSpace(fl), "=")
		if strings.TrimSpace(k) == "rua" {
			rua, found = strings.TrimSpace(v), true
		}
	}
	if !found || rua == "" {
		return fmt.Errorf("the record has no rua field")
	}
	for _, u := range strings.Split(rua, ",") {
		if err := checkURI(strings.TrimSpace(u)); err != nil {
			return err
		}
	}
	return nil
}

// checkURI checks one rua URI.
func checkURI(s string) error {
	u, err := url.Parse(s)
	if err != nil {
		return fmt.Errorf("rua %q is not a URI", s)
	}
	switch u.Scheme {
	case "mailto":
		addr, _, _ := strings.Cut(u.Opaque, "?")
		if addr, err = url.PathUnescape(addr); err == nil {
			_, err = mail.ParseAddress(addr)
		}
		if err != nil || !strings.Contains(addr, "@") {
			return fmt.Errorf("rua %q has no valid mail address", s)
		}
	case "https":
		if u.Host == "" {
			return fmt.Errorf("rua %q has no host", s)
		}
	default:
		return fmt.Errorf("rua %q is neither a mailto: nor an https: URI", s)
	}
	return nil
}

// checkMX checks the MX records and returns the hosts to probe, at most
// MaxHosts of them, lowest preference first.
func (r *run) checkMX(ctx context.Context) []mxHost {
	f := Finding{Check: CheckMX, Host: r.domain}
	mxs, err := r.res.mx(ctx, r.domain)
	if err != nil {
		f.Status, f.Detail, f.Advice = dnsStatus(err), err.Error(), "check the DNS server (--resolver) and the zone, then run again"
		r.add(f)
		return nil
	}
	if len(mxs) == 1 && mxs[0].name == "" {
		f.Status, f.Detail = OK, "null MX (RFC 7505): the domain accepts no mail, nothing to probe"
		r.add(f)
		return nil
	}
	var good, bad []string
	var hosts []mxHost
	for _, m := range mxs {
		if !ValidDomain(m.name) {
			bad = append(bad, m.name)
			continue
		}
		good = append(good, fmt.Sprintf("%s (%d)", m.name, m.pref))
		hosts = append(hosts, m)
	}
	switch {
	case len(mxs) == 0:
		f.Status, f.Detail = Fail, "no MX records"
		f.Advice = "publish MX records: MTA-STS and DANE apply to MX hosts, and senders fall back to the domain's own address without them"
	case len(bad) > 0:
		f.Status, f.Detail = Fail, fmt.Sprintf("MX targets that are no host names: %s", joinNames(bad))
		f.Advice = "point every MX record at a host name (not an address)"
	default:
		f.Status, f.Detail = OK, joinNames(good)
	}
	r.add(f)
	if n := r.p.maxHosts(); len(hosts) > n {
		r.add(Finding{Check: CheckMX, Host: r.domain, Status: Warn,
			Detail: fmt.Sprintf("%d MX hosts, only the first %d probed", len(hosts), n)})
		hosts = hosts[:n]
	}
	return hosts
}

// checkReportedMX lists the receiving-mx-hostnames of the reports that are
// not MX records of the domain. They are never probed: a report, even an
// authenticated one, must not choose where tlsrpt connects.
func (r *run) checkReportedMX(mxs []mxHost) {
	ours := map[string]bool{}
	for _, m := range mxs {
		ours[m.name] = true
	}
	seen := map[string]bool{}
	n := 0
	for _, h := range r.req.ReportedMX {
		h = canonName(h)
		if h == "" || ours[h] || seen[h] {
			continue
		}
		seen[h] = true
		if n++; n > MaxReportedMX {
			continue
		}
		r.add(Finding{Check: CheckReportedMX, Host: h, Status: Warn,
			Detail: "a report names this host as receiving-mx-hostname, but it is not an MX record of " + r.domain + ": not probed",
			Advice: "if it was an MX host, the reports are about a former setup; if it never was, the reporter looked up the wrong MX"})
	}
	if n > MaxReportedMX {
		r.add(Finding{Check: CheckReportedMX, Host: r.domain, Status: Warn,
			Detail: fmt.Sprintf("%d more reported hosts that are not MX records, not listed", n-MaxReportedMX)})
	}
}

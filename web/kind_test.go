package web

import (
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/tlsrpt/tlsrpt/arrival"
	"github.com/tlsrpt/tlsrpt/internal/storetest"
)

// TestAddressKind: the failing-address table says per address what
// explains its failures (ban, diagnose, both) and, where diagnose does,
// the command that probes it. It attacks that command: the policy domain
// of a forged report is never put into it, nor a policy domain that is no
// domain name (markup), which the page escapes besides.
func TestAddressKind(t *testing.T) {
	st := storetest.Open(t)
	start := now.AddDate(0, 0, -3).Truncate(24 * time.Hour)
	signed := arrival.Source{Transport: "mail", Submitter: "r.example", Auth: arrival.Auth{Authenticated: true, Method: "dkim", Domain: "r.example"}}
	forged := arrival.Source{Transport: "mail", Submitter: "r.example"}
	add := func(id string, src arrival.Source, domain, ip string, types ...string) {
		var fs []storetest.Failure
		for _, typ := range types {
			fs = append(fs, storetest.Failure{IP: ip, Type: typ, Sessions: 1})
		}
		storetest.AddTLS(t, st, time.Time{}, storetest.TLS("R", id, start, storetest.Policy(domain, 1, fs...)), src)
	}
	add("1", signed, "Ours.test.", "192.0.2.1", "certificate-expired")
	add("2", signed, "<b>x</b>.test", "192.0.2.2", "certificate-host-mismatch")
	add("3", forged, "victim.test", "192.0.2.3", "certificate-expired")
	add("4", signed, "ours.test", "192.0.2.4", "starttls-not-supported")
	add("5", signed, "ours.test", "192.0.2.5", "starttls-not-supported", "sts-policy-invalid")
	srv := serveDashboard(t, Options{Store: st})
	_, body := get(t, srv.URL+"/")

	kinds := map[string]string{}
	for _, m := range regexp.MustCompile(`<td class="ip">([^<]*)</td>.*?<td class="kind">(.*?)</td>`).FindAllStringSubmatch(body, -1) {
		kinds[m[1]] = m[2]
	}
	want := map[string]string{
		"192.0.2.1": `diagnose: <code class="cmd">tlsrpt diagnose ours.test</code>`,
		"192.0.2.2": `diagnose: <code class="cmd">tlsrpt diagnose</code>`,
		"192.0.2.3": `diagnose: <code class="cmd">tlsrpt diagnose</code>`,
		"192.0.2.4": `ban`,
		"192.0.2.5": `both: <code class="cmd">tlsrpt diagnose ours.test</code>`,
	}
	for ip, w := range want {
		if kinds[ip] != w {
			t.Errorf("%s: kind cell %q, want %q", ip, kinds[ip], w)
		}
	}
	if strings.Contains(body, "diagnose victim.test") || strings.Contains(body, "<b>x") {
		t.Error("a forged report's domain reached a command, or markup the page")
	}
	if !strings.Contains(body, `<th scope="col" title=`) || !strings.Contains(body, `>Kind</th>`) {
		t.Error("no Kind column heading")
	}
}

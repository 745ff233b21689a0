package probe

import (
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/tlsrpt/tlsrpt/internal/probetest"
)

// FuzzParsePolicy: any body parses or fails without a panic, and a policy
// that parses has the fields RFC 8461 requires, in range.
func FuzzParsePolicy(f *testing.F) {
	f.Add(fmt.Sprintf(probetest.Policy, "example.org"))
	f.Add("version: STSv1\nmode: none\nmax_age: 0\n")
	f.Add("version: STSv1\nmode: testing\nmx: *.x.test\nmx: a.x.test\nmax_age: 31557600\nextension: value\n")
	f.Fuzz(func(t *testing.T, body string) {
		p, err := parsePolicy(body)
		if err != nil {
			return
		}
		if p.version != "STSv1" || !slices.Contains([]string{"enforce", "testing", "none"}, p.mode) ||
			p.maxAge < 0 || p.maxAge > maxMaxAge || len(p.mx) == 0 && p.mode != "none" {
			t.Fatalf("accepted %+v from %q", p, body)
		}
		for _, m := range p.mx {
			if !ValidDomain(strings.TrimPrefix(m, "*.")) {
				t.Fatalf("accepted mx %q", m)
			}
		}
	})
}

// FuzzCheckRUA: any TLSRPT record is judged without a panic.
func FuzzCheckRUA(f *testing.F) {
	for _, s := range []string{"v=TLSRPTv1; rua=mailto:a@x.test", "v=TLSRPTv1;rua=https://x.test/r,mailto:b@x.test?subject=x", "v=TLSRPTv1;", "rua=mailto:%"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, rec string) { _ = checkRUA(rec) })
}

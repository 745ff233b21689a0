package filter

import (
	"fmt"
	"strings"
	"testing"

	"github.com/tlsrpt/tlsrpt/arrival"
	"github.com/tlsrpt/tlsrpt/report"
)

// typesMessage is a message of one report with one detail per policy
// domain and result type given.
func typesMessage(pairs ...[2]string) *report.Message {
	r := &report.Report{OrganizationName: "Reporter", ReportID: "1"}
	for _, p := range pairs {
		r.Policies = append(r.Policies, report.Policy{Type: "sts", Domain: p[0], Failed: 1,
			Details: []report.FailureDetail{{ResultType: p[1], FailedSessions: 1}}})
	}
	m := &report.Message{}
	m.Found = []report.Found{{Report: r}}
	return m
}

// TestSummaryDiagnoseHint: per failing result type, its meaning and the
// diagnose command for its domains.
func TestSummaryDiagnoseHint(t *testing.T) {
	s := Summary(typesMessage([2]string{"Example.COM.", "certificate-expired"}, [2]string{"example.net", "certificate-expired"},
		[2]string{"example.com", "sts-policy-fetch-error"}, [2]string{"example.com", "x-vendor-type"}), arrival.Auth{}, nil, fixedNow())
	for _, line := range []string{
		"  certificate-expired: the MX host's certificate has expired; run `tlsrpt diagnose example.com example.net`\n",
		"  sts-policy-fetch-error: the MTA-STS policy could not be fetched over HTTPS; run `tlsrpt diagnose example.com`\n",
		"  x-vendor-type: not a result type of RFC 8460's registry; run `tlsrpt diagnose example.com`\n",
	} {
		if !strings.Contains(s, line) {
			t.Errorf("summary lacks %q:\n%s", line, s)
		}
	}
}

// TestSummaryHintNoPastedCommand attacks the hint: a policy-domain that is
// no domain name would write a command line the reader may paste; it is
// left out for DOMAIN.
func TestSummaryHintNoPastedCommand(t *testing.T) {
	for _, d := range []string{"example.com; rm -rf ~", "$(id).example.com", "`id`.example.com", "example.com\n--x", "-rf.example.com", "example.com --db /etc/passwd"} {
		s := Summary(typesMessage([2]string{d, "certificate-expired"}), arrival.Auth{}, nil, fixedNow())
		want := "  certificate-expired: the MX host's certificate has expired; run `tlsrpt diagnose DOMAIN`\n"
		if !strings.Contains(s, want) {
			t.Errorf("domain %q: summary lacks %q:\n%s", d, want, s)
		}
	}
}

// TestSummaryHintBounded: at most MaxGroups result types, at most
// MaxDomainsPerType domains each.
func TestSummaryHintBounded(t *testing.T) {
	var pairs [][2]string
	for i := range MaxGroups + 5 {
		pairs = append(pairs, [2]string{fmt.Sprintf("d%d.example", i), fmt.Sprintf("type-%d", i)})
		pairs = append(pairs, [2]string{fmt.Sprintf("e%d.example", i), "certificate-expired"})
	}
	s := Summary(typesMessage(pairs...), arrival.Auth{}, nil, fixedNow())
	if !strings.Contains(s, "run `tlsrpt diagnose e0.example e1.example e2.example`\n") {
		t.Errorf("domains not bounded to %d:\n%s", MaxDomainsPerType, s)
	}
	if !strings.Contains(s, fmt.Sprintf("  and %d more failure types (tlsrpt review)\n", MaxGroups+6-MaxGroups)) {
		t.Errorf("types not bounded:\n%s", s)
	}
}

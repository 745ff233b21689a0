package review

import (
	"bytes"
	"regexp"
	"strings"
	"testing"

	"github.com/tlsrpt/tlsrpt/assess"
)

// TestKindInTable: KIND per address in the table, and the hint to run
// tlsrpt diagnose only when some failure is not a ban's doing.
func TestKindInTable(t *testing.T) {
	recs := []assess.Record{
		{IP: "192.0.2.1", ResultTypes: []string{"validation-failure"}, Kind: assess.Kind([]string{"validation-failure"})},
		{IP: "192.0.2.2", ResultTypes: []string{"certificate-expired"}, Kind: assess.Kind([]string{"certificate-expired"})},
	}
	var out bytes.Buffer
	if err := WriteTable(&out, recs); err != nil {
		t.Fatal(err)
	}
	for _, re := range []string{"LAST SEEN +KIND +TRUSTED", "192.0.2.1 .* validation-failure .* ban +no ", "192.0.2.2 .* certificate-expired .* diagnose +no "} {
		if !regexpMatch(re, out.String()) {
			t.Errorf("table lacks %q:\n%s", re, out.String())
		}
	}
	var hint bytes.Buffer
	hintDiagnose(&hint, recs)
	if hint.String() != "tlsrpt: review: 1 address failed in ways no ban explains (KIND diagnose or both): run tlsrpt diagnose to probe the cause\n" {
		t.Errorf("hint %q", hint.String())
	}
	hint.Reset()
	hintDiagnose(&hint, recs[:1])
	if hint.Len() != 0 {
		t.Errorf("hint for ban kinds only: %q", hint.String())
	}
}

func regexpMatch(re, s string) bool {
	for _, line := range strings.Split(s, "\n") {
		if ok, _ := regexp.MatchString(re, line); ok {
			return true
		}
	}
	return false
}

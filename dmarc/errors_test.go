package dmarc

import (
	"strings"
	"testing"

	"github.com/tlsrpt/tlsrpt/internal/pkgerr"
)

// TestErrorsNamePackage: every kind of error the package returns starts
// with "dmarc: " and says so to pkgerr, so that the command layer, which
// names the command instead, leaves exactly that prefix out.
func TestErrorsNamePackage(t *testing.T) {
	for _, tc := range []struct {
		name, input string
		lim         Limits
	}{
		{"not a report", "", Limits{}},
		{"refused DOCTYPE", billionLaughs("feedback") + withBody(""), Limits{}},
		{"bad gzip", "\x1f\x8b\x08\x00broken", Limits{}},
		{"input too large", withBody(""), Limits{MaxInput: 64}},
		{"at an element", "<feedback></feedback>", Limits{}},
		{"too deep, at an element", withBody(strings.Repeat("<a>", 40)), Limits{}},
	} {
		_, err := parseString(tc.input, tc.lim)
		if err == nil {
			t.Errorf("%s: no error", tc.name)
			continue
		}
		msg := err.Error()
		want, ok := strings.CutPrefix(msg, "dmarc: ")
		if !ok {
			t.Errorf("%s: %q does not start with dmarc: ", tc.name, msg)
		}
		if got := pkgerr.TrimPackage(err, msg); got != want {
			t.Errorf("%s: TrimPackage gives %q, want %q", tc.name, got, want)
		}
	}
}

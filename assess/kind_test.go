package assess

import "testing"

func TestKind(t *testing.T) {
	for _, tc := range []struct {
		types []string
		want  string
	}{
		{[]string{"validation-failure"}, KindBan},
		{[]string{"starttls-not-supported", "validation-failure"}, KindBan},
		{[]string{"certificate-expired"}, KindDiagnose},
		{[]string{"sts-policy-fetch-error", "tlsa-invalid"}, KindDiagnose},
		{[]string{"validation-failure", "certificate-host-mismatch"}, KindBoth},
		{[]string{"x-vendor"}, KindUnknown},
		{[]string{"x-vendor", "dnssec-invalid"}, KindDiagnose},
		{nil, KindUnknown},
	} {
		if got := Kind(tc.types); got != tc.want {
			t.Errorf("Kind(%q) = %q, want %q", tc.types, got, tc.want)
		}
	}
}

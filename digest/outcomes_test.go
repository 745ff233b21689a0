package digest

import (
	"strings"
	"testing"
	"time"

	"github.com/tlsrpt/tlsrpt/internal/storetest"
)

// TestDigestOutcomes: a signed google.example report names .7 and .8,
// both unbanned; a later signed report is clean of .7 and names .8 again.
// The first digest lists both (still-failing first), the second with no
// change lists neither and is not notable, and a new signed report that
// names .7 again (confirmed to still-failing) shows it again. A forged report naming .7 moves nothing.
func TestDigestOutcomes(t *testing.T) {
	st := storetest.Open(t)
	day := func(d int) time.Time { return now.Add(time.Duration(d-10) * 24 * time.Hour) }
	add := func(id string, start time.Time, signed bool, ips ...string) {
		t.Helper()
		st.SetClock(func() time.Time { return start.Add(25 * time.Hour) })
		defer st.SetClock(nil)
		storetest.AddGoogleReport(t, st, id, start, signed, ips...)
	}
	add("before", day(3), true, "192.0.2.7", "192.0.2.8")
	for _, ip := range []string{"192.0.2.7", "192.0.2.8"} {
		storetest.Unbanned(t, st, ip, day(6).Add(12*time.Hour))
	}
	add("after", day(7), true, "192.0.2.8")
	add("forged", day(8), false, "192.0.2.7")

	digest := func(at time.Time) (Digest, string) {
		t.Helper()
		d := compute(t, st, Options{Now: at, Host: "mx1"})
		recordSent(t, st, "mx1", d)
		return d, mailText(t, d)
	}
	d, text := digest(now)
	failing := "192.0.2.8, unbanned 3 days ago: google.example named it again in 1 report since: starttls-not-supported: still-failing"
	confirmed := "192.0.2.7, unbanned 3 days ago: google.example: no failure for this address in 1 report with 100 successful sessions (example.net): confirmed"
	if !strings.Contains(text, failing) || !strings.Contains(text, confirmed) || strings.Index(text, failing) > strings.Index(text, confirmed) {
		t.Errorf("first digest: want %q, then %q:\n%s", failing, confirmed, text)
	}
	if !d.Notable() {
		t.Error("changed outcomes are notable")
	}

	d, text = digest(now.Add(time.Hour))
	if len(d.Changed) != 0 || strings.Contains(text, "192.0.2.") || d.Notable() {
		t.Errorf("second digest, nothing changed: %+v\n%s", d.Changed, text)
	}

	add("again", day(10), true, "192.0.2.7")
	d, text = digest(now.Add(50 * time.Hour))
	if len(d.Changed) != 1 || d.Changed[0].IP.String() != "192.0.2.7" || !strings.Contains(text, "192.0.2.7, unbanned 5 days ago: google.example named it again") || !d.Notable() {
		t.Errorf("third digest: want .7 changed:\n%s", text)
	}
}

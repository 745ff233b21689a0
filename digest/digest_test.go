package digest

import (
	"strings"
	"testing"
	"time"
)

func TestDigest(t *testing.T) {
	st := month(t, "Beta Mail")
	d := compute(t, st, Options{Now: now}) // no digest yet: the last 24 hours
	if !d.Since.Equal(now.Add(-24*time.Hour)) || !d.Notable() {
		t.Fatalf("digest %+v", d)
	}
	if len(d.New) != 1 || d.New[0].IP.String() != "192.0.2.30" || d.New[0].Since != 30 {
		t.Errorf("new addresses %+v, want 192.0.2.30 with 30 sessions", d.New)
	}
	if len(d.Grown) != 1 || d.Grown[0].IP.String() != "198.51.100.1" || d.Grown[0].Since != 40 || d.Grown[0].Before != 29 {
		t.Errorf("grown %+v, want 198.51.100.1: 40 more, 29 before", d.Grown)
	}
	if len(d.Quiet) != 1 || d.Quiet[0].Name() != "beta-mail.example" {
		t.Errorf("quiet %+v, want Beta Mail", d.Quiet)
	}
	if len(d.Rates) != 1 || d.Rates[0].Domain != "example.org" {
		t.Errorf("rate changes %+v, want example.org", d.Rates)
	}
	txt := mailText(t, d)
	for _, want := range []string{"1 new failing address:", "192.0.2.30: 30 failed sessions from alpha-mail.example",
		"198.51.100.1: 40 failed sessions more (29 before)", "Reporters gone quiet:", "beta-mail.example: last report ended 2026-11-25",
		"example.org: 40.0% (40 of 100 sessions), was 1.6% (1 of 61)"} {
		if !strings.Contains(txt, want) {
			t.Errorf("digest text lacks %q:\n%s", want, txt)
		}
	}

	// Recorded, the next digest starts there: nothing new since.
	recordSent(t, st, "mx1", d)
	d = compute(t, st, Options{Now: now.Add(time.Hour), Host: "mx1"})
	if !d.Since.Equal(Until(now)) || len(d.New)+len(d.Grown)+len(d.Rates) != 0 {
		t.Errorf("after the recorded digest: %+v", d)
	}
	// Beta stays quiet: still notable. Without it nothing is.
	if len(d.Quiet) != 1 {
		t.Errorf("quiet %+v", d.Quiet)
	}
	d.Quiet = nil
	if d.Notable() {
		t.Errorf("nothing new, yet notable: %+v", d)
	}
	d.Plan = "192.0.2.7 (named with --ip)\n  fail2ban: unban"
	if !d.Notable() {
		t.Error("a redeem plan is notable")
	}
	// Another host has its own state.
	d = compute(t, st, Options{Now: now.Add(time.Hour), Host: "mx2"})
	if !d.Since.Equal(now.Add(-23 * time.Hour)) {
		t.Errorf("mx2: since %v", d.Since)
	}
}

// TestDigestHostileNames keeps report strings from forging lines of the
// mail body.
func TestDigestHostileNames(t *testing.T) {
	st := month(t, "Beta\n--boundary\nX-Evil: 1\x1b[2J")
	d := compute(t, st, Options{Now: now})
	txt := mailText(t, d)
	for _, line := range strings.Split(txt, "\n") {
		if strings.HasPrefix(line, "--") || strings.HasPrefix(line, "X-Evil") || strings.ContainsRune(line, 0x1b) {
			t.Errorf("hostile name formed a line: %q", line)
		}
	}
	if !strings.Contains(txt, `beta\n--boundary\nx-evil:-1\x1b[2j.example: last report ended`) {
		t.Errorf("quiet reporter not shown neutralised:\n%s", txt)
	}
}

func TestListBound(t *testing.T) {
	var b strings.Builder
	items := make([]int, MaxListed+5)
	list(&b, items, func(int) string { return "x" })
	if n := strings.Count(b.String(), "\n"); n != MaxListed+1 || !strings.Contains(b.String(), "and 5 more") {
		t.Errorf("list of %d: %d lines:\n%s", len(items), n, b.String())
	}
}

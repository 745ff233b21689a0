package main

import (
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// outcomeRow is what TestRedeemOutcomes reads of review --json.
type outcomeRow struct {
	IP         string     `json:"ip"`
	RedeemedAt *time.Time `json:"redeemed_at"`
	Outcome    string     `json:"outcome"`
	OutcomeWhy string     `json:"outcome_why"`
}

// TestRedeemOutcomes closes the loop with real parts: a real
// fail2ban-server bans four addresses that authenticated reports
// (Authentication-Results of our own authserv-id) name; redeem --apply
// unbans them; later reports (ranges after the unban) leave 192.0.2.11
// out (confirmed) and name 192.0.2.12 again (still-failing, with its
// result type), fail2ban bans 192.0.2.13 again (banned-again), and
// 192.0.2.14's reporter sends nothing (awaiting, then inconclusive past
// --quiet-after). Forged later reports, one naming 192.0.2.11 and one
// clean claiming 192.0.2.14's reporter, change no outcome.
func TestRedeemOutcomes(t *testing.T) {
	s := startStockF2B(t)
	db := filepath.Join(t.TempDir(), "tlsrpt.db")
	trust := []string{"--db", db, "--trust-authserv-id", "mx.test", "--no-dkim"}
	f2b := []string{"--backend", "fail2ban", "--fail2ban-socket", s.Socket, "--fail2ban-config", s.Dir}
	authres := func(dom string, msg []byte) []byte {
		return append([]byte("Authentication-Results: mx.test; dkim=pass header.d="+dom+" header.s=sel\r\n"), msg...)
	}
	filter := func(msg []byte) { t.Helper(); tlsrptOK(t, nil, msg, append([]string{"filter"}, trust...)...) }

	const confirmed, failing, rebanned, quiet = "192.0.2.11", "192.0.2.12", "192.0.2.13", "192.0.2.14"
	filter(authres("google.com", reportMessage("google.com", "before", []failure{
		{confirmed, 3, "starttls-not-supported"}, {failing, 2, "starttls-not-supported"}, {rebanned, 1, "validation-failure"}})))
	filter(authres("mail.example", reportMessage("mail.example", "before-mail", []failure{{quiet, 4, "starttls-not-supported"}})))
	for _, ip := range []string{confirmed, failing, rebanned, quiet} {
		s.Client("set", "sshd", "banip", ip)
	}
	args := append([]string{"redeem", "--apply"}, append(trust, f2b...)...)
	for _, ip := range []string{confirmed, failing, rebanned, quiet} {
		args = append(args, "--ip", ip)
	}
	tlsrptOK(t, nil, nil, args...)
	redeemed := time.Now()

	start := time.Now().Add(time.Minute).UTC().Truncate(time.Second)
	at := func(submitter, id string, fails []failure) []byte {
		return reportMessageAt(submitter, id, start.Format(time.RFC3339), start.Add(24*time.Hour-time.Second).Format(time.RFC3339), fails)
	}
	review := func(extra ...string) map[string]outcomeRow {
		t.Helper()
		r := tlsrptOK(t, nil, nil, append(append([]string{"review", "--json"}, append(trust, f2b...)...), extra...)...)
		var rows []outcomeRow
		if err := json.Unmarshal([]byte(r.stdout), &rows); err != nil {
			t.Fatalf("review --json: %v\n%s", err, r.stdout)
		}
		m := map[string]outcomeRow{}
		for _, row := range rows {
			m[row.IP] = row
		}
		return m
	}
	want := func(rows map[string]outcomeRow, ip, outcome, why string) {
		t.Helper()
		r := rows[ip]
		if r.Outcome != outcome || !strings.Contains(r.OutcomeWhy, why) || r.RedeemedAt == nil ||
			r.RedeemedAt.After(redeemed) || redeemed.Sub(*r.RedeemedAt) > time.Hour {
			t.Errorf("%s: outcome %q (%q), redeemed at %v; want %q with %q", ip, r.Outcome, r.OutcomeWhy, r.RedeemedAt, outcome, why)
		}
	}
	rows := review()
	for _, ip := range []string{confirmed, failing, rebanned, quiet} {
		want(rows, ip, "awaiting", "no report from")
	}

	// The forgeries first: they must move nothing.
	filter(at("google.com", "forged-after", []failure{{confirmed, 9, "starttls-not-supported"}}))
	filter(append([]byte("Authentication-Results: mx.evil.example; dkim=pass header.d=mail.example header.s=sel\r\n"),
		at("mail.example", "forged-clean", nil)...))
	rows = review()
	for _, ip := range []string{confirmed, quiet} {
		want(rows, ip, "awaiting", "no report from")
	}

	filter(authres("google.com", at("google.com", "after", []failure{{failing, 5, "certificate-expired"}})))
	s.Client("set", "sshd", "banip", rebanned)
	rows = review()
	want(rows, confirmed, "confirmed", "google.com: no failure for this address in 1 report with 120 successful sessions")
	want(rows, failing, "still-failing", "google.com named it again in 1 report since: certificate-expired (not the kind a ban causes")
	want(rows, rebanned, "banned-again", "banned again in fail2ban:sshd")
	want(rows, quiet, "awaiting", "no report from mail.example")

	// The digest: the outcomes that changed, banned-again and
	// still-failing first; the next digest does not repeat them.
	digestArgs := append([]string{"digest", "--always", "--no-probe", "--host", "mx1"}, append(trust, f2b...)...)
	text := tlsrptOK(t, nil, nil, digestArgs...).stdout
	lines := []string{rebanned + ", unbanned today: banned again in fail2ban:sshd", failing + ", unbanned today: google.com named it again",
		confirmed + ", unbanned today: google.com: no failure for this address in 1 report with 120 successful sessions (example.net): confirmed",
		quiet + ", unbanned today: no report from mail.example since the redeem yet: awaiting"}
	for i, w := range lines {
		if !strings.Contains(text, w) || (i > 0 && strings.Index(text, w) < strings.Index(text, lines[i-1])) {
			t.Errorf("digest lacks %q, or out of order:\n%s", w, text)
		}
	}
	if again := tlsrptOK(t, nil, nil, digestArgs...).stdout; strings.Contains(again, "unbanned today") {
		t.Errorf("the second digest repeats unchanged outcomes:\n%s", again)
	}

	logOut := tlsrptOK(t, nil, nil, append([]string{"redeem", "log"}, append(trust, f2b...)...)...).stdout
	for _, w := range []string{"outcome today: banned-again: banned again in fail2ban:sshd",
		"outcome today: confirmed: google.com: no failure for this address in 1 report with 120 successful sessions",
		"outcome today: still-failing: google.com named it again", "outcome today: awaiting: no report from mail.example"} {
		if !strings.Contains(logOut, w) {
			t.Errorf("redeem log lacks %q:\n%s", w, logOut)
		}
	}
	// The deprecated --log prints the same log, its note on stderr only.
	if alias := tlsrptOK(t, nil, nil, append([]string{"redeem", "--log"}, append(trust, f2b...)...)...); alias.stdout != logOut || !strings.Contains(alias.stderr, "tlsrpt redeem log") {
		t.Errorf("redeem --log differs from redeem log:\n%s\nwant:\n%s\nstderr:\n%s", alias.stdout, logOut, alias.stderr)
	}
	plan := tlsrptOK(t, nil, nil, append([]string{"redeem", "--ip", rebanned, "--ip", failing}, append(trust, f2b...)...)...).stdout
	for _, w := range []string{"outcome banned-again: banned again in fail2ban:sshd", "make a hard keep",
		"outcome still-failing: google.com named it again in 1 report since: certificate-expired (not the kind a ban causes: unbanning again will not help"} {
		if !strings.Contains(plan, w) {
			t.Errorf("redeem plan lacks %q:\n%s", w, plan)
		}
	}

	if only := review("--outcome", "still-failing"); len(only) != 1 || only[failing].Outcome != "still-failing" {
		t.Errorf("review --outcome still-failing: %+v", only)
	}
	if r := tlsrpt(t, nil, nil, "review", "--db", db, "--outcome", "fixed"); r.code != 2 || !strings.Contains(r.stderr, `--outcome "fixed": not an outcome`) {
		t.Errorf("review --outcome fixed: exit %d, %s", r.code, r.stderr)
	}

	// Past --quiet-after, the silent reporter makes it inconclusive. The
	// redeem (never stamped later than it ended, as checked above) is
	// several processes in the past by now, so past a --quiet-after of
	// 1 ms: no need to wait for the clock.
	rows = review("--quiet-after", "0.001s")
	want(rows, quiet, "inconclusive", "mail.example went quiet: no report since")
	want(rows, confirmed, "confirmed", "no failure for this address")
}

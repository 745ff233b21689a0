package assess

import (
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/tlsrpt/tlsrpt/redeem"
	"github.com/tlsrpt/tlsrpt/store"
)

// TestJudge checks each outcome and its why, with the clock and the
// thresholds given.
func TestJudge(t *testing.T) {
	at := time.Date(2026, 11, 20, 12, 0, 0, 0, time.UTC)
	ip := netip.MustParseAddr("192.0.2.7")
	google := func(f store.FollowUp) store.Redeemed {
		f.Reporter, f.Domains = "google.com", []string{"example.net"}
		return store.Redeemed{IP: ip, At: at, Reporters: []store.FollowUp{f},
			Actions: []store.Action{{Backend: "ipqbdb", Kind: redeem.KindKeep, Target: "whitelist"}}}
	}
	soon := OutcomeOptions{Now: at.Add(24 * time.Hour)}
	late := OutcomeOptions{Now: at.Add(8 * 24 * time.Hour)}
	for name, c := range map[string]struct {
		r       store.Redeemed
		bans    []redeem.Ban
		opt     OutcomeOptions
		outcome string
		why     string
	}{
		"awaiting":     {google(store.FollowUp{}), nil, soon, OutcomeAwaiting, "no report from google.com since the redeem yet"},
		"inconclusive": {google(store.FollowUp{LastEnd: at.Add(-time.Hour)}), nil, late, OutcomeInconclusive, "google.com went quiet: no report since 2026-11-20 (last report ended 2026-11-20)"},
		"quiet threshold": {google(store.FollowUp{}), nil, OutcomeOptions{Now: at.Add(2 * time.Hour), QuietAfter: time.Hour},
			OutcomeInconclusive, "went quiet"},
		"confirmed": {google(store.FollowUp{Clean: 2, Successful: 240, Later: 2}), nil, soon, OutcomeConfirmed,
			"google.com: no failure for this address in 2 reports with 240 successful sessions (example.net)"},
		"confirm-reports 3": {google(store.FollowUp{Clean: 2, Successful: 240, Later: 2}), nil, OutcomeOptions{Now: soon.Now, ConfirmReports: 3},
			OutcomeAwaiting, "google.com: 2 of 3 reports needed"},
		"no successful session": {google(store.FollowUp{Clean: 1, Later: 1}), nil, soon, OutcomeAwaiting, "1 of 1 reports needed without failure for it, 0 successful sessions"},
		"still failing, ban kind": {google(store.FollowUp{Failing: 1, ResultTypes: []string{"starttls-not-supported"}, Clean: 3, Successful: 9, Later: 4}),
			nil, soon, OutcomeStillFailing, "google.com named it again in 1 report since: starttls-not-supported"},
		"banned again": {google(store.FollowUp{Clean: 2, Successful: 240, Later: 2}), []redeem.Ban{{Backend: "ipqbdb", Where: "ipqbcdb"}}, soon,
			OutcomeBannedAgain, "banned again in ipqbdb:ipqbcdb after the redeem of 2026-11-20T12:00:00Z; the keep did not hold: ipqbdb:whitelist; make a hard keep"},
		"no reporter": {store.Redeemed{IP: ip, At: at}, nil, soon, OutcomeInconclusive, "no authenticated report named it"},
	} {
		o := Judge(c.r, c.bans, c.opt)
		if o.Outcome != c.outcome || !strings.Contains(o.Why, c.why) {
			t.Errorf("%s: %s (%s), want %s with %q", name, o.Outcome, o.Why, c.outcome, c.why)
		}
		if name == "still failing, ban kind" && strings.Contains(o.Why, "will not help") {
			t.Errorf("%s: a ban's kind of failure must not say unbanning will not help: %s", name, o.Why)
		}
	}
	// The worst reporter decides.
	r := google(store.FollowUp{Clean: 1, Successful: 5, Later: 1})
	r.Reporters = append(r.Reporters, store.FollowUp{Reporter: "yahoo.com", Failing: 1, ResultTypes: []string{"certificate-expired"}})
	if o := Judge(r, nil, soon); o.Outcome != OutcomeStillFailing || !strings.Contains(o.Why, "yahoo.com named it again") ||
		!strings.Contains(o.Why, "not the kind a ban causes") {
		t.Errorf("two reporters: %s (%s)", o.Outcome, o.Why)
	}
}

// TestJudgeBans: bans filled in after Review (the dashboard's cache) make
// a redeemed address banned-again; rows without bans keep their outcome.
func TestJudgeBans(t *testing.T) {
	at := time.Date(2026, 11, 20, 12, 0, 0, 0, time.UTC)
	opt := OutcomeOptions{Now: at.Add(time.Hour)}
	r := store.Redeemed{IP: netip.MustParseAddr("192.0.2.7"), At: at,
		Reporters: []store.FollowUp{{Reporter: "google.com", Domains: []string{"example.net"}}}}
	o := Judge(r, nil, opt)
	rows := []Row{{Redeemed: &o}, {Redeemed: &o, Bans: []redeem.Ban{{Backend: "fail2ban", Where: "postfix"}}}}
	JudgeBans(rows, opt)
	if rows[0].Redeemed.Outcome != OutcomeAwaiting || rows[1].Redeemed.Outcome != OutcomeBannedAgain {
		t.Errorf("outcomes %s, %s; want awaiting, banned-again", rows[0].Redeemed.Outcome, rows[1].Redeemed.Outcome)
	}
	if rec := rows[1].Record(); rec.Outcome != OutcomeBannedAgain || rec.RedeemedAt == nil || !rec.RedeemedAt.Equal(at) {
		t.Errorf("record: %+v", rec)
	}
}

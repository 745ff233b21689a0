package assess

import (
	"context"
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"time"

	"github.com/tlsrpt/tlsrpt/redeem"
	"github.com/tlsrpt/tlsrpt/store"
)

// The outcomes of a redeemed address, worst first.
const (
	OutcomeBannedAgain  = "banned-again"  // a ban backend reports it banned after the redeem
	OutcomeStillFailing = "still-failing" // a reporter named it again in a report since
	OutcomeConfirmed    = "confirmed"     // enough reports since name it no more, with successful sessions
	OutcomeAwaiting     = "awaiting"      // no report since yet
	OutcomeInconclusive = "inconclusive"  // the reporters went quiet, or none can tell
)

// OutcomeWords are the outcomes, worst first.
var OutcomeWords = []string{OutcomeBannedAgain, OutcomeStillFailing, OutcomeConfirmed, OutcomeAwaiting, OutcomeInconclusive}

// Defaults of OutcomeOptions.
const (
	DefaultConfirmReports = 1
	DefaultQuietAfter     = 7 * 24 * time.Hour
)

// OutcomeOptions configure the outcomes of redeemed addresses.
type OutcomeOptions struct {
	Now time.Time
	// ConfirmReports is how many clean reports of a reporter confirm an
	// address (DefaultConfirmReports when < 1).
	ConfirmReports int
	// QuietAfter is how long after the redeem a reporter that sent
	// nothing makes the outcome inconclusive (DefaultQuietAfter when <= 0).
	QuietAfter time.Duration
}

func (o OutcomeOptions) confirm() int {
	if o.ConfirmReports < 1 {
		return DefaultConfirmReports
	}
	return o.ConfirmReports
}

func (o OutcomeOptions) quiet() time.Duration {
	if o.QuietAfter <= 0 {
		return DefaultQuietAfter
	}
	return o.QuietAfter
}

// Outcome is where a redeemed address stands today.
type Outcome struct {
	store.Redeemed
	Outcome string // one of OutcomeWords
	Why     string // one line
}

// Backends names the backends of the address's redeem actions, sorted.
func (o Outcome) Backends() []string {
	var bs []string
	for _, a := range o.Actions {
		if !slices.Contains(bs, a.Backend) {
			bs = append(bs, a.Backend)
		}
	}
	slices.Sort(bs)
	return bs
}

// Outcomes reads the redeemed addresses and judges each. bans, when not
// nil, is where each address is banned now (the backends were consulted);
// nil leaves banned-again out.
func Outcomes(ctx context.Context, st *store.Store, bans map[netip.Addr][]redeem.Ban, opt OutcomeOptions) ([]Outcome, error) {
	rs, err := st.Redeemed(ctx)
	if err != nil {
		return nil, err
	}
	return JudgeAll(rs, bans, opt), nil
}

// JudgeAll judges each redeemed address of rs, as Outcomes does.
func JudgeAll(rs []store.Redeemed, bans map[netip.Addr][]redeem.Ban, opt OutcomeOptions) []Outcome {
	out := make([]Outcome, len(rs))
	for i, r := range rs {
		out[i] = Judge(r, bans[r.IP], opt)
	}
	return out
}

// RedeemedBans is where each redeemed address of rs is banned now, with
// one listing per backend for all of them: the bans Outcomes and Judge
// take. An address banned nowhere is left out; the map is not nil.
func RedeemedBans(ctx context.Context, backends []redeem.Backend, rs []store.Redeemed) (map[netip.Addr][]redeem.Ban, error) {
	ips := make([]netip.Addr, len(rs))
	for i, r := range rs {
		ips[i] = r.IP
	}
	status, err := redeem.BanStatusAll(ctx, backends, ips)
	if err != nil {
		return nil, err
	}
	bans := map[netip.Addr][]redeem.Ban{}
	for ip, s := range status {
		if len(s.Bans) > 0 {
			bans[ip] = s.Bans
		}
	}
	return bans, nil
}

// Judge gives a redeemed address its outcome: banned again when bans is
// not empty, else the worst of its reporters' verdicts (still failing,
// then confirmed, awaiting, inconclusive).
func Judge(r store.Redeemed, bans []redeem.Ban, opt OutcomeOptions) Outcome {
	o := Outcome{Redeemed: r}
	if len(bans) > 0 {
		o.Outcome, o.Why = OutcomeBannedAgain, bannedAgainWhy(r, bans)
		return o
	}
	if len(r.Reporters) == 0 {
		o.Outcome, o.Why = OutcomeInconclusive, "no authenticated report named it before the redeem: no report can confirm it"
		return o
	}
	whys := map[string][]string{}
	for _, f := range r.Reporters {
		word, why := judgeReporter(r.At, f, opt)
		whys[word] = append(whys[word], why)
	}
	for _, word := range OutcomeWords {
		if w := whys[word]; len(w) > 0 {
			o.Outcome, o.Why = word, strings.Join(w, "; ")
			return o
		}
	}
	return o
}

// judgeReporter says what one reporter's reports since the redeem show.
func judgeReporter(at time.Time, f store.FollowUp, opt OutcomeOptions) (string, string) {
	switch {
	case f.Failing > 0:
		why := fmt.Sprintf("%s named it again in %s since: %s", f.Reporter,
			plural(f.Failing, "report", "reports"), strings.Join(f.ResultTypes, ", "))
		if k := Kind(f.ResultTypes); k == KindDiagnose || k == KindUnknown {
			why += " (not the kind a ban causes: unbanning again will not help; run tlsrpt diagnose)"
		}
		return OutcomeStillFailing, why
	case f.Clean >= opt.confirm() && f.Successful > 0:
		return OutcomeConfirmed, fmt.Sprintf("%s: no failure for this address in %s with %d successful sessions (%s)",
			f.Reporter, plural(f.Clean, "report", "reports"), f.Successful, strings.Join(f.Domains, ", "))
	case opt.Now.Sub(at) < opt.quiet():
		if f.Later == 0 {
			return OutcomeAwaiting, fmt.Sprintf("no report from %s since the redeem yet", f.Reporter)
		}
		return OutcomeAwaiting, fmt.Sprintf("%s: %d of %d reports needed without failure for it, %d successful sessions for %s so far",
			f.Reporter, f.Clean, opt.confirm(), f.Successful, strings.Join(f.Domains, ", "))
	case f.Later == 0:
		return OutcomeInconclusive, fmt.Sprintf("%s went quiet: no report since %s (last report ended %s)",
			f.Reporter, at.UTC().Format(time.DateOnly), f.LastEnd.UTC().Format(time.DateOnly))
	}
	return OutcomeInconclusive, fmt.Sprintf("%s sent %s since %s, %d clean with successful sessions for %s",
		f.Reporter, plural(f.Later, "report", "reports"), at.UTC().Format(time.DateOnly), f.Clean, strings.Join(f.Domains, ", "))
}

// bannedAgainWhy names where the address is banned and which keep was
// soft, and advises a hard one.
func bannedAgainWhy(r store.Redeemed, bans []redeem.Ban) string {
	var where, keeps []string
	for _, b := range bans {
		where = append(where, b.Backend+":"+b.Where)
	}
	for _, a := range r.Actions {
		if a.Kind == redeem.KindKeep {
			keeps = append(keeps, a.Backend+":"+a.Target)
		}
	}
	soft := "no keep was applied"
	if len(keeps) > 0 {
		soft = "the keep did not hold: " + strings.Join(keeps, ", ")
	}
	return fmt.Sprintf("banned again in %s after the redeem of %s; %s; make a hard keep: an ignoreip drop-in (tlsrpt redeem --apply --backend fail2ban) or an allowlist entry",
		strings.Join(where, ", "), r.At.UTC().Format(time.RFC3339), soft)
}

func plural(n int, one, many string) string {
	if n == 1 {
		return "1 " + one
	}
	return fmt.Sprintf("%d %s", n, many)
}

// ValidOutcome reports whether w is one of OutcomeWords.
func ValidOutcome(w string) bool { return slices.Contains(OutcomeWords, w) }

// JudgeBans judges again the redeemed addresses of rows whose ban status
// was filled in after Review (the dashboard's cached bans).
func JudgeBans(rows []Row, opt OutcomeOptions) {
	for i := range rows {
		if r := &rows[i]; r.Redeemed != nil && len(r.Bans) > 0 {
			o := Judge(r.Redeemed.Redeemed, r.Bans, opt)
			r.Redeemed = &o
		}
	}
}

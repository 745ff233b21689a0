package digest

import (
	"cmp"
	"context"
	"fmt"
	"io"
	"slices"
	"time"

	"github.com/tlsrpt/tlsrpt/assess"
	"github.com/tlsrpt/tlsrpt/neutral"
	"github.com/tlsrpt/tlsrpt/redeem"
	"github.com/tlsrpt/tlsrpt/store"
)

// outcomesKey names the setting that holds the outcome of each redeemed
// address as a host's last digest sent it.
func outcomesKey(host string) string { return "digest.outcomes:" + host }

// sentOutcomes reads the outcomes of the last digest of host, by address.
func sentOutcomes(ctx context.Context, st *store.Store, host string) (map[string]string, error) {
	return loadSetting[map[string]string](ctx, st, outcomesKey(host))
}

// changedOutcomes judges the redeemed addresses (banned-again only where
// bans says so) and keeps in d those whose outcome differs from the one
// the last digest of opt.Host sent: banned again and still failing first,
// then the newest redeem first.
func changedOutcomes(ctx context.Context, st *store.Store, opt Options, d *Digest) error {
	all, err := assess.Outcomes(ctx, st, opt.Bans, assess.OutcomeOptions{Now: opt.Now})
	if err != nil {
		return err
	}
	sent, err := sentOutcomes(ctx, st, opt.Host)
	if err != nil {
		return err
	}
	d.Outcomes = map[string]string{}
	for _, o := range all {
		d.Outcomes[o.IP.String()] = o.Outcome
		if sent[o.IP.String()] != o.Outcome {
			d.Changed = append(d.Changed, o)
		}
	}
	slices.SortStableFunc(d.Changed, func(a, b assess.Outcome) int {
		return cmp.Compare(slices.Index(assess.OutcomeWords, a.Outcome), slices.Index(assess.OutcomeWords, b.Outcome))
	})
	return nil
}

// RecordOutcomes keeps the outcomes d judged as the ones sent to host, so
// that the next digest repeats only those that change.
func RecordOutcomes(ctx context.Context, st *store.Store, host string, d Digest) error {
	return saveSetting(ctx, st, outcomesKey(host), d.Outcomes)
}

// writeOutcomes writes the outcomes that changed, one a line:
// "192.0.2.7, unbanned 3 days ago: <evidence>: confirmed".
func writeOutcomes(w io.Writer, os []assess.Outcome, now time.Time) {
	if len(os) == 0 {
		return
	}
	fmt.Fprintf(w, "\nOutcomes of redeemed addresses that changed (tlsrpt redeem log):\n")
	list(w, os, func(o assess.Outcome) string {
		return fmt.Sprintf("%s, %s %s: %s: %s", o.IP, redeemedVerb(o), ago(o.At, now), neutral.SummaryLine(o.Why), o.Outcome)
	})
}

// redeemedVerb says what the latest action on the address did.
func redeemedVerb(o assess.Outcome) string {
	if n := len(o.Actions); n > 0 && o.Actions[n-1].Kind == redeem.KindKeep {
		return "kept"
	}
	return "unbanned"
}

// ago says how long before now t was, in whole days.
func ago(t, now time.Time) string {
	days := int(now.Sub(t).Hours() / 24)
	if days < 1 {
		return "today"
	}
	return plural(days, "day", "days") + " ago"
}

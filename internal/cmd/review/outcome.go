package review

import (
	"time"

	"github.com/spf13/pflag"

	"github.com/tlsrpt/tlsrpt/assess"
	"github.com/tlsrpt/tlsrpt/internal/cmd/cmdutil"
)

// AddOutcomeFlags defines --confirm-reports and --quiet-after, which
// review and redeem share.
func AddOutcomeFlags(fl *pflag.FlagSet, confirm *int, quiet *string) {
	fl.IntVar(confirm, "confirm-reports", assess.DefaultConfirmReports,
		"authenticated reports without failure for a redeemed address that confirm it (`N`)")
	fl.StringVar(quiet, "quiet-after", "7d",
		"a redeemed address whose reporters sent nothing for this `DURATION` since is inconclusive")
}

// OutcomeOptions reads the values of AddOutcomeFlags.
func OutcomeOptions(now time.Time, confirm int, quiet string) (assess.OutcomeOptions, error) {
	if confirm < 1 {
		return assess.OutcomeOptions{}, cmdutil.UsageErrorf("--confirm-reports %d: want 1 or more", confirm)
	}
	d := assess.DefaultQuietAfter
	if quiet != "" {
		var err error
		if d, err = cmdutil.ParseDuration(quiet); err != nil || d <= 0 {
			return assess.OutcomeOptions{}, cmdutil.UsageErrorf("--quiet-after %q: want a duration (36h, 7d, 2w)", quiet)
		}
	}
	return assess.OutcomeOptions{Now: now, ConfirmReports: confirm, QuietAfter: d}, nil
}

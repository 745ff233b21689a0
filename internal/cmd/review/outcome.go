package review

import (
	"time"

	"github.com/spf13/pflag"

	"github.com/tlsrpt/tlsrpt/assess"
	"github.com/tlsrpt/tlsrpt/internal/cmd/cmdutil"
)

// OutcomeFlags are --confirm-reports and --quiet-after, which judge the
// outcomes of redeemed addresses: review, redeem and redeem log share
// them.
type OutcomeFlags struct {
	ConfirmReports int
	QuietAfter     string
}

// AddFlags defines the flags on fl.
func (f *OutcomeFlags) AddFlags(fl *pflag.FlagSet) {
	fl.IntVar(&f.ConfirmReports, "confirm-reports", assess.DefaultConfirmReports,
		"authenticated reports without failure for a redeemed address that confirm it (`N`)")
	fl.StringVar(&f.QuietAfter, "quiet-after", "7d",
		"a redeemed address whose reporters sent nothing for this `DURATION` since is inconclusive")
}

// Options reads the flags' values into the options of judging outcomes
// at now, refusing bad ones with a usage error naming the flag.
func (f OutcomeFlags) Options(now time.Time) (assess.OutcomeOptions, error) {
	if f.ConfirmReports < 1 {
		return assess.OutcomeOptions{}, cmdutil.UsageErrorf("--confirm-reports %d: want 1 or more", f.ConfirmReports)
	}
	d := assess.DefaultQuietAfter
	if f.QuietAfter != "" {
		var err error
		if d, err = cmdutil.ParseDuration(f.QuietAfter); err != nil || d <= 0 {
			return assess.OutcomeOptions{}, cmdutil.UsageErrorf("--quiet-after %q: want a duration (36h, 7d, 2w)", f.QuietAfter)
		}
	}
	return assess.OutcomeOptions{Now: now, ConfirmReports: f.ConfirmReports, QuietAfter: d}, nil
}

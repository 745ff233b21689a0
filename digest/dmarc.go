package digest

import (
	"context"
	"fmt"
	"io"
	"net/netip"
	"slices"
	"strings"
	"time"

	"github.com/tlsrpt/tlsrpt/neutral"
	"github.com/tlsrpt/tlsrpt/store"
)

// DMARCLateness is how long after its range ends a DMARC report may
// arrive and still name a new failing source: reporters send a day's
// report within the next day, some later. The sources a digest named are
// remembered (RecordDMARC), so that the next one, whose window overlaps,
// does not name them again.
const DMARCLateness = 48 * time.Hour

// DMARCRise is an authenticated reporter whose share of messages failing
// DMARC rose between the span before and the digest's span, by the rule
// of the TLS failure rates (Options.RateChange).
type DMARCRise struct {
	Reporter    string // the authenticated identity
	Before, Now store.RecentDMARC
}

// dmarcRises compares each authenticated reporter's DMARC failures in the
// reports stored in the digest's span with those stored in the span of
// the same length before it, as rateChanges does for TLS sessions, and
// keeps the rises. Unauthenticated reports count for nobody.
func dmarcRises(ctx context.Context, st *store.Store, opt Options) ([]DMARCRise, error) {
	span := opt.Now.Sub(opt.Since)
	bounds := []time.Time{opt.Since.Add(-span), opt.Since, opt.Now}
	sums := make([]map[string]store.RecentDMARC, len(bounds))
	for i, t := range bounds {
		rows, err := st.DMARCStoredSince(ctx, t)
		if err != nil {
			return nil, err
		}
		sums[i] = perReporter(rows)
	}
	before, now := minus(sums[0], sums[1]), minus(sums[1], sums[2])
	var out []DMARCRise
	for rep, n := range now {
		b := before[rep]
		br, nr := rate{b.Fail, b.Messages}, rate{n.Fail, n.Messages}
		if nr.percent() > br.percent() && rateMoved(br, nr, opt.RateChange) {
			out = append(out, DMARCRise{Reporter: rep, Before: b, Now: n})
		}
	}
	slices.SortFunc(out, func(a, b DMARCRise) int { return strings.Compare(a.Reporter, b.Reporter) })
	return out, nil
}

// perReporter adds the rows of authenticated reporters up per reporter.
func perReporter(rows []store.RecentDMARC) map[string]store.RecentDMARC {
	out := map[string]store.RecentDMARC{}
	for _, r := range rows {
		if !r.Authenticated {
			continue
		}
		s := out[r.Reporter]
		s.Reporter, s.Authenticated = r.Reporter, true
		s.Messages, s.Pass, s.Fail = satAdd(s.Messages, r.Messages), satAdd(s.Pass, r.Pass), satAdd(s.Fail, r.Fail)
		out[r.Reporter] = s
	}
	return out
}

// minus is what was stored from a's bound up to b's: a less b, per
// reporter, without the reporters left with nothing.
func minus(a, b map[string]store.RecentDMARC) map[string]store.RecentDMARC {
	out := map[string]store.RecentDMARC{}
	for k, v := range a {
		w := b[k]
		v.Messages, v.Pass, v.Fail = max(v.Messages-w.Messages, 0), max(v.Pass-w.Pass, 0), max(v.Fail-w.Fail, 0)
		if v.Messages > 0 {
			out[k] = v
		}
	}
	return out
}

// dmarcSourcesKey names the setting that holds the failing sources a
// host's last digest named (sourceKey), or would have.
func dmarcSourcesKey(host string) string { return "digest.dmarc-sources:" + host }

// sourceKey is what makes a failing source new or known: its address and
// the From domain of its messages.
func sourceKey(f store.DMARCFailingSource) string {
	return f.SourceIP.String() + " " + f.HeaderFrom
}

// newDMARCSources lists the sources failing DMARC for our domains
// (opt.Domains, else the policy domains of the authenticated reports) in
// the authenticated reports whose range ended within DMARCLateness before
// the span or since, that no earlier authenticated report had failing,
// and that the last digest of opt.Host did not name.
func newDMARCSources(ctx context.Context, st *store.Store, opt Options, d *Digest) error {
	domains, err := ourDomains(ctx, st, opt.Domains)
	if err != nil || len(domains) == 0 {
		return err // none: no authenticated DMARC report, nothing is ours yet
	}
	from := opt.Since.Add(-DMARCLateness)
	fs, err := st.NewDMARCFailingSources(ctx, from, time.Time{}, domains)
	if err != nil {
		return err
	}
	sent, err := sentSources(ctx, st, opt.Host)
	if err != nil {
		return err
	}
	seen := map[string]bool{}
	for _, f := range fs {
		k := sourceKey(f)
		if !seen[k] {
			seen[k] = true
			d.DMARCSeen = append(d.DMARCSeen, k)
		}
		if !sent[k] {
			d.DMARCNew = append(d.DMARCNew, f)
		}
	}
	slices.Sort(d.DMARCSeen)
	return nil
}

// ourDomains are the domains given, else the policy domains of the
// authenticated DMARC reports: reporters send DMARC reports only to the
// addresses our domains' DMARC records name.
func ourDomains(ctx context.Context, st *store.Store, given []string) ([]string, error) {
	if len(given) > 0 {
		return given, nil
	}
	all, err := st.DMARCStoredSince(ctx, time.Time{})
	if err != nil {
		return nil, err
	}
	var domains []string
	for _, r := range all {
		if r.Authenticated && r.Domain != "" && !slices.Contains(domains, r.Domain) {
			domains = append(domains, r.Domain)
		}
	}
	return domains, nil
}

// sentSources reads the sources the last digest of host named.
func sentSources(ctx context.Context, st *store.Store, host string) (map[string]bool, error) {
	keys, err := loadSetting[[]string](ctx, st, dmarcSourcesKey(host))
	if err != nil || keys == nil {
		return nil, err
	}
	sent := map[string]bool{}
	for _, k := range keys {
		sent[k] = true
	}
	return sent, nil
}

// RecordDMARC keeps the failing sources of d (named now or by the digest
// before, within the window) as those host's last digest named, so that
// the next digest does not name them again.
func RecordDMARC(ctx context.Context, st *store.Store, host string, d Digest) error {
	keys := d.DMARCSeen
	if keys == nil {
		keys = []string{}
	}
	return saveSetting(ctx, st, dmarcSourcesKey(host), keys)
}

// writeDMARC writes the DMARC parts of the digest, every report string
// neutralised.
func writeDMARC(w io.Writer, rises []DMARCRise, fs []store.DMARCFailingSource) {
	if len(rises) > 0 {
		fmt.Fprintf(w, "\nDMARC failures that rose (reports stored in this span against the one before):\n")
		list(w, rises, func(r DMARCRise) string {
			return fmt.Sprintf("%s: %.1f%% of messages failed DMARC (%d of %d), was %.1f%% (%d of %d)", neutral.SummaryLine(r.Reporter),
				rate{r.Now.Fail, r.Now.Messages}.percent(), r.Now.Fail, r.Now.Messages,
				rate{r.Before.Fail, r.Before.Messages}.percent(), r.Before.Fail, r.Before.Messages)
		})
	}
	if len(fs) > 0 {
		fmt.Fprintf(w, "\nNew sources failing DMARC for our domains:\n")
		list(w, fs, func(f store.DMARCFailingSource) string {
			return fmt.Sprintf("%s sending as %s: %s, %s, disposition %s, reported by %s", addr(f.SourceIP),
				neutral.SummaryLine(orNone(f.HeaderFrom)), plural64(f.Messages, "message", "messages"),
				neutral.SummaryLine(f.WhatFailed()), neutral.SummaryLine(orNone(f.Disposition)), neutral.SummaryLine(store.ReporterName(!f.Unauthenticated, f.Reporter, f.Reporter)))
		})
	}
}

// addr is an address, "(none)" when invalid.
func addr(a netip.Addr) string {
	if !a.IsValid() {
		return "(none)"
	}
	return a.String()
}

// satAdd adds two non-negative counts, saturating at store.MaxSum.
func satAdd(a, b int64) int64 {
	if a > store.MaxSum-b {
		return store.MaxSum
	}
	return a + b
}

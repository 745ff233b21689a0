package web

import (
	"bytes"
	"cmp"
	"context"
	"fmt"
	"html/template"
	"net/http"
	"net/netip"
	"slices"
	"strings"
	"time"

	"github.com/tlsrpt/tlsrpt/assess"
	"github.com/tlsrpt/tlsrpt/internal/tally"
	"github.com/tlsrpt/tlsrpt/neutral"
	"github.com/tlsrpt/tlsrpt/probe"
	"github.com/tlsrpt/tlsrpt/store"
)

// Bounds of what one chart shows; the rest is summed as "other".
const (
	maxDomainCharts = 6
	maxTypeSeries   = 6
	otherLabel      = "(other)"
)

// page is what the page template shows.
type page struct {
	Generated  time.Time
	From, To   time.Time // the charts' span, days
	Totals     totals
	Charts     charts // drawn by app.js, also shown as tables
	Reporters  []reporterRow
	Addresses  []addressRow
	MoreAddrs  int
	MXs        []mxRow
	MoreSides  int // reporters added up as "(other reporters)" in Charts.Reporters
	Redeemed   []redeemedRow
	MoreRedeem int
	QuietAfter string
	Redeem     string // the redeem command to copy, up to --ip
}

type totals struct {
	Successful, Failed int64
	Rate               float64
	Failing, Trusted   int
	BannedTrusted      int
	Quiet              int
}

// charts is the data app.js draws: one x axis of days (Unix seconds) and
// series over it.
type charts struct {
	Days    []int64  `json:"days"`
	Domains []series `json:"domains"` // successful and failed per day per domain
	Types   []series `json:"types"`   // failed per day per result-type

	// Reporters are TLS sessions beside DMARC messages per day per
	// reporter, numbers only.
	Reporters []reporterSection `json:"reporters"`
}

type series struct {
	Name       string  `json:"name"`
	Successful []int64 `json:"successful,omitempty"`
	Failed     []int64 `json:"failed"`
	Rate       []any   `json:"rate,omitempty"` // percent, null without sessions
}

type reporterRow struct {
	store.ReporterActivity
	PerDayText string
	Quiet      bool
	SilentFor  string
}

// addressRow is a failing address as the page shows it: the review row,
// and for a kind of failure diagnose explains, the command that probes it.
type addressRow struct {
	ReviewRow
	Diagnose string // "tlsrpt diagnose DOMAIN...", "" for kind ban or -
}

// redeemedRow is a redeemed address as the Redeemed table shows it.
type redeemedRow struct {
	IP       netip.Addr
	At       time.Time
	Backends string
	Outcome  string
	Why      string
}

// redeemedRows are the first max redeemed addresses, worst outcome
// first, then the newest redeem, and the number left out.
func redeemedRows(os []assess.Outcome, max int) ([]redeemedRow, int) {
	os = slices.Clone(os)
	slices.SortStableFunc(os, func(a, b assess.Outcome) int {
		return cmp.Compare(slices.Index(assess.OutcomeWords, a.Outcome), slices.Index(assess.OutcomeWords, b.Outcome))
	})
	var out []redeemedRow
	for _, o := range os[:min(len(os), max)] {
		out = append(out, redeemedRow{IP: o.IP, At: o.At, Backends: strings.Join(o.Backends(), ", "), Outcome: o.Outcome, Why: o.Why})
	}
	return out, len(os) - len(out)
}

type mxRow struct {
	MX     string
	Failed int64
}

var funcs = template.FuncMap{
	"date":  func(t time.Time) string { return t.UTC().Format("2006-01-02") },
	"stamp": func(t time.Time) string { return t.UTC().Format("2006-01-02 15:04 UTC") },
	"pct":   func(f float64) string { return fmt.Sprintf("%.2f%%", 100*f) },
	"day":   func(sec int64) string { return time.Unix(sec, 0).UTC().Format("2006-01-02") },
	"at":    func(l []int64, i int) int64 { return l[i] },
	"orNone": func(s string) string {
		if s == "" {
			return "(none)"
		}
		return s
	},
	"bans": bansText,
}

// bansText says where an address is banned, "?" when some backend could
// not tell, "-" when none was asked.
func bansText(r ReviewRow) string {
	var parts []string
	if r.Banned != nil {
		for _, x := range *r.Banned {
			parts = append(parts, x.Backend+":"+x.Where)
		}
	}
	if len(r.BannedUnknown) > 0 {
		parts = append(parts, "? ("+strings.Join(r.BannedUnknown, ", ")+" could not be asked)")
	}
	switch {
	case len(parts) > 0:
		return strings.Join(parts, ", ")
	case r.Banned != nil:
		return "not banned"
	}
	return "-"
}

func (h *handler) servePage(w http.ResponseWriter, r *http.Request) {
	p, err := h.build(r.Context())
	if err != nil {
		fail(w, err)
		return
	}
	var b bytes.Buffer
	if err := h.page.Execute(&b, p); err != nil {
		fail(w, err)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.Write(b.Bytes())
}

// build gathers the page's data: a few grouped statements over the span,
// whatever the size of the database.
func (h *handler) build(ctx context.Context) (*page, error) {
	now := h.opt.Now().UTC()
	to := now.Truncate(24 * time.Hour)
	from := to.AddDate(0, 0, -h.opt.Days+1)
	span := from
	p := &page{Generated: now, To: to, QuietAfter: duration(h.opt.QuietAfter), Redeem: h.redeem}
	st := h.opt.Store
	byDomain, err := st.SessionStats(ctx, from, store.Day, store.ByDomain)
	if err != nil {
		return nil, err
	}
	side, err := st.SideBySide(ctx, from, store.Day, store.ByReporter)
	if err != nil {
		return nil, err
	}
	// The charts start at the first day with a report, TLS or DMARC,
	// within the span.
	from = firstDay(from, byDomain, side)
	p.From = from
	days := make([]int64, 0, h.opt.Days)
	index := map[int64]int{}
	for d := from; !d.After(to); d = d.AddDate(0, 0, 1) {
		index[d.Unix()] = len(days)
		days = append(days, d.Unix())
	}
	p.Charts.Days = days
	p.Charts.Domains = domainSeries(byDomain, index, len(days), &p.Totals)
	byType, err := st.SessionStats(ctx, from, store.Day, store.ByResultType)
	if err != nil {
		return nil, err
	}
	p.Charts.Types = typeSeries(byType, index, len(days))
	if p.Charts.Reporters, p.MoreSides, err = dmarcSections(ctx, st, side, span, index, len(days)); err != nil {
		return nil, err
	}
	byMX, err := st.SessionStats(ctx, from, store.Month, store.ByMX)
	if err != nil {
		return nil, err
	}
	p.MXs = mxRows(byMX)
	if err := h.addReporters(ctx, p, now); err != nil {
		return nil, err
	}
	// The addresses of the same span as the tiles and charts.
	rows, err := h.opt.Review(ctx, span)
	if err != nil {
		return nil, err
	}
	p.Totals.Failing = len(rows)
	for _, r := range rows {
		if r.Trusted {
			p.Totals.Trusted++
			if r.Banned != nil && len(*r.Banned) > 0 {
				p.Totals.BannedTrusted++
			}
		}
	}
	if len(rows) > h.opt.MaxAddresses {
		p.MoreAddrs = len(rows) - h.opt.MaxAddresses
		rows = rows[:h.opt.MaxAddresses]
	}
	if p.Addresses, err = addressRows(ctx, st, span, rows); err != nil {
		return nil, err
	}
	redeemed, err := h.opt.Redeemed(ctx)
	if err != nil {
		return nil, err
	}
	p.Redeemed, p.MoreRedeem = redeemedRows(redeemed, h.opt.MaxAddresses)
	if t := p.Totals.Successful + p.Totals.Failed; t > 0 {
		p.Totals.Rate = float64(p.Totals.Failed) / float64(t)
	}
	return p, nil
}

// addressRows adds to each row of kind diagnose or both the command that
// probes its cause: with the policy domains the authenticated reports
// name for the address, those that are domain names, else none (then
// diagnose takes the reports' failing domains itself). A forged report
// never writes a command line the reader may paste.
func addressRows(ctx context.Context, st *store.Store, since time.Time, rows []ReviewRow) ([]addressRow, error) {
	out := make([]addressRow, len(rows))
	var domains map[netip.Addr][]string
	for i, r := range rows {
		out[i].ReviewRow = r
		if r.Kind != assess.KindDiagnose && r.Kind != assess.KindBoth {
			continue
		}
		if domains == nil {
			var err error
			if domains, err = st.AddressDomains(ctx, since); err != nil {
				return nil, err
			}
		}
		cmd := []string{"tlsrpt diagnose"}
		if a, err := netip.ParseAddr(r.IP); err == nil {
			for _, d := range domains[a.Unmap()] {
				if probe.ValidDomain(d) {
					cmd = append(cmd, d)
				}
			}
		}
		out[i].Diagnose = strings.Join(cmd, " ")
	}
	return out, nil
}

// domainSeries makes one series per policy domain (the biggest
// maxDomainCharts, the rest as one), with the failure rate per day, and
// adds the totals up.
func domainSeries(rows []store.SessionRow, index map[int64]int, n int, t *totals) []series {
	sum := map[string]int64{}
	for _, r := range rows {
		sum[r.Key] = satAdd(sum[r.Key], satAdd(r.Successful, r.Failed))
		t.Successful = satAdd(t.Successful, r.Successful)
		t.Failed = satAdd(t.Failed, r.Failed)
	}
	out := ordered(fold(rows, index, n, biggest(sum, maxDomainCharts), true), sum)
	for i := range out {
		out[i].Rate = make([]any, n)
		for d := range n {
			if tot := out[i].Successful[d] + out[i].Failed[d]; tot > 0 {
				out[i].Rate[d] = float64(out[i].Failed[d]) * 100 / float64(tot)
			}
		}
	}
	return out
}

// typeSeries makes one series of failed sessions per result-type.
func typeSeries(rows []store.SessionRow, index map[int64]int, n int) []series {
	sum := map[string]int64{}
	for _, r := range rows {
		sum[r.Key] = satAdd(sum[r.Key], r.Failed)
	}
	return ordered(fold(rows, index, n, biggest(sum, maxTypeSeries), false), sum)
}

// fold adds rows up per day of index into one series per key of keep and
// one, otherLabel, for the rest: failed sessions, and successful ones too
// when successful is set.
func fold(rows []store.SessionRow, index map[int64]int, n int, keep map[string]bool, successful bool) map[string]*series {
	by := map[string]*series{}
	for _, r := range rows {
		i, ok := index[r.Start.Unix()]
		if !ok {
			continue
		}
		name := r.Key
		if !keep[name] {
			name = otherLabel
		}
		s := by[name]
		if s == nil {
			s = &series{Name: name, Failed: make([]int64, n)}
			if successful {
				s.Successful = make([]int64, n)
			}
			by[name] = s
		}
		if successful {
			s.Successful[i] = satAdd(s.Successful[i], r.Successful)
		}
		s.Failed[i] = satAdd(s.Failed[i], r.Failed)
	}
	return by
}

// ordered lists series biggest first, "(other)" last.
func ordered(by map[string]*series, sum map[string]int64) []series {
	out := make([]series, 0, len(by))
	for _, s := range by {
		out = append(out, *s)
	}
	total := func(s series) int64 {
		if s.Name == otherLabel {
			return -1
		}
		return sum[s.Name]
	}
	slices.SortFunc(out, func(a, b series) int {
		if c := cmp.Compare(total(b), total(a)); c != 0 {
			return c
		}
		return cmp.Compare(a.Name, b.Name)
	})
	return out
}

// biggest keeps the n keys of sum with the most sessions.
func biggest(sum map[string]int64, n int) map[string]bool {
	return tally.Top(sum, n, func(a, b int64) int { return cmp.Compare(b, a) })
}

func mxRows(rows []store.SessionRow) []mxRow {
	sum := map[string]int64{}
	for _, r := range rows {
		sum[r.Key] = satAdd(sum[r.Key], r.Failed)
	}
	out := make([]mxRow, 0, len(sum))
	for k, v := range sum {
		out = append(out, mxRow{MX: k, Failed: v})
	}
	slices.SortFunc(out, func(a, b mxRow) int {
		if c := cmp.Compare(b.Failed, a.Failed); c != 0 {
			return c
		}
		return cmp.Compare(a.MX, b.MX)
	})
	return out
}

func (h *handler) addReporters(ctx context.Context, p *page, now time.Time) error {
	as, err := h.opt.Store.Reporters(ctx)
	if err != nil {
		return err
	}
	for _, a := range as {
		row := reporterRow{ReporterActivity: a, PerDayText: fmt.Sprintf("%.2f", a.PerDay()), Quiet: a.Quiet(now, h.opt.QuietAfter)}
		if row.Quiet {
			p.Totals.Quiet++
			row.SilentFor = fmt.Sprintf("%.0f days", now.Sub(a.Last).Hours()/24) // Quiet judges the periods covered
		}
		p.Reporters = append(p.Reporters, row)
	}
	// Quiet reporters first: they are what the operator must see.
	slices.SortStableFunc(p.Reporters, func(a, b reporterRow) int {
		switch {
		case a.Quiet && !b.Quiet:
			return -1
		case b.Quiet && !a.Quiet:
			return 1
		}
		return 0
	})
	return nil
}

// duration says a span in days, or hours below two days.
func duration(d time.Duration) string {
	if d >= 48*time.Hour {
		return fmt.Sprintf("%.0f days", d.Hours()/24)
	}
	return fmt.Sprintf("%.0f hours", d.Hours())
}

// shellCommand joins args into a command line for a POSIX shell, each
// quoted where it needs it.
func shellCommand(args []string) string {
	q := make([]string, len(args))
	for i, a := range args {
		q[i] = neutral.ShellWord(a)
	}
	return strings.Join(q, " ")
}

// satAdd adds two non-negative counts, saturating at store.MaxSum.
func satAdd(a, b int64) int64 { return tally.Add(a, b, store.MaxSum) }

package web

import (
	"cmp"
	"context"
	"slices"
	"time"

	"github.com/tlsrpt/tlsrpt/store"
)

// Bounds of the per-reporter section: the reporters with the most TLS
// sessions and DMARC messages (authenticated ones first) keep a section
// of their own, the rest are added up as one; each lists its sources
// failing DMARC with the most messages.
const (
	maxReporterSections = 8
	maxFailingSources   = 10
	otherReporters      = "(other reporters)"
)

// reporterSection is one reporter's part of the section: TLS sessions to
// us beside DMARC messages from us per day (drawn by app.js from the
// numbers alone: no report string goes into the page's JSON), and the
// sources failing DMARC in its reports.
type reporterSection struct {
	Name          string                     `json:"-"` // store.ReporterName: "NAME (unauthenticated)" for a claimed name
	Authenticated bool                       `json:"-"`
	Successful    []int64                    `json:"successful"` // TLS sessions per day
	Failed        []int64                    `json:"failed"`
	Pass          []int64                    `json:"pass"` // DMARC messages per day
	Fail          []int64                    `json:"fail"`
	Sources       []store.DMARCFailingSource `json:"-"`
	MoreSources   bool                       `json:"-"` // more than the sources listed
	total         int64
}

// sectionKey is a reporter as SideBySide and DMARCFailingSources name it.
type sectionKey struct {
	name   string
	authed bool
}

// dmarcSections builds the per-reporter section of the days in index
// from the reports ending at or after since: at most
// maxReporterSections reporters and "(other reporters)", the biggest
// first, authenticated ones before any unauthenticated one so that
// forged reports can take only the sections authenticated ones leave.
// Unauthenticated reports keep the name they claim, marked, apart from
// an authenticated reporter of the same name. It returns the sections
// and how many reporters "(other reporters)" adds up. SideBySide's two
// grouped statements, and one for the failing sources.
func dmarcSections(ctx context.Context, st *store.Store, side []store.SideRow, since time.Time, index map[int64]int, n int) ([]reporterSection, int, error) {
	by := sideByReporter(side, index, n)
	keys := rankSections(by)
	keep := keys[:min(len(keys), maxReporterSections)]
	out := make([]reporterSection, 0, len(keep)+1)
	kept := map[sectionKey]int{}
	for _, k := range keep {
		kept[k] = len(out)
		out = append(out, *by[k])
	}
	rest := keys[len(keep):]
	if len(rest) > 0 {
		o := newSection(otherReporters, false, n)
		for _, k := range rest {
			o.add(by[k])
		}
		out = append(out, *o)
	}
	if len(keep) == 0 {
		return out, 0, nil
	}
	fs, err := st.DMARCFailingSources(ctx, since, maxFailingSources+1)
	if err != nil {
		return nil, 0, err
	}
	for _, f := range fs {
		if i, ok := kept[sectionKey{f.Reporter, !f.Unauthenticated}]; ok {
			out[i].addSource(f)
		}
	}
	return out, len(rest), nil
}

func newSection(name string, authed bool, n int) *reporterSection {
	return &reporterSection{Name: name, Authenticated: authed,
		Successful: make([]int64, n), Failed: make([]int64, n), Pass: make([]int64, n), Fail: make([]int64, n)}
}

// add adds the days of o to s.
func (s *reporterSection) add(o *reporterSection) {
	for i := range s.Successful {
		s.Successful[i] = satAdd(s.Successful[i], o.Successful[i])
		s.Failed[i] = satAdd(s.Failed[i], o.Failed[i])
		s.Pass[i] = satAdd(s.Pass[i], o.Pass[i])
		s.Fail[i] = satAdd(s.Fail[i], o.Fail[i])
	}
}

// addSource lists f, up to maxFailingSources, and notes there are more.
func (s *reporterSection) addSource(f store.DMARCFailingSource) {
	if len(s.Sources) == maxFailingSources {
		s.MoreSources = true
		return
	}
	s.Sources = append(s.Sources, f)
}

// sideByReporter sorts the rows into a section per reporter, with their
// days in index and their total over all days.
func sideByReporter(side []store.SideRow, index map[int64]int, n int) map[sectionKey]*reporterSection {
	by := map[sectionKey]*reporterSection{}
	for _, r := range side {
		k := sectionKey{r.Key, !r.Unauthenticated}
		s := by[k]
		if s == nil {
			s = newSection(store.ReporterName(k.authed, k.name, k.name), k.authed, n)
			by[k] = s
		}
		s.total = satAdd(s.total, satAdd(satAdd(r.Successful, r.Failed), r.Messages))
		if i, ok := index[r.Start.Unix()]; ok {
			s.Successful[i] = satAdd(s.Successful[i], r.Successful)
			s.Failed[i] = satAdd(s.Failed[i], r.Failed)
			s.Pass[i] = satAdd(s.Pass[i], r.DMARCPass)
			s.Fail[i] = satAdd(s.Fail[i], r.DMARCFail)
		}
	}
	return by
}

// rankSections orders the reporters: authenticated ones first, then by
// sessions and messages, most first, then by name.
func rankSections(by map[sectionKey]*reporterSection) []sectionKey {
	keys := make([]sectionKey, 0, len(by))
	for k := range by {
		keys = append(keys, k)
	}
	slices.SortFunc(keys, func(a, b sectionKey) int {
		if a.authed != b.authed {
			if a.authed {
				return -1
			}
			return 1
		}
		if c := cmp.Compare(by[b].total, by[a].total); c != 0 {
			return c
		}
		return cmp.Compare(a.name, b.name)
	})
	return keys
}

// firstDay is the first day the charts show: the first day with a TLS or
// a DMARC report when it is after from, the start of the span.
func firstDay(from time.Time, byDomain []store.SessionRow, side []store.SideRow) time.Time {
	first := time.Time{}
	if len(byDomain) > 0 {
		first = byDomain[0].Start
	}
	if len(side) > 0 && (first.IsZero() || side[0].Start.Before(first)) {
		first = side[0].Start
	}
	if first.After(from) {
		return first
	}
	return from
}

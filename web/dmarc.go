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
// an authenticated reporter of the same name. Two grouped statements
// (SideBySide's) and one for the failing sources.
func dmarcSections(ctx context.Context, st *store.Store, side []store.SideRow, since time.Time, index map[int64]int, n int) ([]reporterSection, int, error) {
	by := map[sectionKey]*reporterSection{}
	for _, r := range side {
		k := sectionKey{r.Key, !r.Unauthenticated}
		s := by[k]
		if s == nil {
			s = &reporterSection{Name: store.ReporterName(k.authed, k.name, k.name), Authenticated: k.authed,
				Successful: make([]int64, n), Failed: make([]int64, n), Pass: make([]int64, n), Fail: make([]int64, n)}
			by[k] = s
		}
		v := satAdd(satAdd(r.Successful, r.Failed), r.Messages)
		s.total = satAdd(s.total, v)
		if i, ok := index[r.Start.Unix()]; ok {
			s.Successful[i] = satAdd(s.Successful[i], r.Successful)
			s.Failed[i] = satAdd(s.Failed[i], r.Failed)
			s.Pass[i] = satAdd(s.Pass[i], r.DMARCPass)
			s.Fail[i] = satAdd(s.Fail[i], r.DMARCFail)
		}
	}
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
	out := make([]reporterSection, 0, min(len(keys), maxReporterSections+1))
	kept := map[sectionKey]int{}
	for _, k := range keys[:min(len(keys), maxReporterSections)] {
		kept[k] = len(out)
		out = append(out, *by[k])
	}
	if rest := keys[min(len(keys), maxReporterSections):]; len(rest) > 0 {
		o := reporterSection{Name: otherReporters, Successful: make([]int64, n), Failed: make([]int64, n), Pass: make([]int64, n), Fail: make([]int64, n)}
		for _, k := range rest {
			s := by[k]
			for i := range n {
				o.Successful[i] = satAdd(o.Successful[i], s.Successful[i])
				o.Failed[i] = satAdd(o.Failed[i], s.Failed[i])
				o.Pass[i] = satAdd(o.Pass[i], s.Pass[i])
				o.Fail[i] = satAdd(o.Fail[i], s.Fail[i])
			}
		}
		out = append(out, o)
	}
	if len(kept) == 0 {
		return out, len(keys) - len(kept), nil
	}
	fs, err := st.DMARCFailingSources(ctx, since, maxFailingSources+1)
	if err != nil {
		return nil, 0, err
	}
	for _, f := range fs {
		i, ok := kept[sectionKey{f.Reporter, !f.Unauthenticated}]
		if !ok {
			continue
		}
		if len(out[i].Sources) == maxFailingSources {
			out[i].MoreSources = true
			continue
		}
		out[i].Sources = append(out[i].Sources, f)
	}
	return out, len(keys) - len(kept), nil
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

package store

import (
	"context"
	"time"

	"github.com/tlsrpt/tlsrpt/internal/pkgerr"
)

// DMARCRow is the DMARC aggregate reports of one period and group: the
// messages the reporters saw from our domains, and how many passed or
// failed DMARC as the reporters evaluated it (aligned DKIM or aligned SPF
// pass).
type DMARCRow struct {
	Start    time.Time // first day of the period, 00:00 UTC
	Key      string    // the group's value ("" with NoGroup)
	Messages int64     // saturating at MaxSum
	Pass     int64     // Messages - Fail
	Fail     int64     // saturating at MaxSum

	// Unauthenticated is set, with ByReporter only, on the rows of
	// reports no signature vouches for: their Key is the reporter the
	// reports name (org_name, else the domain of email), white space
	// collapsed, never merged with an authenticated reporter, whose Key is
	// its authenticated identity. Show it with ReporterName.
	Unauthenticated bool
}

// FailRate is Fail / Messages, 0 without messages.
func (r DMARCRow) FailRate() float64 {
	if r.Messages == 0 {
		return 0
	}
	return float64(r.Fail) / float64(r.Messages)
}

// dmarcQueries are the per-day statements by group, over the report rows
// only (AddDMARC keeps each report's totals on it). Groups ByMX and
// ByResultType have no DMARC meaning.
var dmarcQueries = map[Group]string{
	NoGroup: `SELECT start_time / 86400, '', 1, SUM(CAST(messages AS DOUBLE PRECISION)), SUM(CAST(failed AS DOUBLE PRECISION))
		FROM dmarc_reports WHERE end_time >= ? GROUP BY 1, 2, 3`,
	ByReporter: `SELECT start_time / 86400, CASE WHEN auth_authenticated <> 0 THEN reporter ELSE org END,
		CASE WHEN auth_authenticated <> 0 THEN 1 ELSE 0 END,
		SUM(CAST(messages AS DOUBLE PRECISION)), SUM(CAST(failed AS DOUBLE PRECISION))
		FROM dmarc_reports WHERE end_time >= ? GROUP BY 1, 2, 3`,
	ByDomain: `SELECT start_time / 86400, domain, 1, SUM(CAST(messages AS DOUBLE PRECISION)), SUM(CAST(failed AS DOUBLE PRECISION))
		FROM dmarc_reports WHERE end_time >= ? GROUP BY 1, 2, 3`,
}

// DMARCStats adds up the messages of the DMARC reports whose range ends
// at or after since (all for the zero since) per period and group
// (NoGroup, ByReporter or ByDomain, the policy domain), a report counting
// on the day its range starts, as SessionStats does for TLS reports. Rows
// come by period, then by key, an authenticated reporter before the
// unauthenticated reports of the same name. One grouped statement over
// the report rows, never their records.
func (s *Store) DMARCStats(ctx context.Context, since time.Time, by Period, group Group) ([]DMARCRow, error) {
	rows, err := s.dmarcStats(ctx, since, by, group)
	if err != nil {
		return nil, pkgerr.Errorf("store", "adding up DMARC messages by %s and %q: %w", by, group, s.classify(err))
	}
	return rows, nil
}

func (s *Store) dmarcStats(ctx context.Context, since time.Time, by Period, group Group) ([]DMARCRow, error) {
	const unknown = "unknown group %q for DMARC reports (want reporter or domain)"
	return statRows(ctx, s, dmarcQueries, group, unknown, since, by, func(d daySum) DMARCRow {
		fail := min(d.b, d.a)
		return DMARCRow{Start: d.start, Key: d.key, Unauthenticated: !d.authed, Messages: d.a, Fail: fail, Pass: d.a - fail}
	})
}

// SideRow is one period and group of TLS and DMARC reports side by side:
// the TLS sessions reporters' servers made to ours (Successful, Failed)
// beside the messages from our domains they saw, per DMARC (Messages,
// DMARCPass, DMARCFail). A row has whichever of the two the group had in
// the period, zero for the other.
type SideRow struct {
	Start      time.Time
	Key        string
	Successful int64 // TLS sessions
	Failed     int64
	Messages   int64 // DMARC messages
	DMARCPass  int64
	DMARCFail  int64

	// Unauthenticated is set, with ByReporter only, on rows of
	// unauthenticated reports, grouped by the name they claim: the TLS
	// report's organization-name, the DMARC report's reporter. Show the
	// key with ReporterName; an unauthenticated row is never merged with
	// an authenticated one.
	Unauthenticated bool
}

// SideBySide puts SessionStats and DMARCStats side by side: one row per
// period and group (NoGroup, ByReporter or ByDomain) holding the TLS
// sessions and the DMARC messages of the reports whose range ends at or
// after since, in the order of both. An authenticated reporter is the
// same row in both: its authenticated identity (the domain that signed
// its TLS and its DMARC reports). Two grouped statements, one per kind.
func (s *Store) SideBySide(ctx context.Context, since time.Time, by Period, group Group) ([]SideRow, error) {
	if group != NoGroup && group != ByReporter && group != ByDomain {
		return nil, pkgerr.Errorf("store", "putting TLS and DMARC reports side by side: unknown group %q (want reporter or domain)", group)
	}
	tls, err := s.SessionStats(ctx, since, by, group)
	if err != nil {
		return nil, err
	}
	dm, err := s.DMARCStats(ctx, since, by, group)
	if err != nil {
		return nil, err
	}
	return mergeSide(tls, dm), nil
}

// mergeSide joins rows of the same period and key: both lists come in
// the order compareRows gives, so one pass merges them, in that order.
func mergeSide(tls []SessionRow, dm []DMARCRow) []SideRow {
	out := make([]SideRow, 0, max(len(tls), len(dm)))
	i, j := 0, 0
	for i < len(tls) || j < len(dm) {
		c := 0
		switch {
		case i == len(tls):
			c = 1
		case j == len(dm):
			c = -1
		default:
			t, d := &tls[i], &dm[j]
			c = compareRows(t.Start, d.Start, t.Key, d.Key, t.Unauthenticated, d.Unauthenticated)
		}
		var r SideRow
		if c <= 0 {
			t := &tls[i]
			r = SideRow{Start: t.Start, Key: t.Key, Unauthenticated: t.Unauthenticated, Successful: t.Successful, Failed: t.Failed}
			i++
		}
		if c >= 0 {
			d := &dm[j]
			r.Start, r.Key, r.Unauthenticated = d.Start, d.Key, d.Unauthenticated
			r.Messages, r.DMARCPass, r.DMARCFail = d.Messages, d.Pass, d.Fail
			j++
		}
		out = append(out, r)
	}
	return out
}

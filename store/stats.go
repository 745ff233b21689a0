package store

import (
	"context"
	"database/sql"
	"fmt"
	"math"
	"slices"
	"time"
)

// Period is the length of the periods SessionStats adds sessions up by.
type Period string

// The periods: UTC days, weeks starting on Monday (ISO 8601), months.
const (
	Day   Period = "day"
	Week  Period = "week"
	Month Period = "month"
)

// Group is what SessionStats groups sessions by within a period.
type Group string

// The groups. Reports give successful sessions per policy only, so
// grouped by receiving MX or by result-type only failed sessions count
// (from the failure details); the others count both (from the policies'
// summaries, which reporters fill in even where their details do not add
// up).
const (
	NoGroup      Group = ""
	ByReporter   Group = "reporter"    // the report's organization-name
	ByDomain     Group = "domain"      // the policy-domain
	ByMX         Group = "mx"          // receiving-mx-hostname of failure details
	ByResultType Group = "result-type" // result-type of failure details
)

// secondsInOneDay is the length of the days the queries bucket by.
const secondsInOneDay = 86400

// SessionRow is the sessions of one period and group.
type SessionRow struct {
	Start      time.Time // first day of the period, 00:00 UTC
	Key        string    // the group's value ("" with NoGroup)
	Successful int64     // saturating at MaxSum; 0 for ByMX and ByResultType
	Failed     int64     // saturating at MaxSum
}

// FailureRate is Failed / (Successful + Failed), 0 without sessions.
func (r SessionRow) FailureRate() float64 {
	if r.Successful+r.Failed == 0 {
		return 0
	}
	return float64(r.Failed) / (float64(r.Successful) + float64(r.Failed))
}

// SessionStats adds up the sessions of the reports whose range ends at or
// after since (all for the zero since) per period and group, a report
// counting on the day its range starts. Rows come by period, then by key.
// The work is one grouped statement per call: the database sums per day,
// Go folds days into weeks or months.
func (s *Store) SessionStats(ctx context.Context, since time.Time, by Period, group Group) ([]SessionRow, error) {
	rows, err := s.sessionStats(ctx, since, by, group)
	if err != nil {
		return nil, fmt.Errorf("store: adding up sessions by %s and %q: %w", by, group, err)
	}
	return rows, nil
}

// sessionQueries are the per-day statements by group. Sums are taken in
// floating point, which cannot overflow, and saturated in Go.
var sessionQueries = map[Group]string{
	NoGroup: `SELECT r.start_time / 86400, '', SUM(CAST(p.successful AS DOUBLE PRECISION)), SUM(CAST(p.failed AS DOUBLE PRECISION))
		FROM policies p JOIN reports r ON r.id = p.report_id WHERE r.end_time >= ? GROUP BY 1, 2`,
	ByReporter: `SELECT r.start_time / 86400, r.org, SUM(CAST(p.successful AS DOUBLE PRECISION)), SUM(CAST(p.failed AS DOUBLE PRECISION))
		FROM policies p JOIN reports r ON r.id = p.report_id WHERE r.end_time >= ? GROUP BY 1, 2`,
	ByDomain: `SELECT r.start_time / 86400, p.domain, SUM(CAST(p.successful AS DOUBLE PRECISION)), SUM(CAST(p.failed AS DOUBLE PRECISION))
		FROM policies p JOIN reports r ON r.id = p.report_id WHERE r.end_time >= ? GROUP BY 1, 2`,
	ByMX: `SELECT r.start_time / 86400, d.receiving_mx, 0, SUM(CAST(d.sessions AS DOUBLE PRECISION))
		FROM failure_details d JOIN reports r ON r.id = d.report_id WHERE r.end_time >= ? GROUP BY 1, 2`,
	ByResultType: `SELECT r.start_time / 86400, d.result_type, 0, SUM(CAST(d.sessions AS DOUBLE PRECISION))
		FROM failure_details d JOIN reports r ON r.id = d.report_id WHERE r.end_time >= ? GROUP BY 1, 2`,
}

func (s *Store) sessionStats(ctx context.Context, since time.Time, by Period, group Group) ([]SessionRow, error) {
	q, ok := sessionQueries[group]
	if !ok {
		return nil, fmt.Errorf("unknown group %q (want reporter, domain, mx or result-type)", group)
	}
	if by != Day && by != Week && by != Month {
		return nil, fmt.Errorf("unknown period %q (want day, week or month)", by)
	}
	var from int64 = math.MinInt64 / 2
	if !since.IsZero() {
		from = since.Unix()
	}
	rows, err := s.db.QueryContext(ctx, q, from)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	type key struct {
		start time.Time
		key   string
	}
	sums := map[key]*SessionRow{}
	for rows.Next() {
		var (
			day          int64
			k            string
			succ, failed sql.NullFloat64
		)
		if err := rows.Scan(&day, &k, &succ, &failed); err != nil {
			return nil, err
		}
		start := periodStart(time.Unix(day*secondsInOneDay, 0).UTC(), by)
		r := sums[key{start, k}]
		if r == nil {
			r = &SessionRow{Start: start, Key: k}
			sums[key{start, k}] = r
		}
		r.Successful = satAdd(r.Successful, saturate(succ.Float64))
		r.Failed = satAdd(r.Failed, saturate(failed.Float64))
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	out := make([]SessionRow, 0, len(sums))
	for _, r := range sums {
		out = append(out, *r)
	}
	slices.SortFunc(out, func(a, b SessionRow) int {
		if c := a.Start.Compare(b.Start); c != 0 {
			return c
		}
		switch {
		case a.Key < b.Key:
			return -1
		case a.Key > b.Key:
			return 1
		}
		return 0
	})
	return out, nil
}

// saturate converts a floating-point sum to a count in [0, MaxSum].
func saturate(f float64) int64 {
	switch {
	case f >= MaxSum || math.IsInf(f, 1):
		return MaxSum
	case f <= 0 || math.IsNaN(f):
		return 0
	}
	return int64(f)
}

// periodStart returns the first day of the period holding day.
func periodStart(day time.Time, by Period) time.Time {
	switch by {
	case Week:
		back := (int(day.Weekday()) + 6) % 7 // days since Monday
		return day.AddDate(0, 0, -back)
	case Month:
		return time.Date(day.Year(), day.Month(), 1, 0, 0, 0, 0, time.UTC)
	}
	return day
}

// ReporterActivity is what the store knows of one reporter's sending.
type ReporterActivity struct {
	Organization string
	Reports      int64
	Days         int64     // distinct days its reports start on
	First        time.Time // start of its earliest report's range
	Last         time.Time // end of its latest report's range
	LastStored   time.Time // when its latest report was stored
}

// PerDay is the reporter's reports per day over the days it reported
// from its first to its last report.
func (a ReporterActivity) PerDay() float64 {
	days := a.Last.Sub(a.First).Hours() / 24
	if days < 1 {
		days = 1
	}
	return float64(a.Reports) / days
}

// Quiet reports whether the reporter has gone quiet at now: it reported
// regularly (on at least three days, on average at least once every
// after), and nothing of it has ended or been stored within after.
func (a ReporterActivity) Quiet(now time.Time, after time.Duration) bool {
	if a.Days < 3 {
		return false
	}
	span := a.Last.Sub(a.First)
	if span/time.Duration(a.Days-1) > after {
		return false // never regular enough to be missed after that long
	}
	latest := a.Last
	if a.LastStored.After(latest) {
		latest = a.LastStored
	}
	return now.Sub(latest) > after
}

// Reporters lists every reporter (organization-name) with its activity,
// most recent first.
func (s *Store) Reporters(ctx context.Context) ([]ReporterActivity, error) {
	as, err := s.reporters(ctx)
	if err != nil {
		return nil, fmt.Errorf("store: listing reporters: %w", err)
	}
	return as, nil
}

func (s *Store) reporters(ctx context.Context) ([]ReporterActivity, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT org, COUNT(*), COUNT(DISTINCT start_time / 86400),
		MIN(start_time), MAX(end_time), MAX(stored) FROM reports GROUP BY org`)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var as []ReporterActivity
	for rows.Next() {
		var (
			a                  ReporterActivity
			first, last, saved int64
		)
		if err := rows.Scan(&a.Organization, &a.Reports, &a.Days, &first, &last, &saved); err != nil {
			return nil, err
		}
		a.First, a.Last, a.LastStored = time.Unix(first, 0).UTC(), time.Unix(last, 0).UTC(), time.Unix(saved, 0).UTC()
		as = append(as, a)
	}
	slices.SortFunc(as, func(a, b ReporterActivity) int {
		if c := b.Last.Compare(a.Last); c != 0 {
			return c
		}
		switch {
		case a.Organization < b.Organization:
			return -1
		case a.Organization > b.Organization:
			return 1
		}
		return 0
	})
	return as, rows.Err()
}

// RecentSessions is the sessions of one reporter and policy domain, and
// with a result-type the failed sessions of that type only.
type RecentSessions struct {
	Reporter, Domain, ResultType string
	Successful, Failed           int64
}

// SessionsStoredSince adds up the sessions per reporter and policy domain
// of the reports stored at or after since (from the policies' summaries),
// and the failed sessions per reporter, domain and result-type (from the
// failure details): what the metrics show for the last day.
func (s *Store) SessionsStoredSince(ctx context.Context, since time.Time) (perDomain, perType []RecentSessions, err error) {
	perDomain, err = s.recent(ctx, `SELECT r.org, p.domain, '', SUM(CAST(p.successful AS DOUBLE PRECISION)), SUM(CAST(p.failed AS DOUBLE PRECISION))
		FROM policies p JOIN reports r ON r.id = p.report_id WHERE r.stored >= ? GROUP BY 1, 2, 3`, since)
	if err == nil {
		perType, err = s.recent(ctx, `SELECT r.org, p.domain, d.result_type, 0, SUM(CAST(d.sessions AS DOUBLE PRECISION))
			FROM failure_details d JOIN policies p ON p.id = d.policy_id JOIN reports r ON r.id = d.report_id
			WHERE r.stored >= ? GROUP BY 1, 2, 3`, since)
	}
	if err != nil {
		return nil, nil, fmt.Errorf("store: adding up recent sessions: %w", s.classify(err))
	}
	return perDomain, perType, nil
}

func (s *Store) recent(ctx context.Context, q string, since time.Time) ([]RecentSessions, error) {
	rows, err := s.db.QueryContext(ctx, q, since.Unix())
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []RecentSessions
	for rows.Next() {
		var (
			r            RecentSessions
			succ, failed sql.NullFloat64
		)
		if err := rows.Scan(&r.Reporter, &r.Domain, &r.ResultType, &succ, &failed); err != nil {
			return nil, err
		}
		r.Successful, r.Failed = saturate(succ.Float64), saturate(failed.Float64)
		out = append(out, r)
	}
	return out, rows.Err()
}

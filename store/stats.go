package store

import (
	"context"
	"database/sql"
	"fmt"
	"math"
	"slices"
	"strings"
	"time"

	"github.com/tlsrpt/tlsrpt/arrival"
	"github.com/tlsrpt/tlsrpt/internal/pkgerr"
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
	ByReporter   Group = "reporter"    // the authenticated identity, else the claimed organization-name (see SessionRow)
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

	// Unauthenticated is set, with ByReporter only, on the rows of
	// reports no signature vouches for: their Key is the
	// organization-name they claim (white space trimmed and collapsed),
	// never merged with an authenticated reporter, whose Key is its
	// authenticated identity (the domain that signed).
	Unauthenticated bool
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
		return nil, pkgerr.Errorf("store", "adding up sessions by %s and %q: %w", by, group, err)
	}
	return rows, nil
}

// sessionQueries are the per-day statements by group. Sums are taken in
// floating point, which cannot overflow, and saturated in Go.
var sessionQueries = map[Group]string{
	NoGroup: `SELECT r.start_time / 86400, '', 1, SUM(CAST(p.successful AS DOUBLE PRECISION)), SUM(CAST(p.failed AS DOUBLE PRECISION))
		FROM policies p JOIN reports r ON r.id = p.report_id WHERE r.end_time >= ? GROUP BY 1, 2, 3`,
	ByReporter: `SELECT r.start_time / 86400, CASE WHEN r.auth_authenticated <> 0 THEN r.reporter ELSE r.org END,
		CASE WHEN r.auth_authenticated <> 0 THEN 1 ELSE 0 END,
		SUM(CAST(p.successful AS DOUBLE PRECISION)), SUM(CAST(p.failed AS DOUBLE PRECISION))
		FROM policies p JOIN reports r ON r.id = p.report_id WHERE r.end_time >= ? GROUP BY 1, 2, 3`,
	ByDomain: `SELECT r.start_time / 86400, p.domain, 1, SUM(CAST(p.successful AS DOUBLE PRECISION)), SUM(CAST(p.failed AS DOUBLE PRECISION))
		FROM policies p JOIN reports r ON r.id = p.report_id WHERE r.end_time >= ? GROUP BY 1, 2, 3`,
	ByMX: `SELECT r.start_time / 86400, d.receiving_mx, 1, 0, SUM(CAST(d.sessions AS DOUBLE PRECISION))
		FROM failure_details d JOIN reports r ON r.id = d.report_id WHERE r.end_time >= ? GROUP BY 1, 2, 3`,
	ByResultType: `SELECT r.start_time / 86400, d.result_type, 1, 0, SUM(CAST(d.sessions AS DOUBLE PRECISION))
		FROM failure_details d JOIN reports r ON r.id = d.report_id WHERE r.end_time >= ? GROUP BY 1, 2, 3`,
}

func (s *Store) sessionStats(ctx context.Context, since time.Time, by Period, group Group) ([]SessionRow, error) {
	const unknown = "unknown group %q (want reporter, domain, mx or result-type)"
	return statRows(ctx, s, sessionQueries, group, unknown, since, by, func(d daySum) SessionRow {
		return SessionRow{Start: d.start, Key: d.key, Unauthenticated: !d.authed, Successful: d.a, Failed: d.b}
	})
}

// statRows runs the statement of group in queries through daySums and
// makes a row of each period and key: the one path of SessionStats and
// DMARCStats. A group queries lacks is refused with unknown, a format
// naming it.
func statRows[T any](ctx context.Context, s *Store, queries map[Group]string, group Group, unknown string,
	since time.Time, by Period, row func(daySum) T) ([]T, error) {
	q, ok := queries[group]
	if !ok {
		return nil, fmt.Errorf(unknown, group)
	}
	sums, err := s.daySums(ctx, q, since, by)
	if err != nil {
		return nil, err
	}
	out := make([]T, len(sums))
	for i, d := range sums {
		out[i] = row(d)
	}
	return out, nil
}

// statsKey is the key rows are added up by.
type statsKey struct {
	start  time.Time
	key    string
	authed bool
}

// daySum is the two sums of one period and key.
type daySum struct {
	statsKey
	a, b int64 // saturating at MaxSum
}

// daySums runs q, a per-day grouped statement of (day, key, authed, sum,
// sum) over the reports whose range ends at or after since, and adds its
// two sums up per period of by and key. The sums come in compareRows'
// order.
func (s *Store) daySums(ctx context.Context, q string, since time.Time, by Period) ([]daySum, error) {
	if err := checkPeriod(by); err != nil {
		return nil, err
	}
	sums := map[statsKey][2]int64{}
	err := eachRow(ctx, s.db, func(rows *sql.Rows) error {
		var (
			day, authed int64
			k           string
			a, b        sql.NullFloat64
		)
		if err := rows.Scan(&day, &k, &authed, &a, &b); err != nil {
			return err
		}
		sk := foldKey(day, k, authed != 0, by)
		v := sums[sk]
		sums[sk] = [2]int64{satAdd(v[0], saturate(a.Float64)), satAdd(v[1], saturate(b.Float64))}
		return nil
	}, q, sinceUnix(since))
	if err != nil {
		return nil, err
	}
	out := make([]daySum, 0, len(sums))
	for k, v := range sums {
		out = append(out, daySum{statsKey: k, a: v[0], b: v[1]})
	}
	slices.SortFunc(out, func(x, y daySum) int {
		return compareRows(x.start, y.start, x.key, y.key, !x.authed, !y.authed)
	})
	return out, nil
}

// checkPeriod refuses an unknown period.
func checkPeriod(by Period) error {
	if by != Day && by != Week && by != Month {
		return fmt.Errorf("unknown period %q (want day, week or month)", by)
	}
	return nil
}

// sinceUnix is since as the lower bound of end_time; the zero since
// takes everything.
func sinceUnix(since time.Time) int64 {
	if since.IsZero() {
		return math.MinInt64 / 2
	}
	return since.Unix()
}

// foldKey is the key a per-day row of a grouped statement adds up under:
// its period, and its key with white space collapsed when no signature
// vouches for it ("Google Inc. " is "Google Inc.").
func foldKey(day int64, k string, authed bool, by Period) statsKey {
	if !authed {
		k = strings.Join(strings.Fields(k), " ")
	}
	return statsKey{start: periodStart(time.Unix(day*secondsInOneDay, 0).UTC(), by), key: k, authed: authed}
}

// compareRows orders rows by period, then key, an authenticated reporter
// before unauthenticated reports of the same name.
func compareRows(as, bs time.Time, ak, bk string, au, bu bool) int {
	if c := as.Compare(bs); c != 0 {
		return c
	}
	if c := strings.Compare(ak, bk); c != 0 {
		return c
	}
	switch {
	case !au && bu:
		return -1
	case au && !bu:
		return 1
	}
	return 0
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

// Unauthenticated marks, wherever a reporter is shown by name, the
// organization-name of reports that no signature vouches for: anyone can
// write it.
const Unauthenticated = "unauthenticated"

// ReporterName is how a reporter is shown: an authenticated reporter by
// its authenticated identity (the domain that signed for its reports),
// any other by the organization-name its reports claim, white space
// trimmed and collapsed, marked "(unauthenticated)" (that alone when it
// claims none).
func ReporterName(authenticated bool, identity, org string) string {
	if authenticated {
		return identity
	}
	if org = strings.Join(strings.Fields(org), " "); org == "" {
		return "(" + Unauthenticated + ")"
	}
	return org + " (" + Unauthenticated + ")"
}

// ReporterActivity is what the store knows of one reporter's sending. An
// authenticated reporter is its authenticated identity (all its reports,
// whatever organization-name they give); the unauthenticated reports are
// grouped by the organization-name they claim, apart from every
// authenticated reporter.
type ReporterActivity struct {
	Authenticated bool
	Identity      string // the authenticated domain; "" when unauthenticated
	Organization  string // an organization-name its reports give
	Reports       int64
	Days          int64     // distinct days its believed reports start on
	First         time.Time // start of its earliest believed report's range
	Last          time.Time // end of its latest believed report's range; zero when none is believed
	LastStored    time.Time // when its latest report was stored
	LastReceived  time.Time // when its latest report was received (else stored)
	// DaysReceived is the number of distinct days (UTC) on which its
	// reports were received (else stored): one a day however many come,
	// and not a date the reporter writes, so sending many backdated
	// reports at once does not make a reporter look regular.
	DaysReceived int64
}

// Name is how the reporter is shown (see ReporterName).
func (a ReporterActivity) Name() string {
	return ReporterName(a.Authenticated, a.Identity, a.Organization)
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

// Quiet reports whether the reporter has gone quiet at now: it is
// authenticated (nobody can silence or raise the alert by forging
// reports), it reported regularly (on at least three days, on average at
// least once every after), and no believed report's range has ended
// within after. It is judged on the periods the reports cover, not on
// when they were stored: a backfill or a spool drain of old reports does
// not make a silent reporter look alive.
func (a ReporterActivity) Quiet(now time.Time, after time.Duration) bool {
	if !a.Authenticated || a.Days < 3 || a.Last.IsZero() {
		return false
	}
	span := a.Last.Sub(a.First)
	if span/time.Duration(a.Days-1) > after {
		return false // never regular enough to be missed after that long
	}
	return now.Sub(a.Last) > after
}

// Reporters lists every reporter with its activity, most recent first,
// believing report ranges that end at most arrival.ClockSkew after the store's
// clock (see ReportersAsOf).
func (s *Store) Reporters(ctx context.Context) ([]ReporterActivity, error) {
	return s.ReportersAsOf(ctx, s.now())
}

// ReportersAsOf lists every reporter with its activity at now, most
// recent first: authenticated reporters by identity, unauthenticated
// reports by the organization-name they claim (trimmed, white space
// collapsed, case folded). Reports whose range ends more than arrival.ClockSkew
// after now count in Reports but not in Days, First or Last.
func (s *Store) ReportersAsOf(ctx context.Context, now time.Time) ([]ReporterActivity, error) {
	as, err := s.reporters(ctx, now.Add(arrival.ClockSkew).Unix())
	if err != nil {
		return nil, pkgerr.Errorf("store", "listing reporters: %w", s.classify(err))
	}
	return as, nil
}

// reportersSQL lists reporters per (authenticated, identity or claimed
// organization-name); each ? is the latest believed end. TRIM and LOWER fold
// what the Go side folds fully in reporters.
const reportersSQL = `SELECT CASE WHEN auth_authenticated <> 0 THEN 1 ELSE 0 END,
	CASE WHEN auth_authenticated <> 0 THEN reporter ELSE LOWER(TRIM(org)) END,
	MAX(org), COUNT(*),
	COUNT(DISTINCT CASE WHEN end_time <= ? THEN start_time / 86400 END),
	MIN(CASE WHEN end_time <= ? THEN start_time END),
	MAX(CASE WHEN end_time <= ? THEN end_time END), MAX(stored),
	MAX(COALESCE(received, stored)), COUNT(DISTINCT COALESCE(received, stored) / 86400)
	FROM reports GROUP BY 1, 2`

func (s *Store) reporters(ctx context.Context, believed int64) ([]ReporterActivity, error) {
	rows, err := s.db.QueryContext(ctx, reportersSQL, believed, believed, believed)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	byKey := map[[2]string]*ReporterActivity{}
	var keys [][2]string
	for rows.Next() {
		var (
			authed      int64
			key, org    string
			a           ReporterActivity
			first, last sql.NullInt64
			saved, rcvd int64
		)
		if err := rows.Scan(&authed, &key, &org, &a.Reports, &a.Days, &first, &last, &saved, &rcvd, &a.DaysReceived); err != nil {
			return nil, err
		}
		a.Authenticated, a.Organization = authed != 0, org
		a.LastStored, a.LastReceived = time.Unix(saved, 0).UTC(), time.Unix(rcvd, 0).UTC()
		if first.Valid && last.Valid {
			a.First, a.Last = time.Unix(first.Int64, 0).UTC(), time.Unix(last.Int64, 0).UTC()
		}
		k := [2]string{"u", foldName(org)}
		if a.Authenticated {
			a.Identity = key
			k = [2]string{"a", key}
		}
		if prev := byKey[k]; prev != nil {
			prev.merge(a) // names SQL kept apart that differ only in inner white space
			continue
		}
		byKey[k] = &a
		keys = append(keys, k)
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	as := make([]ReporterActivity, 0, len(keys))
	for _, k := range keys {
		as = append(as, *byKey[k])
	}
	slices.SortFunc(as, func(a, b ReporterActivity) int {
		if c := b.Last.Compare(a.Last); c != 0 {
			return c
		}
		if c := strings.Compare(a.Name(), b.Name()); c != 0 {
			return c
		}
		return strings.Compare(a.Organization, b.Organization)
	})
	return as, nil
}

// merge adds b's activity to a's. Days and DaysReceived may count a day twice when both
// had a report starting on it: a bound, good enough for names that only
// inner white space tells apart.
func (a *ReporterActivity) merge(b ReporterActivity) {
	a.Reports += b.Reports
	a.Days += b.Days
	if !b.Last.IsZero() && (a.Last.IsZero() || b.First.Before(a.First)) {
		a.First = b.First
	}
	if b.Last.After(a.Last) {
		a.Last = b.Last
	}
	if b.LastStored.After(a.LastStored) {
		a.LastStored = b.LastStored
	}
	if b.LastReceived.After(a.LastReceived) {
		a.LastReceived = b.LastReceived
	}
	a.DaysReceived += b.DaysReceived
	if b.Organization > a.Organization {
		a.Organization = b.Organization
	}
}

// foldName is the form in which two claimed organization-names are the
// same: white space trimmed and collapsed, case folded.
func foldName(s string) string {
	return strings.ToLower(strings.Join(strings.Fields(s), " "))
}

// RecentSessions is the sessions of one reporter and policy domain, and
// with a result-type the failed sessions of that type only. Reporter is
// the authenticated identity when Authenticated, else the
// organization-name the reports claim.
type RecentSessions struct {
	Reporter, Domain, ResultType string
	Authenticated                bool
	Successful, Failed           int64
}

// recentReporter selects a report's reporter and whether it is
// authenticated, as RecentSessions has them.
const recentReporter = `CASE WHEN r.auth_authenticated <> 0 THEN r.reporter ELSE r.org END,
	CASE WHEN r.auth_authenticated <> 0 THEN 1 ELSE 0 END`

// SessionsStoredSince adds up the sessions per reporter and policy domain
// of the reports stored at or after since (from the policies' summaries),
// and the failed sessions per reporter, domain and result-type (from the
// failure details): what the metrics show for the last day.
func (s *Store) SessionsStoredSince(ctx context.Context, since time.Time) (perDomain, perType []RecentSessions, err error) {
	perDomain, err = s.recent(ctx, `SELECT `+recentReporter+`, p.domain, '', SUM(CAST(p.successful AS DOUBLE PRECISION)), SUM(CAST(p.failed AS DOUBLE PRECISION))
		FROM policies p JOIN reports r ON r.id = p.report_id WHERE r.stored >= ? GROUP BY 1, 2, 3, 4`, since)
	if err == nil {
		perType, err = s.recent(ctx, `SELECT `+recentReporter+`, p.domain, d.result_type, 0, SUM(CAST(d.sessions AS DOUBLE PRECISION))
			FROM failure_details d JOIN policies p ON p.id = d.policy_id JOIN reports r ON r.id = d.report_id
			WHERE r.stored >= ? GROUP BY 1, 2, 3, 4`, since)
	}
	if err != nil {
		return nil, nil, pkgerr.Errorf("store", "adding up recent sessions: %w", s.classify(err))
	}
	return perDomain, perType, nil
}

func (s *Store) recent(ctx context.Context, q string, since time.Time) ([]RecentSessions, error) {
	return queryAll(ctx, s.db, scanRecent, q, since.Unix())
}

// scanRecent reads a row of recent.
func scanRecent(rows *sql.Rows) (r RecentSessions, err error) {
	var (
		authed       int64
		succ, failed sql.NullFloat64
	)
	if err := rows.Scan(&r.Reporter, &authed, &r.Domain, &r.ResultType, &succ, &failed); err != nil {
		return r, err
	}
	r.Authenticated = authed != 0
	r.Successful, r.Failed = saturate(succ.Float64), saturate(failed.Float64)
	return r, nil
}

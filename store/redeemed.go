package store

import (
	"cmp"
	"context"
	"database/sql"
	"fmt"
	"math"
	"net/netip"
	"slices"
	"time"

	"github.com/tlsrpt/tlsrpt/internal/pkgerr"
)

// Redeemed is a redeemed address: its applied, successful unbans and keeps
// in the audit log, and what the authenticated reporters that named it
// said since the latest of them. Only authenticated reports are read: a
// report anyone could have written never moves an outcome.
type Redeemed struct {
	IP netip.Addr
	// At is the time of the latest applied, successful unban or keep.
	At time.Time
	// Actions are the applied, successful unbans and keeps of the
	// address, oldest first.
	Actions []Action
	// Reporters are the authenticated reporters whose reports named the
	// address in a range starting before At, by name.
	Reporters []FollowUp
}

// FollowUp is what one reporter said after an address was redeemed.
// Reports count only when their range starts at or after the redeem
// time: a range that overlaps it partly may hold sessions from before.
type FollowUp struct {
	Reporter string // the authenticated domain
	// Domains are the policy domains where the reporter saw the address
	// fail before the redeem.
	Domains []string
	// Clean counts the reports since that have a policy for one of
	// Domains and no failure detail for the address; Successful sums
	// those policies' successful sessions (RFC 8460 counts successes per
	// policy, never per address).
	Clean      int
	Successful int64
	// Failing counts the reports since that name the address again, with
	// their result types, sorted.
	Failing     int
	ResultTypes []string
	// Later counts every report of the reporter since, whatever its
	// policy domains; LastEnd is the latest end of any of its reports
	// read (those naming the address, those since the redeem).
	Later   int
	LastEnd time.Time
}

// redeemActionsSQL reads the applied, successful unbans and keeps.
const redeemActionsSQL = `SELECT id, time, ip, host, backend, kind, target, command, result FROM actions
	WHERE applied <> 0 AND ok <> 0 AND ip IS NOT NULL AND kind IN ('unban', 'keep')
	ORDER BY time, id`

// redeemNamedSQL reads the authenticated failure details naming a
// redeemed address, whenever their report.
const redeemNamedSQL = `SELECT d.sending_ip, r.id, r.reporter, p.domain, r.start_time, r.end_time, d.result_type
	FROM failure_details d JOIN reports r ON r.id = d.report_id JOIN policies p ON p.id = d.policy_id
	WHERE r.auth_authenticated <> 0 AND d.sending_ip IN (SELECT ip FROM actions
		WHERE applied <> 0 AND ok <> 0 AND ip IS NOT NULL AND kind IN ('unban', 'keep'))`

// redeemLaterSQL reads the policies of authenticated reports starting at
// or after the earliest redeem (end_time >= start_time >= it: the index
// on end_time narrows the scan).
const redeemLaterSQL = `SELECT r.id, r.reporter, p.domain, r.start_time, r.end_time, p.successful
	FROM reports r JOIN policies p ON p.report_id = r.id
	WHERE r.auth_authenticated <> 0 AND r.end_time >= ? AND r.start_time >= ?`

// Redeemed lists the redeemed addresses with what their reporters said
// since, in three statements whatever the number of addresses, ordered by
// redeem time, newest first.
func (s *Store) Redeemed(ctx context.Context) ([]Redeemed, error) {
	out, err := s.redeemed(ctx)
	if err != nil {
		return nil, pkgerr.Errorf("store", "reading the redeemed addresses: %w", err)
	}
	return out, nil
}

func (s *Store) redeemed(ctx context.Context) ([]Redeemed, error) {
	conn, done, err := s.read(ctx)
	if err != nil {
		return nil, err
	}
	defer done()
	byIP, err := redeemActions(ctx, conn)
	if err != nil || len(byIP) == 0 {
		return nil, err
	}
	follow, err := redeemNamed(ctx, conn, byIP)
	if err != nil {
		return nil, err
	}
	if err := redeemLater(ctx, conn, byIP, follow); err != nil {
		return nil, err
	}
	out := make([]Redeemed, 0, len(byIP))
	for ip, r := range byIP {
		for _, name := range sortedKeys(follow[ip]) {
			f := follow[ip][name]
			f.ResultTypes = sortedKeys(f.types)
			r.Reporters = append(r.Reporters, f.FollowUp)
		}
		out = append(out, *r)
	}
	slices.SortFunc(out, func(a, b Redeemed) int {
		if c := b.At.Compare(a.At); c != 0 {
			return c
		}
		return a.IP.Compare(b.IP)
	})
	return out, nil
}

// followAcc is a FollowUp being built.
type followAcc struct {
	FollowUp
	domains map[string]bool
	types   map[string]bool
	failing map[int64]bool // reports since that name the address
}

func redeemActions(ctx context.Context, conn *sql.Conn) (map[netip.Addr]*Redeemed, error) {
	byIP := map[netip.Addr]*Redeemed{}
	err := eachRow(ctx, conn, func(rows *sql.Rows) error {
		var (
			a   Action
			t   sql.NullInt64
			ip  sql.NullString
			err error
		)
		if err := rows.Scan(&a.ID, &t, &ip, &a.Host, &a.Backend, &a.Kind, &a.Target, &a.Command, &a.Result); err != nil {
			return err
		}
		a.Time, a.Applied, a.OK = fromUnix(t), true, true
		if a.IP, err = parseIP(ip); err != nil {
			return err
		}
		k := canonAddr(a.IP)
		r := byIP[k]
		if r == nil {
			r = &Redeemed{IP: k}
			byIP[k] = r
		}
		r.Actions = append(r.Actions, a)
		r.At = a.Time // ordered by time
		return nil
	}, redeemActionsSQL)
	if err != nil {
		return nil, err
	}
	return byIP, nil
}

func redeemNamed(ctx context.Context, conn *sql.Conn, byIP map[netip.Addr]*Redeemed) (map[netip.Addr]map[string]*followAcc, error) {
	rows, err := conn.QueryContext(ctx, redeemNamedSQL)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	follow := map[netip.Addr]map[string]*followAcc{}
	var late []func() // details since the redeem, once every reporter is known
	for rows.Next() {
		var (
			ipText, reporter, domain, result string
			key, start, end                  int64
		)
		if err := rows.Scan(&ipText, &key, &reporter, &domain, &start, &end, &result); err != nil {
			return nil, err
		}
		ip, err := netip.ParseAddr(ipText)
		if err != nil {
			return nil, fmt.Errorf("stored address: %w", err)
		}
		ip = canonAddr(ip)
		r := byIP[ip]
		if r == nil {
			continue
		}
		if time.Unix(start, 0).Before(r.At) {
			f := accFor(follow, ip, reporter)
			f.domains[domain] = true
			f.LastEnd = maxTime(f.LastEnd, time.Unix(end, 0).UTC())
			continue
		}
		late = append(late, func() {
			f := follow[ip][reporter]
			if f == nil { // it named the address only since: not a reporter that had
				f = accFor(follow, ip, reporter)
			}
			f.types[result] = true
			f.failing[key] = true
			f.LastEnd = maxTime(f.LastEnd, time.Unix(end, 0).UTC())
		})
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	for _, fn := range late {
		fn()
	}
	for _, m := range follow {
		for _, f := range m {
			f.Domains = sortedKeys(f.domains)
			f.Failing = len(f.failing)
		}
	}
	return follow, nil
}

func accFor(follow map[netip.Addr]map[string]*followAcc, ip netip.Addr, reporter string) *followAcc {
	m := follow[ip]
	if m == nil {
		m = map[string]*followAcc{}
		follow[ip] = m
	}
	f := m[reporter]
	if f == nil {
		f = &followAcc{FollowUp: FollowUp{Reporter: reporter}, domains: map[string]bool{}, types: map[string]bool{},
			failing: map[int64]bool{}}
		m[reporter] = f
	}
	return f
}

// laterReport is one report read by redeemLaterSQL: its range and the
// successful sessions of its policies, by policy domain.
type laterReport struct {
	key, start, end int64
	successful      map[string]int64
}

// reporterSeries are one reporter's reports since the earliest redeem,
// by start, with what each follow-up needs from a start on, found by a
// binary search instead of a walk per address (a walk per address was
// the reports times the addresses: seconds over a year).
type reporterSeries struct {
	reports []*laterReport // by start
	byKey   map[int64]*laterReport
	maxEnd  []int64                  // maxEnd[i]: latest end of reports[i:]
	domains map[string]*domainSeries // reports with a policy for the domain
}

// domainSeries are the reports of a reporter with a policy for one
// domain, by start, with the suffix sums of their successful sessions.
type domainSeries struct {
	starts []int64
	succ   []int64 // succ[i]: successful sessions of reports[i:], clamped
}

func redeemLater(ctx context.Context, conn *sql.Conn, byIP map[netip.Addr]*Redeemed, follow map[netip.Addr]map[string]*followAcc) error {
	first := int64(-1)
	for ip := range follow {
		if at := byIP[ip].At.Unix(); first < 0 || at < first {
			first = at
		}
	}
	if first < 0 {
		return nil
	}
	series, err := readLater(ctx, conn, first, follow)
	if err != nil {
		return err
	}
	for ip, m := range follow {
		at := byIP[ip].At.Unix()
		for name, f := range m {
			if rs := series[name]; rs != nil {
				rs.follow(f, at)
			}
		}
	}
	return nil
}

// readLater reads the reports since first of the reporters in follow.
func readLater(ctx context.Context, conn *sql.Conn, first int64, follow map[netip.Addr]map[string]*followAcc) (map[string]*reporterSeries, error) {
	want := map[string]bool{}
	for _, m := range follow {
		for name := range m {
			want[name] = true
		}
	}
	rows, err := conn.QueryContext(ctx, redeemLaterSQL, first, first)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	series := map[string]*reporterSeries{}
	for rows.Next() {
		var (
			key, start, end, successful int64
			reporter, domain            string
		)
		if err := rows.Scan(&key, &reporter, &domain, &start, &end, &successful); err != nil {
			return nil, err
		}
		if !want[reporter] {
			continue
		}
		rs := series[reporter]
		if rs == nil {
			rs = &reporterSeries{byKey: map[int64]*laterReport{}, domains: map[string]*domainSeries{}}
			series[reporter] = rs
		}
		r := rs.byKey[key]
		if r == nil {
			r = &laterReport{key: key, start: start, end: end, successful: map[string]int64{}}
			rs.byKey[key] = r
			rs.reports = append(rs.reports, r)
		}
		r.successful[domain] = addCount(r.successful[domain], successful)
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	for _, rs := range series {
		rs.index()
	}
	return series, nil
}

// index sorts the reports and computes the suffix figures.
func (rs *reporterSeries) index() {
	slices.SortFunc(rs.reports, func(a, b *laterReport) int { return cmp.Compare(a.start, b.start) })
	rs.maxEnd = make([]int64, len(rs.reports)+1)
	rs.maxEnd[len(rs.reports)] = math.MinInt64
	for i := len(rs.reports) - 1; i >= 0; i-- {
		rs.maxEnd[i] = max(rs.maxEnd[i+1], rs.reports[i].end)
	}
	type item struct{ start, succ int64 }
	items := map[string][]item{}
	for _, r := range rs.reports {
		for d, n := range r.successful {
			items[d] = append(items[d], item{r.start, n})
		}
	}
	for d, its := range items { // in start order, as reports are
		ds := &domainSeries{starts: make([]int64, len(its)), succ: make([]int64, len(its)+1)}
		for i := len(its) - 1; i >= 0; i-- {
			ds.starts[i] = its[i].start
			ds.succ[i] = addCount(ds.succ[i+1], its[i].succ)
		}
		rs.domains[d] = ds
	}
}

// follow fills in f from the reports starting at or after at.
func (rs *reporterSeries) follow(f *followAcc, at int64) {
	i, _ := slices.BinarySearchFunc(rs.reports, at, func(r *laterReport, t int64) int { return cmp.Compare(r.start, t) })
	f.Later = len(rs.reports) - i
	if f.Later > 0 {
		f.LastEnd = maxTime(f.LastEnd, time.Unix(rs.maxEnd[i], 0).UTC())
	}
	switch len(f.Domains) {
	case 0: // it named the address only since: nothing of it is clean
		return
	case 1:
	default:
		// Several domains: a report with policies for two of them is one
		// report, so walk them (rare: one policy domain is the rule).
		for _, r := range rs.reports[i:] {
			f.addClean(r)
		}
		return
	}
	ds := rs.domains[f.Domains[0]]
	if ds == nil {
		return
	}
	j, _ := slices.BinarySearch(ds.starts, at)
	f.Clean, f.Successful = len(ds.starts)-j, ds.succ[j]
	for key := range f.failing { // they name the address: not clean
		if r := rs.byKey[key]; r != nil && r.start >= at {
			if n, ok := r.successful[f.Domains[0]]; ok {
				f.Clean--
				f.Successful = max(0, f.Successful-n)
			}
		}
	}
}

// addClean counts r when it has a policy for one of f's domains and does
// not name the address.
func (f *followAcc) addClean(r *laterReport) {
	if f.failing[r.key] {
		return
	}
	counted := false
	for d, n := range r.successful {
		if f.domains[d] {
			f.Successful = addCount(f.Successful, n)
			counted = true
		}
	}
	if counted {
		f.Clean++
	}
}

// addCount adds two stored counts, clamped to MaxCount.
func addCount(a, b int64) int64 {
	if b > MaxCount-a {
		return MaxCount
	}
	return a + b
}

func maxTime(a, b time.Time) time.Time {
	if b.After(a) {
		return b
	}
	return a
}

func sortedKeys[V any](m map[string]V) []string {
	var keys []string
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

package store

import (
	"cmp"
	"context"
	"database/sql"
	"database/sql/driver"
	"fmt"
	"net/netip"
	"slices"
	"time"

	"github.com/tlsrpt/tlsrpt/internal/pkgerr"
)

// FailingAddress is one row of `tlsrpt review`: a sending-mta-ip named by
// failure details.
type FailingAddress struct {
	IP             netip.Addr
	FailedSessions int64 // sum of failed-session-count of the details naming it
	Reports        int   // distinct reports naming it
	// Organizations are the organization-names of the reports naming it,
	// sorted, distinct: as given when an authenticated report gives the
	// name, else marked as ReporterName marks it, "Google Inc.
	// (unauthenticated)" (anyone can write a name).
	Organizations []string
	// AuthenticatedOrganizations are the organization-names that
	// authenticated reports naming it give, sorted, distinct; nil when
	// none does.
	AuthenticatedOrganizations []string
	ResultTypes                []string  // sorted, distinct
	FirstSeen                  time.Time // min start of the date ranges of those reports
	LastSeen                   time.Time // max end of the date ranges of those reports
}

// Failing lists the sending-mta-ip addresses named by failure details, most
// failed sessions first (ties in address order), counting only reports
// whose date range ends at or after since (the zero since counts all).
// Details without a sending address are left out. Sums saturate at
// MaxSum.
//
// With the zero since it reads the per-address aggregate the store keeps
// (one row per address); with a since it reads the details of the reports
// ending since then, found through the index on their end time.
func (s *Store) Failing(ctx context.Context, since time.Time) ([]FailingAddress, error) {
	fs, err := s.failing(ctx, since)
	if err != nil {
		return nil, pkgerr.Errorf("store", "listing failing addresses since %v: %w", since, err)
	}
	return fs, nil
}

func (s *Store) failing(ctx context.Context, since time.Time) ([]FailingAddress, error) {
	var (
		fs  []FailingAddress
		err error
	)
	if since.IsZero() {
		fs, err = s.failingAggregate(ctx)
	} else {
		fs, err = s.failingDetails(ctx, since.Unix())
	}
	if err != nil {
		return nil, err
	}
	slices.SortFunc(fs, func(a, b FailingAddress) int {
		return cmp.Or(cmp.Compare(b.FailedSessions, a.FailedSessions), a.IP.Compare(b.IP))
	})
	return fs, nil
}

// read opens a read transaction on a connection of its own, so that the
// statements of one query see the same data (a WAL snapshot) without
// taking the write lock, which BeginTx would (_txlock=immediate). done
// ends it and gives the connection back; a connection whose transaction
// cannot be ended is dropped.
func (s *Store) read(ctx context.Context) (conn *sql.Conn, done func(), err error) {
	conn, err = s.db.Conn(ctx)
	if err != nil {
		return nil, nil, err
	}
	if _, err := conn.ExecContext(ctx, s.dialect.beginRead()); err != nil {
		conn.Close()
		return nil, nil, err
	}
	return conn, func() {
		if _, err := conn.ExecContext(context.WithoutCancel(ctx), "ROLLBACK"); err != nil {
			conn.Raw(func(any) error { return driver.ErrBadConn })
		}
		conn.Close()
	}, nil
}

// failingAggregate reads Failing from the per-address aggregate, in one
// read transaction (three statements see the same data), unless some
// address is marked stale: then from the details.
func (s *Store) failingAggregate(ctx context.Context) ([]FailingAddress, error) {
	conn, done, err := s.read(ctx)
	if err != nil {
		return nil, err
	}
	defer done()
	var stale bool
	if err := conn.QueryRowContext(ctx, `SELECT EXISTS (SELECT 1 FROM addresses_stale)`).Scan(&stale); err != nil {
		return nil, err
	}
	if stale {
		return failingFromDetails(ctx, conn, -1<<62)
	}
	ls, err := readLabels(ctx, conn)
	if err != nil {
		return nil, err
	}
	var n int
	if err := conn.QueryRowContext(ctx, `SELECT COUNT(*) FROM addresses`).Scan(&n); err != nil {
		return nil, err
	}
	var (
		fs        = make([]FailingAddress, 0, n)
		orgCache  = orgCache{lists: map[[2]int64]orgLists{}, names: map[int64][]string{}, mark: markMemo()}
		typeCache = map[int64][]string{}
		ip        sql.RawBytes
	)
	err = eachRow(ctx, conn, func(rows *sql.Rows) error {
		var (
			f                                FailingAddress
			first, last, orgs, signed, types int64
			err                              error
		)
		if err := rows.Scan(&ip, &f.FailedSessions, &f.Reports, &first, &last, &orgs, &signed, &types); err != nil {
			return err
		}
		if f.IP, err = netip.ParseAddr(string(ip)); err != nil {
			return fmt.Errorf("stored address: %w", err)
		}
		f.FailedSessions = min(max(f.FailedSessions, 0), MaxSum)
		f.FirstSeen, f.LastSeen = time.Unix(first, 0).UTC(), time.Unix(last, 0).UTC()
		ol := ls.orgLists(orgs, signed, orgCache)
		f.Organizations, f.AuthenticatedOrganizations = ol.shown, ol.authed
		f.ResultTypes = ls.names(kindType, types, typeCache)
		fs = append(fs, f)
		return nil
	}, `SELECT ip, sessions, reports, first_seen, last_seen, org_mask, auth_org_mask, type_mask
		FROM addresses`)
	if err != nil {
		return nil, err
	}
	if err := addUnlabelled(ctx, conn, fs); err != nil {
		return nil, err
	}
	return fs, nil
}

// addUnlabelled adds to fs the organization-names and result-types kept
// per address because they have no bit: usually none.
func addUnlabelled(ctx context.Context, conn *sql.Conn, fs []FailingAddress) error {
	var idx map[netip.Addr]int
	find := func(ip string) (*FailingAddress, error) {
		if idx == nil {
			idx = make(map[netip.Addr]int, len(fs))
			for i, f := range fs {
				idx[f.IP] = i
			}
		}
		a, err := netip.ParseAddr(ip)
		if err != nil {
			return nil, fmt.Errorf("stored address: %w", err)
		}
		if i, ok := idx[a]; ok {
			return &fs[i], nil
		}
		return nil, nil
	}
	err := scanPairs(ctx, conn, `SELECT ip, org, authenticated FROM address_orgs`, func(ip, org string, authed bool) error {
		f, err := find(ip)
		if f != nil {
			// Appending to a shared decoded list copies it: its capacity
			// is its length.
			if authed {
				f.Organizations = sortedSet(append(f.Organizations, org))
				f.AuthenticatedOrganizations = sortedSet(append(f.AuthenticatedOrganizations, org))
			} else {
				f.Organizations = sortedSet(append(f.Organizations, markUnauthenticated(org)))
			}
		}
		return err
	})
	if err != nil {
		return err
	}
	return scanPairs(ctx, conn, `SELECT ip, result_type, 0 FROM address_types`, func(ip, t string, _ bool) error {
		f, err := find(ip)
		if f != nil {
			f.ResultTypes = sortedSet(append(f.ResultTypes, t))
		}
		return err
	})
}

// scanPairs runs q, which selects an address, a string and a flag, and
// calls fn on each row.
func scanPairs(ctx context.Context, conn *sql.Conn, q string, fn func(ip, v string, flag bool) error) error {
	rows, err := conn.QueryContext(ctx, q)
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		var (
			ip, v string
			flag  int64
		)
		if err := rows.Scan(&ip, &v, &flag); err != nil {
			return err
		}
		if err := fn(ip, v, flag != 0); err != nil {
			return err
		}
	}
	return rows.Err()
}

// sortedSet sorts l and drops repeated values.
func sortedSet(l []string) []string {
	slices.Sort(l)
	return slices.Compact(l)
}

// orgClaim is an organization-name that reports naming an address give,
// and whether an authenticated one does.
type orgClaim struct {
	name   string
	authed bool
}

// markUnauthenticated is how FailingAddress shows an organization-name
// that no authenticated report naming the address gives: marked, as
// ReporterName marks it.
func markUnauthenticated(org string) string { return ReporterName(false, "", org) }

// markMemo is markUnauthenticated keeping one string per name.
func markMemo() func(string) string {
	marked := map[string]string{}
	return func(org string) string {
		m, ok := marked[org]
		if !ok {
			m = markUnauthenticated(org)
			marked[org] = m
		}
		return m
	}
}

// orgLists are FailingAddress's Organizations and
// AuthenticatedOrganizations. Lists are shared between addresses: their
// capacity is their length, so appending to one copies it.
type orgLists struct {
	shown, authed []string
}

// listsOf makes the lists of an address's claims, whose names are
// distinct; mark is markUnauthenticated. Two marked names can read the
// same ("A  B" and "A B"): shown has each once.
func listsOf(cs []orgClaim, mark func(string) string) orgLists {
	n := 0
	for _, c := range cs {
		if c.authed {
			n++
		}
	}
	var ol orgLists
	if n > 0 {
		ol.authed = make([]string, 0, n)
		for _, c := range cs {
			if c.authed {
				ol.authed = append(ol.authed, c.name)
			}
		}
		slices.Sort(ol.authed)
	}
	if n == len(cs) {
		ol.shown = ol.authed
		return ol
	}
	ol.shown = make([]string, 0, len(cs))
	for _, c := range cs {
		if c.authed {
			ol.shown = append(ol.shown, c.name)
		} else {
			ol.shown = append(ol.shown, mark(c.name))
		}
	}
	ol.shown = sortedSet(ol.shown)
	ol.shown = ol.shown[:len(ol.shown):len(ol.shown)]
	return ol
}

// orgCache keeps what orgLists decoded: the lists of each pair of masks,
// the names of each mask, one marked string per name.
type orgCache struct {
	lists map[[2]int64]orgLists
	names map[int64][]string
	mark  func(string) string
}

// orgLists decodes an address's organization masks: all the names it
// has (all), those of authenticated reports (signed).
func (ls *labelSet) orgLists(all, signed int64, cache orgCache) orgLists {
	if ol, ok := cache.lists[[2]int64{all, signed}]; ok {
		return ol
	}
	names := ls.names(kindOrg, all, cache.names)
	cs := make([]orgClaim, len(names))
	for i, name := range names {
		cs[i] = orgClaim{name: name, authed: ls.masks[[2]string{kindOrg, name}]&signed != 0}
	}
	ol := listsOf(cs, cache.mark)
	cache.lists[[2]int64{all, signed}] = ol
	return ol
}

// failingDetails computes Failing from the details of the reports ending
// at or after since.
func (s *Store) failingDetails(ctx context.Context, since int64) ([]FailingAddress, error) {
	conn, err := s.db.Conn(ctx)
	if err != nil {
		return nil, err
	}
	defer conn.Close()
	return failingFromDetails(ctx, conn, since)
}

// failingSQL walks the reports ending since a time through the
// reports_time index, and each report's details through their report_id
// index, so that each report's details come together.
const failingSQL = `SELECT r.id, r.org, r.auth_authenticated, r.start_time, r.end_time, d.sending_ip, d.result_type, d.sessions
	FROM reports r JOIN failure_details d ON d.report_id = r.id
	WHERE r.end_time >= ? AND d.sending_ip IS NOT NULL
	ORDER BY r.end_time, r.start_time, r.id`

// failingFromDetails aggregates the details of the reports ending at or
// after since, per address.
func failingFromDetails(ctx context.Context, conn *sql.Conn, since int64) ([]FailingAddress, error) {
	rows, err := conn.QueryContext(ctx, failingSQL, since)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	type agg struct {
		f          FailingAddress
		orgs       []orgClaim
		lastReport int64
	}
	var (
		aggs []agg
		idx  = map[string]int{}
		in   interner
		ip   sql.RawBytes
		rt   sql.RawBytes
		org  sql.RawBytes
	)
	for rows.Next() {
		var (
			rep, start, end, n int64
			authed             bool
		)
		if err := rows.Scan(&rep, &org, &authed, &start, &end, &ip, &rt, &n); err != nil {
			return nil, err
		}
		i, ok := idx[string(ip)]
		if !ok {
			a, err := netip.ParseAddr(string(ip))
			if err != nil {
				return nil, fmt.Errorf("stored address: %w", err)
			}
			i = len(aggs)
			idx[string(ip)] = i
			aggs = append(aggs, agg{f: FailingAddress{IP: a, FirstSeen: time.Unix(start, 0).UTC(),
				LastSeen: time.Unix(end, 0).UTC()}})
		}
		a := &aggs[i]
		a.f.FailedSessions = satAdd(a.f.FailedSessions, min(max(n, 0), MaxSum))
		if a.lastReport != rep || a.f.Reports == 0 {
			// Rows come report by report: a new report for this address.
			a.lastReport = rep
			a.f.Reports++
			if t := time.Unix(start, 0).UTC(); t.Before(a.f.FirstSeen) {
				a.f.FirstSeen = t
			}
			if t := time.Unix(end, 0).UTC(); t.After(a.f.LastSeen) {
				a.f.LastSeen = t
			}
			a.orgs = addClaim(a.orgs, org, authed, &in)
		}
		a.f.ResultTypes = addDistinct(a.f.ResultTypes, rt, &in)
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	fs := make([]FailingAddress, len(aggs))
	mark := markMemo()
	for i := range aggs {
		fs[i] = aggs[i].f
		ol := listsOf(aggs[i].orgs, mark)
		fs[i].Organizations, fs[i].AuthenticatedOrganizations = ol.shown, ol.authed
		slices.Sort(fs[i].ResultTypes)
	}
	return fs, nil
}

// addClaim adds an organization-name of a report to the short list of an
// address's claims, authenticated if that report is.
func addClaim(cs []orgClaim, org []byte, authed bool, in *interner) []orgClaim {
	for i := range cs {
		if cs[i].name == string(org) {
			cs[i].authed = cs[i].authed || authed
			return cs
		}
	}
	return append(cs, orgClaim{name: in.intern(org), authed: authed})
}

// addDistinct adds v to the short list l unless it holds it already.
func addDistinct(l []string, v []byte, in *interner) []string {
	for _, x := range l {
		if x == string(v) {
			return l
		}
	}
	return append(l, in.intern(v))
}

// interner shares one string per distinct value read (organization-names
// and result-types repeat across thousands of rows).
type interner map[string]string

func (in *interner) intern(b []byte) string {
	if *in == nil {
		*in = interner{}
	}
	if s, ok := (*in)[string(b)]; ok {
		return s
	}
	s := string(b)
	(*in)[s] = s
	return s
}

// Stats counts what the database holds, for summaries and metrics.
type Stats struct {
	Reports     int64            // stored reports
	Details     int64            // failure details
	Addresses   int64            // distinct sending-mta-ip addresses in failure details
	ByTransport map[string]int64 // reports by arrival.Source.Transport
}

// Stats counts the stored reports, failure details and failing addresses.
func (s *Store) Stats(ctx context.Context) (Stats, error) {
	st, err := s.stats(ctx)
	if err != nil {
		return Stats{}, pkgerr.Errorf("store", "counting %q: %w", s.path, err)
	}
	return st, nil
}

func (s *Store) stats(ctx context.Context) (Stats, error) {
	st := Stats{ByTransport: map[string]int64{}}
	err := s.db.QueryRowContext(ctx, `SELECT
		(SELECT COUNT(*) FROM reports),
		(SELECT COUNT(*) FROM failure_details),
		(SELECT COUNT(DISTINCT sending_ip) FROM failure_details)`).Scan(
		&st.Reports, &st.Details, &st.Addresses)
	if err != nil {
		return Stats{}, err
	}
	rows, err := s.db.QueryContext(ctx, `SELECT transport, COUNT(*) FROM reports GROUP BY transport`)
	if err != nil {
		return Stats{}, err
	}
	defer rows.Close()
	for rows.Next() {
		var (
			t string
			n int64
		)
		if err := rows.Scan(&t, &n); err != nil {
			return Stats{}, err
		}
		st.ByTransport[t] = n
	}
	return st, rows.Err()
}

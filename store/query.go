package store

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"fmt"
	"net/netip"
	"slices"
	"time"
)

// FailingAddress is one row of `tlsrpt review`: a sending-mta-ip named by
// failure details.
type FailingAddress struct {
	IP             netip.Addr
	FailedSessions int64     // sum of failed-session-count of the details naming it
	Reports        int       // distinct reports naming it
	Organizations  []string  // sorted, distinct organization-names
	ResultTypes    []string  // sorted, distinct
	FirstSeen      time.Time // min start of the date ranges of those reports
	LastSeen       time.Time // max end of the date ranges of those reports
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
		return nil, fmt.Errorf("store: listing failing addresses since %v: %w", since, err)
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
		if a.FailedSessions != b.FailedSessions {
			if a.FailedSessions > b.FailedSessions {
				return -1
			}
			return 1
		}
		return a.IP.Compare(b.IP)
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
	begin := "BEGIN DEFERRED"
	if s.engine == PostgreSQL {
		begin = "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY"
	}
	if _, err := conn.ExecContext(ctx, begin); err != nil {
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
	rows, err := conn.QueryContext(ctx, `SELECT ip, sessions, reports, first_seen, last_seen, org_mask, type_mask
		FROM addresses`)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var (
		fs                  = make([]FailingAddress, 0, n)
		orgCache, typeCache = map[int64][]string{}, map[int64][]string{}
		ip                  sql.RawBytes
	)
	for rows.Next() {
		var (
			f                        FailingAddress
			first, last, orgs, types int64
		)
		if err := rows.Scan(&ip, &f.FailedSessions, &f.Reports, &first, &last, &orgs, &types); err != nil {
			return nil, err
		}
		if f.IP, err = netip.ParseAddr(string(ip)); err != nil {
			return nil, fmt.Errorf("stored address: %w", err)
		}
		f.FailedSessions = min(max(f.FailedSessions, 0), MaxSum)
		f.FirstSeen, f.LastSeen = time.Unix(first, 0).UTC(), time.Unix(last, 0).UTC()
		f.Organizations = ls.names(kindOrg, orgs, orgCache)
		f.ResultTypes = ls.names(kindType, types, typeCache)
		fs = append(fs, f)
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	rows.Close()
	if err := addUnlabelled(ctx, conn, fs); err != nil {
		return nil, err
	}
	return fs, nil
}

// addUnlabelled adds to fs the organization-names and result-types kept
// per address because they have no bit: usually none.
func addUnlabelled(ctx context.Context, conn *sql.Conn, fs []FailingAddress) error {
	var idx map[netip.Addr]int
	for _, q := range []struct {
		sql  string
		list func(*FailingAddress) *[]string
	}{
		{`SELECT ip, org FROM address_orgs`, func(f *FailingAddress) *[]string { return &f.Organizations }},
		{`SELECT ip, result_type FROM address_types`, func(f *FailingAddress) *[]string { return &f.ResultTypes }},
	} {
		rows, err := conn.QueryContext(ctx, q.sql)
		if err != nil {
			return err
		}
		for rows.Next() {
			var ip, v string
			if err := rows.Scan(&ip, &v); err != nil {
				rows.Close()
				return err
			}
			if idx == nil {
				idx = make(map[netip.Addr]int, len(fs))
				for i, f := range fs {
					idx[f.IP] = i
				}
			}
			a, err := netip.ParseAddr(ip)
			if err != nil {
				rows.Close()
				return fmt.Errorf("stored address: %w", err)
			}
			if i, ok := idx[a]; ok {
				l := q.list(&fs[i])
				// Appending to a shared decoded list copies it: its
				// capacity is its length.
				*l = append(*l, v)
				slices.Sort(*l)
			}
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return err
		}
	}
	return nil
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
const failingSQL = `SELECT r.id, r.org, r.start_time, r.end_time, d.sending_ip, d.result_type, d.sessions
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
		var rep, start, end, n int64
		if err := rows.Scan(&rep, &org, &start, &end, &ip, &rt, &n); err != nil {
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
			a.f.Organizations = addDistinct(a.f.Organizations, org, &in)
		}
		a.f.ResultTypes = addDistinct(a.f.ResultTypes, rt, &in)
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	fs := make([]FailingAddress, len(aggs))
	for i := range aggs {
		fs[i] = aggs[i].f
		slices.Sort(fs[i].Organizations)
		slices.Sort(fs[i].ResultTypes)
	}
	return fs, nil
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
	ByTransport map[string]int64 // reports by Source.Transport
}

// Stats counts the stored reports, failure details and failing addresses.
func (s *Store) Stats(ctx context.Context) (Stats, error) {
	st, err := s.stats(ctx)
	if err != nil {
		return Stats{}, fmt.Errorf("store: counting %q: %w", s.path, err)
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

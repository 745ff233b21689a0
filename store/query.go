package store

import (
	"context"
	"database/sql"
	"encoding/json"
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
// Details without a sending address are left out.
func (s *Store) Failing(ctx context.Context, since time.Time) ([]FailingAddress, error) {
	fs, err := s.failing(ctx, since)
	if err != nil {
		return nil, fmt.Errorf("store: listing failing addresses since %v: %w", since, err)
	}
	return fs, nil
}

func (s *Store) failing(ctx context.Context, since time.Time) ([]FailingAddress, error) {
	var from int64 = -1 << 62
	if !since.IsZero() {
		from = since.Unix()
	}
	rows, err := s.db.QueryContext(ctx, `SELECT d.sending_ip, SUM(d.sessions),
		COUNT(DISTINCT d.report_id),
		json_group_array(DISTINCT r.org), json_group_array(DISTINCT d.result_type),
		MIN(r.start_time), MAX(r.end_time)
		FROM failure_details d JOIN reports r ON r.id = d.report_id
		WHERE d.sending_ip IS NOT NULL AND r.end_time >= ?
		GROUP BY d.sending_ip`, from)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var fs []FailingAddress
	for rows.Next() {
		var (
			f           FailingAddress
			ip          sql.NullString
			orgs, types string
			first, last sql.NullInt64
		)
		if err := rows.Scan(&ip, &f.FailedSessions, &f.Reports, &orgs, &types, &first, &last); err != nil {
			return nil, err
		}
		if f.IP, err = parseIP(ip); err != nil {
			return nil, err
		}
		if f.Organizations, err = sortedSet(orgs); err != nil {
			return nil, err
		}
		if f.ResultTypes, err = sortedSet(types); err != nil {
			return nil, err
		}
		f.FirstSeen, f.LastSeen = fromUnix(first), fromUnix(last)
		fs = append(fs, f)
	}
	if err := rows.Err(); err != nil {
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

// sortedSet decodes a JSON array of strings and sorts it.
func sortedSet(js string) ([]string, error) {
	var l []string
	if err := json.Unmarshal([]byte(js), &l); err != nil {
		return nil, err
	}
	slices.Sort(l)
	return slices.Compact(l), nil
}

// Evidence is one failure detail naming an address, with what trust needs
// to know about the report that carries it.
type Evidence struct {
	ReportKey      int64 // key of the report, as AddReport returned it
	Organization   string
	ReportID       string
	ContactInfo    string
	Submitter      string
	FromDomain     string
	Transport      string
	Auth           Auth
	ResultType     string
	FailedSessions int64
	Start, End     time.Time
}

// Evidence lists every failure detail naming ip as sending-mta-ip, newest
// report first.
func (s *Store) Evidence(ctx context.Context, ip netip.Addr) ([]Evidence, error) {
	es, err := s.evidence(ctx, ip)
	if err != nil {
		return nil, fmt.Errorf("store: listing evidence for %s: %w", ip, err)
	}
	return es, nil
}

func (s *Store) evidence(ctx context.Context, ip netip.Addr) ([]Evidence, error) {
	if !ip.IsValid() {
		return nil, nil
	}
	rows, err := s.db.QueryContext(ctx, `SELECT r.id, r.org, r.report_id, r.contact,
		r.submitter, r.from_domain, r.transport,
		r.auth_authenticated, r.auth_method, r.auth_domain, r.auth_detail,
		d.result_type, d.sessions, r.start_time, r.end_time
		FROM failure_details d JOIN reports r ON r.id = d.report_id
		WHERE d.sending_ip = ?
		ORDER BY r.end_time DESC, r.start_time DESC, r.id DESC, d.id`, canonIP(ip))
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var es []Evidence
	for rows.Next() {
		var (
			e          Evidence
			start, end sql.NullInt64
		)
		if err := rows.Scan(&e.ReportKey, &e.Organization, &e.ReportID, &e.ContactInfo,
			&e.Submitter, &e.FromDomain, &e.Transport,
			&e.Auth.Authenticated, &e.Auth.Method, &e.Auth.Domain, &e.Auth.Detail,
			&e.ResultType, &e.FailedSessions, &start, &end); err != nil {
			return nil, err
		}
		e.Start, e.End = fromUnix(start), fromUnix(end)
		es = append(es, e)
	}
	return es, rows.Err()
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

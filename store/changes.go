package store

import (
	"cmp"
	"context"
	"database/sql"
	"net/netip"
	"slices"
	"time"

	"github.com/tlsrpt/tlsrpt/internal/pkgerr"
)

// AddressChange is a failing address's sessions before and after a point
// in time, by when the store received the reports.
type AddressChange struct {
	IP            netip.Addr
	Before, Since int64    // failed sessions in reports stored before / at or after the point
	Organizations []string // sorted, the reporters (as ReporterName shows them) of the reports stored at or after the point
}

// New reports whether no report stored before the point named the address.
func (c AddressChange) New() bool { return c.Before == 0 }

// AddressChanges lists the addresses named by failure details of reports
// stored in [since, until), with their failed sessions before since and
// in that span: what arrived since the last digest. Reports stored at or
// after until are left for the next span. Most sessions since first.
func (s *Store) AddressChanges(ctx context.Context, since, until time.Time) ([]AddressChange, error) {
	cs, err := s.addressChanges(ctx, since.Unix(), until.Unix())
	if err != nil {
		return nil, pkgerr.Errorf("store", "listing addresses reported since %s: %w", since.Format(time.RFC3339), s.classify(err))
	}
	return cs, nil
}

func (s *Store) addressChanges(ctx context.Context, since, until int64) ([]AddressChange, error) {
	byIP := map[netip.Addr]*AddressChange{}
	err := eachRow(ctx, s.db, func(rows *sql.Rows) error {
		var (
			ip       sql.NullString
			org      string
			authed   int64
			recent   int64
			sessions sql.NullFloat64
		)
		if err := rows.Scan(&ip, &org, &authed, &recent, &sessions); err != nil {
			return err
		}
		a, err := parseIP(ip)
		if err != nil {
			return err
		}
		c := byIP[a]
		if c == nil {
			c = &AddressChange{IP: a}
			byIP[a] = c
		}
		if recent != 0 {
			c.Since = satAdd(c.Since, saturate(sessions.Float64))
			c.Organizations = append(c.Organizations, ReporterName(authed != 0, org, org))
		} else {
			c.Before = satAdd(c.Before, saturate(sessions.Float64))
		}
		return nil
	}, `SELECT d.sending_ip, `+recentReporter+`, CASE WHEN r.stored >= ? THEN 1 ELSE 0 END,
		SUM(CAST(d.sessions AS DOUBLE PRECISION))
		FROM failure_details d JOIN reports r ON r.id = d.report_id
		WHERE r.stored < ? AND d.sending_ip IN (SELECT d2.sending_ip FROM failure_details d2 JOIN reports r2 ON r2.id = d2.report_id
			WHERE r2.stored >= ? AND r2.stored < ? AND d2.sending_ip IS NOT NULL)
		GROUP BY 1, 2, 3, 4`, since, until, since, until)
	if err != nil {
		return nil, err
	}
	out := make([]AddressChange, 0, len(byIP))
	for _, c := range byIP {
		slices.Sort(c.Organizations)
		c.Organizations = slices.Compact(c.Organizations)
		out = append(out, *c)
	}
	slices.SortFunc(out, func(a, b AddressChange) int {
		return cmp.Or(cmp.Compare(b.Since, a.Since), a.IP.Compare(b.IP))
	})
	return out, nil
}

// DomainSessions is a policy domain's sessions over a span of time.
type DomainSessions struct {
	Domain             string
	Successful, Failed int64
}

// FailureRate is Failed / (Successful + Failed), 0 without sessions.
func (d DomainSessions) FailureRate() float64 {
	return SessionRow{Successful: d.Successful, Failed: d.Failed}.FailureRate()
}

// DomainSessionsStored adds up the sessions per policy domain of the
// reports stored in [from, to): what arrived in a digest's span, whatever
// the day the reports cover.
func (s *Store) DomainSessionsStored(ctx context.Context, from, to time.Time) ([]DomainSessions, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT p.domain, SUM(CAST(p.successful AS DOUBLE PRECISION)),
		SUM(CAST(p.failed AS DOUBLE PRECISION))
		FROM policies p JOIN reports r ON r.id = p.report_id
		WHERE r.stored >= ? AND r.stored < ? GROUP BY p.domain ORDER BY p.domain`, from.Unix(), to.Unix())
	if err != nil {
		return nil, pkgerr.Errorf("store", "adding up sessions per domain: %w", s.classify(err))
	}
	defer rows.Close()
	var out []DomainSessions
	for rows.Next() {
		var (
			d            DomainSessions
			succ, failed sql.NullFloat64
		)
		if err := rows.Scan(&d.Domain, &succ, &failed); err != nil {
			return nil, pkgerr.Errorf("store", "adding up sessions per domain: %w", err)
		}
		d.Successful, d.Failed = saturate(succ.Float64), saturate(failed.Float64)
		out = append(out, d)
	}
	return out, rows.Err()
}

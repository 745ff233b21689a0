package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"net/netip"
	"time"

	"github.com/tlsrpt/tlsrpt/report"
)

// Source says how a report arrived and whether it is authenticated.
type Source struct {
	Transport  string // "mail", "https", "import"
	Submitter  string // TLS-Report-Submitter header
	FromDomain string // domain of From
	MessageID  string
	Received   time.Time
	Auth       Auth
}

// Auth is the authentication verdict on a report message.
type Auth struct {
	Authenticated bool
	Method        string // "dkim", "authres" or "" (none)
	Domain        string // authenticated domain, e.g. "google.com"
	Detail        string // one line: why / why not
}

// AddReport stores r with its policies and failure details in one
// transaction and returns its key. A report is identified by
// (organization-name, report-id): when it is already stored, AddReport
// returns the stored key with dup=true and stores nothing more, except that
// an authenticated copy replaces an unauthenticated one whole, report and
// details: a forger who mails an unsigned copy first must not have its
// details vouched for by the genuine signed report that follows.
func (s *Store) AddReport(ctx context.Context, r *report.Report, src Source) (id int64, dup bool, err error) {
	if r == nil {
		return 0, false, errors.New("store: adding report: nil report")
	}
	err = s.write(ctx, func(tx *sql.Tx) error {
		id, dup = 0, false
		var authed bool
		err := tx.QueryRowContext(ctx,
			`SELECT id, auth_authenticated FROM reports WHERE org = ? AND report_id = ?`,
			r.OrganizationName, r.ReportID).Scan(&id, &authed)
		switch {
		case err == nil:
			dup = true
			if !src.Auth.Authenticated || authed {
				return nil
			}
			if _, err := tx.ExecContext(ctx, `DELETE FROM reports WHERE id = ?`, id); err != nil {
				return err
			}
			id, err = insertReport(ctx, tx, r, src)
			return err
		case !errors.Is(err, sql.ErrNoRows):
			return err
		}
		id, err = insertReport(ctx, tx, r, src)
		return err
	})
	if err != nil {
		return 0, false, fmt.Errorf("store: adding report %q from %q: %w", r.ReportID, r.OrganizationName, err)
	}
	return id, dup, nil
}

func insertReport(ctx context.Context, tx *sql.Tx, r *report.Report, src Source) (int64, error) {
	res, err := tx.ExecContext(ctx, `INSERT INTO reports (
		org, report_id, contact, start_time, end_time,
		submitter, from_domain, message_id, transport, received,
		auth_authenticated, auth_method, auth_domain, auth_detail, stored)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		r.OrganizationName, r.ReportID, r.ContactInfo, r.Start.Unix(), r.End.Unix(),
		src.Submitter, src.FromDomain, src.MessageID, src.Transport, unix(src.Received),
		src.Auth.Authenticated, src.Auth.Method, src.Auth.Domain, src.Auth.Detail, now().Unix())
	if err != nil {
		return 0, err
	}
	id, err := res.LastInsertId()
	if err != nil {
		return 0, err
	}
	pstmt, err := tx.PrepareContext(ctx, `INSERT INTO policies
		(report_id, type, domain, strings, mx_hosts, successful, failed)
		VALUES (?, ?, ?, ?, ?, ?, ?)`)
	if err != nil {
		return 0, err
	}
	defer pstmt.Close()
	dstmt, err := tx.PrepareContext(ctx, `INSERT INTO failure_details
		(policy_id, report_id, result_type, sending_ip, receiving_mx, receiving_helo,
		 receiving_ip, sessions, reason, additional_info)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`)
	if err != nil {
		return 0, err
	}
	defer dstmt.Close()
	for _, p := range r.Policies {
		res, err := pstmt.ExecContext(ctx, id, p.Type, p.Domain,
			jsonList(p.Strings), jsonList(p.MXHosts), p.Successful, p.Failed)
		if err != nil {
			return 0, fmt.Errorf("policy %q: %w", p.Domain, err)
		}
		pid, err := res.LastInsertId()
		if err != nil {
			return 0, err
		}
		for _, d := range p.Details {
			_, err := dstmt.ExecContext(ctx, pid, id, d.ResultType, nullIP(d.SendingMTAIP),
				d.ReceivingMXHostname, d.ReceivingMXHelo, nullIP(d.ReceivingIP),
				d.FailedSessions, d.FailureReasonCode, d.AdditionalInformation)
			if err != nil {
				return 0, fmt.Errorf("failure detail %q: %w", d.ResultType, err)
			}
		}
	}
	return id, nil
}

// Report reads back the report stored under key id with its Source.
func (s *Store) Report(ctx context.Context, id int64) (*report.Report, Source, error) {
	r, src, err := s.readReport(ctx, id)
	if err != nil {
		return nil, Source{}, fmt.Errorf("store: reading report %d: %w", id, err)
	}
	return r, src, nil
}

func (s *Store) readReport(ctx context.Context, id int64) (*report.Report, Source, error) {
	var (
		r               report.Report
		src             Source
		start, end, rcv sql.NullInt64
	)
	err := s.db.QueryRowContext(ctx, `SELECT org, report_id, contact, start_time, end_time,
		submitter, from_domain, message_id, transport, received,
		auth_authenticated, auth_method, auth_domain, auth_detail
		FROM reports WHERE id = ?`, id).Scan(
		&r.OrganizationName, &r.ReportID, &r.ContactInfo, &start, &end,
		&src.Submitter, &src.FromDomain, &src.MessageID, &src.Transport, &rcv,
		&src.Auth.Authenticated, &src.Auth.Method, &src.Auth.Domain, &src.Auth.Detail)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, Source{}, ErrNotFound
	}
	if err != nil {
		return nil, Source{}, err
	}
	r.Start, r.End, src.Received = fromUnix(start), fromUnix(end), fromUnix(rcv)
	pols, err := s.readPolicies(ctx, id)
	if err != nil {
		return nil, Source{}, err
	}
	r.Policies = pols
	return &r, src, nil
}

func (s *Store) readPolicies(ctx context.Context, id int64) ([]report.Policy, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT id, type, domain, strings, mx_hosts, successful, failed
		FROM policies WHERE report_id = ? ORDER BY id`, id)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var (
		pols []report.Policy
		pids []int64
	)
	for rows.Next() {
		var (
			p             report.Policy
			pid           int64
			strs, mxHosts string
		)
		if err := rows.Scan(&pid, &p.Type, &p.Domain, &strs, &mxHosts, &p.Successful, &p.Failed); err != nil {
			return nil, err
		}
		if err := json.Unmarshal([]byte(strs), &p.Strings); err != nil {
			return nil, fmt.Errorf("policy %d strings: %w", pid, err)
		}
		if err := json.Unmarshal([]byte(mxHosts), &p.MXHosts); err != nil {
			return nil, fmt.Errorf("policy %d mx hosts: %w", pid, err)
		}
		pols = append(pols, p)
		pids = append(pids, pid)
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	rows.Close()
	for i, pid := range pids {
		ds, err := s.readDetails(ctx, pid)
		if err != nil {
			return nil, err
		}
		pols[i].Details = ds
	}
	return pols, nil
}

func (s *Store) readDetails(ctx context.Context, pid int64) ([]report.FailureDetail, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT result_type, sending_ip, receiving_mx, receiving_helo,
		receiving_ip, sessions, reason, additional_info
		FROM failure_details WHERE policy_id = ? ORDER BY id`, pid)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var ds []report.FailureDetail
	for rows.Next() {
		var (
			d        report.FailureDetail
			sip, rip sql.NullString
		)
		if err := rows.Scan(&d.ResultType, &sip, &d.ReceivingMXHostname, &d.ReceivingMXHelo,
			&rip, &d.FailedSessions, &d.FailureReasonCode, &d.AdditionalInformation); err != nil {
			return nil, err
		}
		if d.SendingMTAIP, err = parseIP(sip); err != nil {
			return nil, err
		}
		if d.ReceivingIP, err = parseIP(rip); err != nil {
			return nil, err
		}
		ds = append(ds, d)
	}
	return ds, rows.Err()
}

// jsonList encodes a string list as a JSON array (never null).
func jsonList(l []string) string {
	if l == nil {
		l = []string{}
	}
	b, _ := json.Marshal(l) // a []string always marshals
	return string(b)
}

// canonIP is the stored form of an address: unmapped, without zone.
func canonIP(a netip.Addr) string {
	return a.Unmap().WithZone("").String()
}

// nullIP is the stored form of a, NULL when a is the zero Addr.
func nullIP(a netip.Addr) any {
	if !a.IsValid() {
		return nil
	}
	return canonIP(a)
}

// parseIP reads a stored address; NULL is the zero Addr.
func parseIP(v sql.NullString) (netip.Addr, error) {
	if !v.Valid || v.String == "" {
		return netip.Addr{}, nil
	}
	a, err := netip.ParseAddr(v.String)
	if err != nil {
		return netip.Addr{}, fmt.Errorf("stored address: %w", err)
	}
	return a, nil
}

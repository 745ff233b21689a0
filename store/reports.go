package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"net/netip"

	"github.com/tlsrpt/tlsrpt/arrival"
	"github.com/tlsrpt/tlsrpt/internal/pkgerr"
	"github.com/tlsrpt/tlsrpt/report"
)

// MaxCount bounds every session count AddReport accepts (total
// successful and failed per policy, failed per detail): 10^12, more than
// any real report counts, and low enough that sums over millions of
// details stay far from overflowing.
const MaxCount = 1_000_000_000_000

// AddReport stores r with its policies and failure details in one
// transaction and returns its key, with dup=true when the same report was
// already stored.
//
// Two copies are the same report when they come from the same reporter
// with the same organization-name and report-id, the reporter being the
// authenticated domain of an authenticated copy (Auth.Domain), else the
// domain an unauthenticated copy claims (Submitter, else FromDomain), else
// its organization-name. So nobody can suppress or replace another's
// report by reusing its organization-name and report-id: a copy signed by
// evil.example or one claiming to come from evil.example is a report of
// evil.example's, stored apart. Two copies that are word for word the same
// (organization-name, report-id, date range, policies and details) are
// also the same report whoever sent them, since keeping one loses nothing:
// a report received over HTTPS and by mail is stored once.
//
// Of the same report, the first copy stored is kept and later ones are
// duplicates, except that an authenticated copy replaces unauthenticated
// ones whole, report and details: a forger who mails an unsigned copy
// first must not have its details vouched for by the genuine signed
// report that follows.
//
// Counts outside [0, MaxCount] are refused with ErrCount, an
// authenticated Source without Auth.Domain with ErrAuth, a string longer
// than MaxIndexed bound for an indexed column with ErrTooLong: the same
// answer on both engines, before any statement. Errors quote the
// report-id and organization-name cut short, and a statement PostgreSQL
// refused by its SQLSTATE first.
//
// AddReport counts an upgrade (arrival.Upgraded) as a duplicate; AddReportResult
// tells the three outcomes apart.
func (s *Store) AddReport(ctx context.Context, r *report.Report, src arrival.Source) (id int64, dup bool, err error) {
	id, added, err := s.AddReportResult(ctx, r, src)
	return id, added != arrival.New, err
}

// AddReportResult is AddReport, saying whether the report was new, a
// duplicate, or an authenticated copy that replaced unauthenticated ones.
func (s *Store) AddReportResult(ctx context.Context, r *report.Report, src arrival.Source) (id int64, dup arrival.Added, err error) {
	if r == nil {
		return 0, arrival.New, pkgerr.New("store", "adding report: nil report")
	}
	fail := func(err error) (int64, arrival.Added, error) {
		return 0, arrival.New, pkgerr.Errorf("store", "adding report %s from %s: %w", quoted(r.ReportID), quoted(r.OrganizationName), err)
	}
	if err := checkCounts(r); err != nil {
		return fail(err)
	}
	reporter, err := checkedReporter(r.OrganizationName, src)
	if err != nil {
		return fail(err)
	}
	if err := checkIndexed(r, reporter); err != nil {
		return fail(err)
	}
	if id, dup, err = s.addChecked(ctx, r, src, reporter); err != nil {
		return fail(err)
	}
	return id, dup, nil
}

// addChecked stores r, whose counts and lengths are checked, from
// reporter.
func (s *Store) addChecked(ctx context.Context, r *report.Report, src arrival.Source, reporter string) (id int64, dup arrival.Added, err error) {
	digest, stored := digestOf(r), s.now().Unix()
	err = s.write(ctx, func(tx *sql.Tx) error {
		id, dup, err = addReport(ctx, tx, r, src, reporter, digest, stored)
		if err != nil {
			return err
		}
		return refreshStale(ctx, tx)
	})
	return id, dup, err
}

// checkCounts refuses a report with a session count out of range.
func checkCounts(r *report.Report) error {
	bad := func(what string, n int64) error {
		return pkgerr.Mark(fmt.Sprintf("%s %d is out of range (0 to %d)", what, n, int64(MaxCount)), nil, ErrCount)
	}
	var total int64 // failed sessions of all details, saturating
	for i, p := range r.Policies {
		if p.Successful < 0 || p.Successful > MaxCount {
			return bad(fmt.Sprintf("policy %d: total-successful-session-count", i+1), p.Successful)
		}
		if p.Failed < 0 || p.Failed > MaxCount {
			return bad(fmt.Sprintf("policy %d: total-failure-session-count", i+1), p.Failed)
		}
		for j, d := range p.Details {
			if d.FailedSessions < 0 || d.FailedSessions > MaxCount {
				return bad(fmt.Sprintf("policy %d, failure detail %d: failed-session-count", i+1, j+1), d.FailedSessions)
			}
			total = satAdd(total, d.FailedSessions)
		}
	}
	if total >= MaxSum {
		return pkgerr.Mark(fmt.Sprintf("failure details count %d sessions or more", int64(MaxSum)), nil, ErrCount)
	}
	return nil
}

// addReport is AddReport's transaction.
func addReport(ctx context.Context, tx *sql.Tx, r *report.Report, src arrival.Source, reporter, digest string, stored int64) (int64, arrival.Added, error) {
	k := copyKey{table: "reports", reporter: reporter, org: r.OrganizationName, reportID: r.ReportID, digest: digest}
	return addOnce(ctx, tx, k, src.Auth.Authenticated, func() (int64, error) {
		return insertReport(ctx, tx, r, src, reporter, digest, stored)
	})
}

func insertReport(ctx context.Context, tx *sql.Tx, r *report.Report, src arrival.Source, reporter, digest string, stored int64) (int64, error) {
	// RETURNING, not LastInsertId: PostgreSQL has no last insert id.
	var id int64
	err := tx.QueryRowContext(ctx, `INSERT INTO reports (
		reporter, org, report_id, digest, contact, start_time, end_time,
		submitter, from_domain, message_id, transport, received,
		auth_authenticated, auth_method, auth_domain, auth_detail, stored)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING id`,
		reporter, r.OrganizationName, r.ReportID, digest, r.ContactInfo, r.Start.Unix(), r.End.Unix(),
		src.Submitter, src.FromDomain, src.MessageID, src.Transport, unix(src.Received),
		src.Auth.Authenticated, src.Auth.Method, src.Auth.Domain, src.Auth.Detail, stored).Scan(&id)
	if err != nil {
		return 0, err
	}
	pstmt, err := tx.PrepareContext(ctx, `INSERT INTO policies
		(report_id, type, domain, strings, mx_hosts, successful, failed)
		VALUES (?, ?, ?, ?, ?, ?, ?) RETURNING id`)
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
		var pid int64
		err := pstmt.QueryRowContext(ctx, id, p.Type, p.Domain,
			jsonList(p.Strings), jsonList(p.MXHosts), p.Successful, p.Failed).Scan(&pid)
		if err != nil {
			return 0, fmt.Errorf("policy %s: %w", quoted(p.Domain), err)
		}
		for _, d := range p.Details {
			_, err := dstmt.ExecContext(ctx, pid, id, d.ResultType, nullIP(d.SendingMTAIP),
				d.ReceivingMXHostname, d.ReceivingMXHelo, nullIP(d.ReceivingIP),
				d.FailedSessions, d.FailureReasonCode, d.AdditionalInformation)
			if err != nil {
				return 0, fmt.Errorf("failure detail %s: %w", quoted(d.ResultType), err)
			}
		}
	}
	if err := addToAggregate(ctx, tx, id, r.OrganizationName, src.Auth.Authenticated, resultTypes(r), r.Start.Unix(), r.End.Unix()); err != nil {
		return 0, fmt.Errorf("per-address aggregate: %w", err)
	}
	return id, nil
}

// resultTypes lists the distinct result-types of r's details that name a
// sending address.
func resultTypes(r *report.Report) []string {
	var (
		ts   []string
		seen = map[string]bool{}
	)
	for _, p := range r.Policies {
		for _, d := range p.Details {
			if d.SendingMTAIP.IsValid() && !seen[d.ResultType] {
				seen[d.ResultType] = true
				ts = append(ts, d.ResultType)
			}
		}
	}
	return ts
}

// Report reads back the report stored under key id with its Source.
func (s *Store) Report(ctx context.Context, id int64) (*report.Report, arrival.Source, error) {
	r, src, err := s.readReport(ctx, id)
	if err != nil {
		return nil, arrival.Source{}, pkgerr.Errorf("store", "reading report %d: %w", id, err)
	}
	return r, src, nil
}

func (s *Store) readReport(ctx context.Context, id int64) (*report.Report, arrival.Source, error) {
	var (
		r               report.Report
		src             arrival.Source
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
		return nil, arrival.Source{}, pkgerr.Mark("no such report", nil, ErrNotFound)
	}
	if err != nil {
		return nil, arrival.Source{}, err
	}
	r.Start, r.End, src.Received = fromUnix(start), fromUnix(end), fromUnix(rcv)
	pols, err := s.readPolicies(ctx, id)
	if err != nil {
		return nil, arrival.Source{}, err
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
		p.Successful, p.Failed = clampCount(p.Successful), clampCount(p.Failed)
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
	return queryAll(ctx, s.db, scanDetail, `SELECT result_type, sending_ip, receiving_mx, receiving_helo,
		receiving_ip, sessions, reason, additional_info
		FROM failure_details WHERE policy_id = ? ORDER BY id`, pid)
}

// scanDetail reads a failure detail of readDetails.
func scanDetail(rows *sql.Rows) (d report.FailureDetail, err error) {
	var sip, rip sql.NullString
	if err := rows.Scan(&d.ResultType, &sip, &d.ReceivingMXHostname, &d.ReceivingMXHelo,
		&rip, &d.FailedSessions, &d.FailureReasonCode, &d.AdditionalInformation); err != nil {
		return d, err
	}
	d.FailedSessions = clampCount(d.FailedSessions)
	if d.SendingMTAIP, err = parseIP(sip); err != nil {
		return d, err
	}
	if d.ReceivingIP, err = parseIP(rip); err != nil {
		return d, err
	}
	return d, nil
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

package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/tlsrpt/tlsrpt/arrival"
	"github.com/tlsrpt/tlsrpt/dmarc"
	"github.com/tlsrpt/tlsrpt/internal/pkgerr"
)

// DMARCReport reads back the DMARC report stored under key id with its
// Source, as AddDMARC stored it.
func (s *Store) DMARCReport(ctx context.Context, id int64) (*dmarc.Report, arrival.Source, error) {
	r, src, err := s.readDMARC(ctx, id)
	if err != nil {
		return nil, arrival.Source{}, pkgerr.Errorf("store", "reading DMARC report %d: %w", id, s.classify(err))
	}
	return r, src, nil
}

func (s *Store) readDMARC(ctx context.Context, id int64) (*dmarc.Report, arrival.Source, error) {
	var (
		r               dmarc.Report
		src             arrival.Source
		errs            string
		start, end, rcv sql.NullInt64
	)
	md, pp := &r.Metadata, &r.Policy
	err := s.db.QueryRowContext(ctx, `SELECT org, org_name, report_id, email, extra_contact, version, generator,
		errors, start_time, end_time, domain, adkim, aspf, p, sp, np, pct, fo, testing, discovery_method,
		submitter, from_domain, message_id, transport, received,
		auth_authenticated, auth_method, auth_domain, auth_detail
		FROM dmarc_reports WHERE id = ?`, id).Scan(
		&md.Reporter, &md.OrgName, &md.ReportID, &md.Email, &md.ExtraContactInfo, &r.Version, &md.Generator,
		&errs, &start, &end, &pp.Domain, &pp.ADKIM, &pp.ASPF, &pp.P, &pp.SP, &pp.NP, &pp.Pct, &pp.FO,
		&pp.Testing, &pp.DiscoveryMethod,
		&src.Submitter, &src.FromDomain, &src.MessageID, &src.Transport, &rcv,
		&src.Auth.Authenticated, &src.Auth.Method, &src.Auth.Domain, &src.Auth.Detail)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, src, pkgerr.Mark("no such DMARC report", nil, ErrNotFound)
	}
	if err != nil {
		return nil, src, err
	}
	md.Begin, md.End, src.Received = fromUnix(start), fromUnix(end), fromUnix(rcv)
	if err := json.Unmarshal([]byte(errs), &md.Errors); err != nil {
		return nil, src, fmt.Errorf("errors: %w", err)
	}
	if len(md.Errors) == 0 {
		md.Errors = nil
	}
	if r.Records, err = s.readDMARCRecords(ctx, id); err != nil {
		return nil, src, err
	}
	return &r, src, nil
}

func (s *Store) readDMARCRecords(ctx context.Context, id int64) ([]dmarc.Record, error) {
	return queryAll(ctx, s.db, scanDMARCRecord, `SELECT source_ip, count, disposition, dkim, spf,
		header_from, envelope_from, envelope_to, reasons, auth_results
		FROM dmarc_records WHERE report_id = ? ORDER BY id`, id)
}

// scanDMARCRecord reads a record of readDMARCRecords.
func scanDMARCRecord(rows *sql.Rows) (rec dmarc.Record, err error) {
	var (
		ip            sql.NullString
		reasons, auth string
	)
	if err := rows.Scan(&ip, &rec.Count, &rec.Disposition, &rec.DKIM, &rec.SPF,
		&rec.HeaderFrom, &rec.EnvelopeFrom, &rec.EnvelopeTo, &reasons, &auth); err != nil {
		return rec, err
	}
	rec.Count = clampCount(rec.Count)
	if rec.SourceIP, err = parseIP(ip); err != nil {
		return rec, err
	}
	if err := parseStoredRecord(&rec, reasons, auth); err != nil {
		return rec, err
	}
	return rec, nil
}

// parseStoredRecord fills in a record's reasons and auth results from
// their stored JSON.
func parseStoredRecord(rec *dmarc.Record, reasons, auth string) error {
	if reasons != "" {
		var rs []storedReason
		if err := json.Unmarshal([]byte(reasons), &rs); err != nil {
			return fmt.Errorf("stored reasons: %w", err)
		}
		for _, r := range rs {
			rec.Reasons = append(rec.Reasons, dmarc.Reason{Type: r.Type, Comment: r.Comment})
		}
	}
	if auth != "" {
		var a storedAuthResults
		if err := json.Unmarshal([]byte(auth), &a); err != nil {
			return fmt.Errorf("stored auth results: %w", err)
		}
		for _, d := range a.DKIM {
			rec.DKIMResults = append(rec.DKIMResults, dmarc.DKIMResult{Domain: d.Domain, Selector: d.Scope, Result: d.Result, HumanResult: d.Human})
		}
		for _, s := range a.SPF {
			rec.SPFResults = append(rec.SPFResults, dmarc.SPFResult{Domain: s.Domain, Scope: s.Scope, Result: s.Result, HumanResult: s.Human})
		}
	}
	return nil
}

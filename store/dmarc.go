package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"

	"github.com/tlsrpt/tlsrpt/arrival"
	"github.com/tlsrpt/tlsrpt/dmarc"
	"github.com/tlsrpt/tlsrpt/internal/pkgerr"
)

// AddDMARC stores the DMARC aggregate report r with its records in one
// transaction and returns its key, with dup=true when the same report was
// already stored.
//
// Deduplication is AddReport's: two copies are the same report when they
// come from the same reporter with the same named reporter (r.Metadata.Reporter)
// and report_id, the reporter being the authenticated domain of an
// authenticated copy (src.Auth.Domain), else the domain an unauthenticated
// copy claims (src.Submitter, else src.FromDomain), else the named
// reporter. Nobody can suppress or replace another's report by reusing
// its report_id: a copy signed by, or claiming to come from, evil.example
// is evil.example's, stored apart. Word-for-word copies (same content
// digest) are one report whoever sent them. Of the same report the first
// copy stored is kept, except that an authenticated copy replaces the
// unauthenticated ones whole, report and records: an unauthenticated copy
// can never shadow or replace an authenticated one. An upgrade counts as a
// duplicate here; AddDMARCResult tells the three outcomes apart.
//
// A record count outside [0, MaxCount], or records adding up to MaxSum
// messages or more, is refused with ErrCount; an authenticated src
// without Auth.Domain with ErrAuth; a reporter, named reporter or
// report_id longer than MaxIndexed with ErrTooLong: the same answer on
// both engines, before any statement (Refused reports all three).
func (s *Store) AddDMARC(ctx context.Context, r *dmarc.Report, src arrival.Source) (id int64, dup bool, err error) {
	id, added, err := s.AddDMARCResult(ctx, r, src)
	return id, added != arrival.New, err
}

// AddDMARCResult is AddDMARC, saying whether the report was new, a
// duplicate, or an authenticated copy that replaced unauthenticated ones.
func (s *Store) AddDMARCResult(ctx context.Context, r *dmarc.Report, src arrival.Source) (int64, arrival.Added, error) {
	if r == nil {
		return 0, arrival.New, pkgerr.New("store", "adding DMARC report: nil report")
	}
	md := &r.Metadata
	fail := func(err error) (int64, arrival.Added, error) {
		return 0, arrival.New, pkgerr.Errorf("store", "adding DMARC report %s from %s: %w", quoted(md.ReportID), quoted(md.Reporter), err)
	}
	messages, failed, err := dmarcTotals(r)
	if err != nil {
		return fail(err)
	}
	reporter, err := checkedReporter(md.Reporter, src)
	if err != nil {
		return fail(err)
	}
	if err := checkDMARCIndexed(r, reporter); err != nil {
		return fail(err)
	}
	row := dmarcRow{r: r, src: src, reporter: reporter, digest: dmarcDigest(r),
		messages: messages, failed: failed, stored: s.now().Unix()}
	var (
		id    int64
		added arrival.Added
	)
	err = s.write(ctx, func(tx *sql.Tx) error {
		id, added, err = addDMARC(ctx, tx, &row)
		return err
	})
	if err != nil {
		return fail(err)
	}
	return id, added, nil
}

// dmarcRow is a checked report on its way into the store.
type dmarcRow struct {
	r                *dmarc.Report
	src              arrival.Source
	reporter, digest string
	messages, failed int64
	stored           int64
}

// dmarcTotals checks every record's count and adds up the messages and
// those that failed DMARC.
func dmarcTotals(r *dmarc.Report) (messages, failed int64, err error) {
	for i := range r.Records {
		rec := &r.Records[i]
		if rec.Count < 0 || rec.Count > MaxCount {
			return 0, 0, pkgerr.Mark(fmt.Sprintf(
				"record %d: count %d is out of range (0 to %d)", i+1, rec.Count, int64(MaxCount)), nil, ErrCount)
		}
		messages = satAdd(messages, rec.Count)
		if !rec.DMARCPass() {
			failed = satAdd(failed, rec.Count)
		}
	}
	if messages >= MaxSum {
		return 0, 0, pkgerr.Mark(fmt.Sprintf("records count %d messages or more", int64(MaxSum)), nil, ErrCount)
	}
	return messages, failed, nil
}

// checkDMARCIndexed refuses a report whose strings bound for an indexed
// column are longer than MaxIndexed; the error names the field and its
// length, never its value.
func checkDMARCIndexed(r *dmarc.Report, reporter string) error {
	for _, f := range []struct{ what, value string }{
		{"report_metadata/report_id", r.Metadata.ReportID},
		{"reporter (org_name, else the domain of email)", r.Metadata.Reporter},
		{"reporter (authenticated domain, or From domain)", reporter},
	} {
		if n := indexedLen(f.value); n > MaxIndexed {
			return tooLong(f.what, n)
		}
	}
	return nil
}

// addDMARC is AddDMARC's transaction, AddReport's rules on the DMARC
// tables.
func addDMARC(ctx context.Context, tx *sql.Tx, row *dmarcRow) (int64, arrival.Added, error) {
	md := &row.r.Metadata
	k := copyKey{table: "dmarc_reports", reporter: row.reporter, org: md.Reporter, reportID: md.ReportID, digest: row.digest}
	return addOnce(ctx, tx, k, row.src.Auth.Authenticated, func() (int64, error) {
		return insertDMARC(ctx, tx, row)
	})
}

func insertDMARC(ctx context.Context, tx *sql.Tx, row *dmarcRow) (int64, error) {
	r, src := row.r, row.src
	md, pp := &r.Metadata, &r.Policy
	var id int64
	err := tx.QueryRowContext(ctx, `INSERT INTO dmarc_reports (
		reporter, org, org_name, report_id, digest, email, extra_contact, version, generator, errors,
		start_time, end_time, domain, adkim, aspf, p, sp, np, pct, fo, testing, discovery_method,
		messages, failed, submitter, from_domain, message_id, transport, received,
		auth_authenticated, auth_method, auth_domain, auth_detail, stored)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
		RETURNING id`,
		row.reporter, md.Reporter, md.OrgName, md.ReportID, row.digest, md.Email, md.ExtraContactInfo,
		r.Version, md.Generator, jsonList(md.Errors), md.Begin.Unix(), md.End.Unix(),
		pp.Domain, pp.ADKIM, pp.ASPF, pp.P, pp.SP, pp.NP, pp.Pct, pp.FO, pp.Testing, pp.DiscoveryMethod,
		row.messages, row.failed, src.Submitter, src.FromDomain, src.MessageID, src.Transport, unix(src.Received),
		src.Auth.Authenticated, src.Auth.Method, src.Auth.Domain, src.Auth.Detail, row.stored).Scan(&id)
	if err != nil {
		return 0, err
	}
	stmt, err := tx.PrepareContext(ctx, `INSERT INTO dmarc_records
		(report_id, source_ip, count, pass, disposition, dkim, spf, header_from, envelope_from, envelope_to,
		 reasons, auth_results) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`)
	if err != nil {
		return 0, err
	}
	defer stmt.Close()
	for i := range r.Records {
		rec := &r.Records[i]
		if _, err := stmt.ExecContext(ctx, id, canonIP(rec.SourceIP), rec.Count, rec.DMARCPass(),
			rec.Disposition, rec.DKIM, rec.SPF, rec.HeaderFrom, rec.EnvelopeFrom, rec.EnvelopeTo,
			reasonsText(rec.Reasons), authResultsText(rec)); err != nil {
			return 0, fmt.Errorf("record %d: %w", i+1, err)
		}
	}
	return id, nil
}

// storedReason is a reason as stored in dmarc_records.reasons.
type storedReason struct {
	Type    string `json:"t"`
	Comment string `json:"c,omitempty"`
}

// storedAuth is one auth result as stored in dmarc_records.auth_results:
// Scope is the DKIM selector or the SPF scope.
type storedAuth struct {
	Domain string `json:"d"`
	Scope  string `json:"s,omitempty"`
	Result string `json:"r"`
	Human  string `json:"h,omitempty"`
}

type storedAuthResults struct {
	DKIM []storedAuth `json:"dkim,omitempty"`
	SPF  []storedAuth `json:"spf,omitempty"`
}

// reasonsText is the compact JSON of reasons, "" for none.
func reasonsText(rs []dmarc.Reason) string {
	if len(rs) == 0 {
		return ""
	}
	out := make([]storedReason, len(rs))
	for i, r := range rs {
		out[i] = storedReason{r.Type, r.Comment}
	}
	b, _ := json.Marshal(out) // strings always marshal
	return string(b)
}

// authResultsText is the compact JSON of a record's auth_results, ""
// for none.
func authResultsText(rec *dmarc.Record) string {
	if len(rec.DKIMResults) == 0 && len(rec.SPFResults) == 0 {
		return ""
	}
	var a storedAuthResults
	for _, d := range rec.DKIMResults {
		a.DKIM = append(a.DKIM, storedAuth{d.Domain, d.Selector, d.Result, d.HumanResult})
	}
	for _, s := range rec.SPFResults {
		a.SPF = append(a.SPF, storedAuth{s.Domain, s.Scope, s.Result, s.HumanResult})
	}
	b, _ := json.Marshal(a)
	return string(b)
}

// dmarcDigest is the content digest of r: SHA-256 over an injective
// encoding of everything stored of the report itself (not of how it
// came), in the stored form.
func dmarcDigest(r *dmarc.Report) string {
	d := newDigester()
	d.str("dmarc v1")
	md, pp := &r.Metadata, &r.Policy
	d.tag('M')
	for _, s := range []string{md.Reporter, md.OrgName, md.ReportID, md.Email, md.ExtraContactInfo,
		r.Version, md.Generator, jsonList(md.Errors), pp.Domain, pp.ADKIM, pp.ASPF, pp.P, pp.SP, pp.NP,
		pp.FO, pp.Testing, pp.DiscoveryMethod} {
		d.str(s)
	}
	d.num(md.Begin.Unix())
	d.num(md.End.Unix())
	d.num(int64(pp.Pct))
	for i := range r.Records {
		rec := &r.Records[i]
		d.tag('X')
		d.addr(rec.SourceIP)
		d.num(rec.Count)
		for _, s := range []string{rec.Disposition, rec.DKIM, rec.SPF, rec.HeaderFrom, rec.EnvelopeFrom,
			rec.EnvelopeTo, reasonsText(rec.Reasons), authResultsText(rec)} {
			d.str(s)
		}
	}
	return d.sum()
}

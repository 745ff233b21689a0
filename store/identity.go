package store

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"hash"
	"net/netip"
	"strings"

	"github.com/tlsrpt/tlsrpt/arrival"
	"github.com/tlsrpt/tlsrpt/internal/pkgerr"
	"github.com/tlsrpt/tlsrpt/report"
)

// reporterOf names who a copy of a report comes from, the first part of
// the key a report is deduplicated on: the authenticated domain when the
// copy is authenticated (nobody else can sign for it), else the domain the
// copy claims (TLS-Report-Submitter, else the From domain), else its
// organization-name. Lower case, without a trailing dot.
func reporterOf(org string, src arrival.Source) string {
	for _, s := range []string{authDomain(src.Auth), src.Submitter, src.FromDomain, org} {
		if s := normName(s); s != "" {
			return s
		}
	}
	return ""
}

// checkedReporter is reporterOf for a copy about to be stored: a source
// marked authenticated without the domain deduplication keys on is
// refused with ErrAuth, for TLS and DMARC reports alike.
func checkedReporter(org string, src arrival.Source) (string, error) {
	if src.Auth.Authenticated && normName(src.Auth.Domain) == "" {
		return "", pkgerr.Mark(fmt.Sprintf("authenticated by %s without a domain", src.Auth.Method), nil, ErrAuth)
	}
	return reporterOf(org, src), nil
}

// authDomain is the domain a verdict vouches for, "" when it vouches for
// none.
func authDomain(a arrival.Auth) string {
	if !a.Authenticated {
		return ""
	}
	return a.Domain
}

func normName(s string) string {
	return strings.ToLower(strings.TrimSuffix(strings.TrimSpace(s), "."))
}

// digester computes a report's content digest: SHA-256 over an injective
// encoding of everything the store keeps of the report itself (not of how
// it came), in the stored form (unix seconds, canonical addresses, JSON
// lists). Two copies with the same digest are the same report word for
// word, so keeping one loses nothing. Fields are fed in a fixed order:
// report, then each policy, each followed by its details, then end.
// The encoding is built in a buffer hashed a block at a time.
type digester struct {
	h   hash.Hash
	buf []byte
}

func newDigester() *digester {
	d := &digester{h: sha256.New(), buf: make([]byte, 0, 8192)}
	d.buf = append(d.buf, "tlsrpt report v1\n"...)
	return d
}

// flush hashes the buffer once it is full.
func (d *digester) flush() {
	if len(d.buf) >= 4096 {
		d.h.Write(d.buf)
		d.buf = d.buf[:0]
	}
}

func (d *digester) tag(t byte) { d.buf = append(d.buf, t) }

func (d *digester) str(s string) {
	d.buf = binary.AppendUvarint(d.buf, uint64(len(s)))
	d.buf = append(d.buf, s...)
	d.flush()
}

func (d *digester) num(v int64) {
	d.buf = binary.BigEndian.AppendUint64(d.buf, uint64(v))
}

// ip feeds a stored address: NULL and "" are absent.
func (d *digester) ip(v sql.NullString) {
	if !v.Valid || v.String == "" {
		d.tag(0)
		return
	}
	d.tag(1)
	d.str(v.String)
}

// ipOr feeds an address given as stored text (stored.Valid) or else as
// an address.
func (d *digester) ipOr(stored sql.NullString, a netip.Addr) {
	if stored.Valid {
		d.ip(stored)
	} else {
		d.addr(a)
	}
}

// addr feeds an address as ip feeds its stored form, without making a
// string of it.
func (d *digester) addr(a netip.Addr) {
	if !a.IsValid() {
		d.tag(0)
		return
	}
	d.tag(1)
	var b [64]byte
	t := canonAddr(a).AppendTo(b[:0])
	d.buf = binary.AppendUvarint(d.buf, uint64(len(t)))
	d.buf = append(d.buf, t...)
	d.flush()
}

func (d *digester) report(org, id, contact string, start, end int64) {
	d.tag('R')
	d.str(org)
	d.str(id)
	d.str(contact)
	d.num(start)
	d.num(end)
}

func (d *digester) policy(typ, domain, strs, mxHosts string, successful, failed int64) {
	d.tag('P')
	d.str(typ)
	d.str(domain)
	d.str(strs)
	d.str(mxHosts)
	d.num(successful)
	d.num(failed)
}

// detail feeds a detail as stored: addresses are given either as stored
// text (sending, receiving) or as addresses (sendingAddr, receivingAddr),
// the other being zero.
func (d *digester) detail(result string, sending sql.NullString, sendingAddr netip.Addr, mx, helo string,
	receiving sql.NullString, receivingAddr netip.Addr, sessions int64, reason, info string) {
	d.tag('D')
	d.str(result)
	d.ipOr(sending, sendingAddr)
	d.str(mx)
	d.str(helo)
	d.ipOr(receiving, receivingAddr)
	d.num(sessions)
	d.str(reason)
	d.str(info)
}

func (d *digester) sum() string {
	d.tag('E')
	d.h.Write(d.buf)
	d.buf = d.buf[:0]
	return hex.EncodeToString(d.h.Sum(nil))
}

// digestOf is the content digest of r as AddReport stores it.
func digestOf(r *report.Report) string {
	d := newDigester()
	d.report(r.OrganizationName, r.ReportID, r.ContactInfo, r.Start.Unix(), r.End.Unix())
	for _, p := range r.Policies {
		d.policy(p.Type, p.Domain, jsonList(p.Strings), jsonList(p.MXHosts), p.Successful, p.Failed)
		for _, fd := range p.Details {
			d.detail(fd.ResultType, sql.NullString{}, fd.SendingMTAIP, fd.ReceivingMXHostname, fd.ReceivingMXHelo,
				sql.NullString{}, fd.ReceivingIP, fd.FailedSessions, fd.FailureReasonCode, fd.AdditionalInformation)
		}
	}
	return d.sum()
}

// nonNull makes a NULL stored address a valid empty one, which
// digester.ip reads as absent.
func nonNull(v sql.NullString) sql.NullString {
	return sql.NullString{String: v.String, Valid: true}
}

// migrate2 is the Go part of schema version 2: the reporter and digest of
// every stored report, then every address marked stale, so that readers
// compute from the details until version 5 builds the aggregate (this
// code's aggregate statements need version 5's columns).
func migrate2(ctx context.Context, tx *sql.Tx) error {
	if err := fillReporterDigest(ctx, tx); err != nil {
		return err
	}
	_, err := tx.ExecContext(ctx, markAllStaleSQL)
	return err
}

// fillReporterDigest is the migration that gives every stored report its
// reporter and content digest, from one ordered scan of the database.
func fillReporterDigest(ctx context.Context, tx *sql.Tx) error {
	rows, err := tx.QueryContext(ctx, `SELECT r.id, r.org, r.report_id, r.contact, r.start_time, r.end_time,
		r.submitter, r.from_domain, r.auth_authenticated, r.auth_domain,
		p.id, p.type, p.domain, p.strings, p.mx_hosts, p.successful, p.failed,
		d.id, d.result_type, d.sending_ip, d.receiving_mx, d.receiving_helo, d.receiving_ip,
		d.sessions, d.reason, d.additional_info
		FROM reports r
		LEFT JOIN policies p ON p.report_id = r.id
		LEFT JOIN failure_details d ON d.policy_id = p.id
		ORDER BY r.id, p.id, d.id`)
	if err != nil {
		return err
	}
	defer rows.Close()
	type keyed struct {
		id               int64
		reporter, digest string
	}
	var (
		done         []keyed
		cur          keyed
		dg           *digester
		lastR, lastP int64 = -1, -1
		r            struct{ org, id, contact, submitter, from, authDomain string }
		start, end   int64
		authed       bool
		pid, did     sql.NullInt64
		p            struct{ typ, domain, strs, mx sql.NullString }
		succ, failed sql.NullInt64
		d            struct{ result, mx, helo, reason, info sql.NullString }
		sending, rcv sql.NullString
		sessions     sql.NullInt64
		reportID     int64
	)
	for rows.Next() {
		if err := rows.Scan(&reportID, &r.org, &r.id, &r.contact, &start, &end,
			&r.submitter, &r.from, &authed, &r.authDomain,
			&pid, &p.typ, &p.domain, &p.strs, &p.mx, &succ, &failed,
			&did, &d.result, &sending, &d.mx, &d.helo, &rcv, &sessions, &d.reason, &d.info); err != nil {
			return err
		}
		if reportID != lastR {
			if dg != nil {
				cur.digest = dg.sum()
				done = append(done, cur)
			}
			lastR, lastP = reportID, -1
			src := arrival.Source{Submitter: r.submitter, FromDomain: r.from,
				Auth: arrival.Auth{Authenticated: authed, Domain: r.authDomain}}
			cur = keyed{id: reportID, reporter: reporterOf(r.org, src)}
			dg = newDigester()
			dg.report(r.org, r.id, r.contact, start, end)
		}
		if pid.Valid && pid.Int64 != lastP {
			lastP = pid.Int64
			dg.policy(p.typ.String, p.domain.String, p.strs.String, p.mx.String, succ.Int64, failed.Int64)
		}
		if did.Valid {
			dg.detail(d.result.String, nonNull(sending), netip.Addr{}, d.mx.String, d.helo.String,
				nonNull(rcv), netip.Addr{}, sessions.Int64, d.reason.String, d.info.String)
		}
	}
	if err := rows.Err(); err != nil {
		return err
	}
	if dg != nil {
		cur.digest = dg.sum()
		done = append(done, cur)
	}
	rows.Close()
	upd, err := tx.PrepareContext(ctx, `UPDATE reports SET reporter = ?, digest = ? WHERE id = ?`)
	if err != nil {
		return err
	}
	defer upd.Close()
	for _, k := range done {
		if _, err := upd.ExecContext(ctx, k.reporter, k.digest, k.id); err != nil {
			return fmt.Errorf("report %d: %w", k.id, err)
		}
	}
	return nil
}

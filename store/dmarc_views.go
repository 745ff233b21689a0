package store

import (
	"context"
	"database/sql"
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"time"

	"github.com/tlsrpt/tlsrpt/internal/pkgerr"
)

// The read side of DMARC reports beyond stats: what the dashboard, the
// digest and the metrics read. The dashboard's per-reporter section reads
// SideBySide(ctx, since, Day, ByReporter) (TLS sessions to us beside
// DMARC messages from us, per day) and DMARCFailingSources; the digest
// reads DMARCFailuresPerDay for its baseline and NewDMARCFailingSources;
// the metrics read DMARCStoredSince. Unauthenticated reports are never
// counted under a reporter's name: they keep the name they claim, marked
// (ReporterName), or are left out where only authenticated reports count.

// DMARCFailingSource is one source of messages that failed DMARC, as one
// reporter saw it: a sending address, the From domain of its messages and
// what the reporter did with them, added up over the reports.
type DMARCFailingSource struct {
	// Reporter is the authenticated identity, or with Unauthenticated the
	// reporter the reports name (show it with ReporterName).
	Reporter        string
	Unauthenticated bool
	SourceIP        netip.Addr
	HeaderFrom      string // the From domain of the messages
	Disposition     string // "none", "quarantine", "reject"
	DKIM, SPF       string // aligned results as the reporter evaluated them ("fail", "none", ...)
	Messages        int64  // saturating at MaxSum
	Reports         int64
	First, Last     time.Time // start of the earliest, end of the latest report's range
}

// WhatFailed says which aligned check did not pass, as "dkim=fail
// spf=fail": a failing source passed neither.
func (f DMARCFailingSource) WhatFailed() string {
	return "dkim=" + orDash(f.DKIM) + " spf=" + orDash(f.SPF)
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// dmarcFailingSQL adds up the records that failed DMARC per reporter, source
// and outcome, of the reports whose range ends at or after the first ?;
// with onlyAuthenticated the rest of the query, AND-ed, is given.
const dmarcFailingSQL = `SELECT CASE WHEN r.auth_authenticated <> 0 THEN r.reporter ELSE r.org END,
	CASE WHEN r.auth_authenticated <> 0 THEN 1 ELSE 0 END,
	c.source_ip, c.header_from, c.disposition, c.dkim, c.spf,
	SUM(CAST(c.count AS DOUBLE PRECISION)), COUNT(DISTINCT r.id), MIN(r.start_time), MAX(r.end_time)
	FROM dmarc_records c JOIN dmarc_reports r ON r.id = c.report_id
	WHERE c.pass = 0 AND r.end_time >= ? %s
	GROUP BY 1, 2, 3, 4, 5, 6, 7`

// DMARCFailingSources lists, per reporter, the sources whose messages
// failed DMARC in the reports whose range ends at or after since (all
// for the zero since): each reporter's perReporter largest by messages
// (all when perReporter <= 0), a reporter's rows together, reporters by
// name (an authenticated one before unauthenticated reports of the same
// name), most messages first within one. Unauthenticated reports are
// listed under the name they claim, marked Unauthenticated. One grouped
// statement.
func (s *Store) DMARCFailingSources(ctx context.Context, since time.Time, perReporter int) ([]DMARCFailingSource, error) {
	fs, err := s.dmarcFailing(ctx, fmt.Sprintf(dmarcFailingSQL, ""), sinceUnix(since))
	if err != nil {
		return nil, pkgerr.Errorf("store", "listing sources failing DMARC: %w", s.classify(err))
	}
	sortDMARCFailing(fs)
	if perReporter <= 0 {
		return fs, nil
	}
	out := fs[:0]
	n := 0
	for i, f := range fs {
		if i > 0 && (f.Reporter != fs[i-1].Reporter || f.Unauthenticated != fs[i-1].Unauthenticated) {
			n = 0
		}
		if n < perReporter {
			out = append(out, f)
		}
		n++
	}
	return out, nil
}

// NewDMARCFailingSources lists the sources whose messages failed DMARC in
// authenticated reports whose range ends at or after from, with a From
// domain (header_from) that is one of domains or under one of them (any
// when domains is empty), and that failed in no authenticated report
// whose range ends in [baseline, from): what the digest names as new
// failing sources of our own domains. A source is its address and From
// domain; unauthenticated reports neither add nor hide one. Rows are per
// reporter as DMARCFailingSources gives them. Two statements.
func (s *Store) NewDMARCFailingSources(ctx context.Context, from, baseline time.Time, domains []string) ([]DMARCFailingSource, error) {
	fs, err := s.newFailing(ctx, from, baseline, domains)
	if err != nil {
		return nil, pkgerr.Errorf("store", "listing new sources failing DMARC: %w", s.classify(err))
	}
	return fs, nil
}

func (s *Store) newFailing(ctx context.Context, from, baseline time.Time, domains []string) ([]DMARCFailingSource, error) {
	cur, err := s.dmarcFailing(ctx, fmt.Sprintf(dmarcFailingSQL, "AND r.auth_authenticated <> 0"), from.Unix())
	if err != nil {
		return nil, err
	}
	rows, err := s.db.QueryContext(ctx, `SELECT DISTINCT c.source_ip, c.header_from
		FROM dmarc_records c JOIN dmarc_reports r ON r.id = c.report_id
		WHERE c.pass = 0 AND r.auth_authenticated <> 0 AND r.end_time >= ? AND r.end_time < ?`,
		baseline.Unix(), from.Unix())
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	seen := map[[2]string]bool{}
	for rows.Next() {
		var ip, hf string
		if err := rows.Scan(&ip, &hf); err != nil {
			return nil, err
		}
		seen[[2]string{ip, hf}] = true
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	out := cur[:0]
	for _, f := range cur {
		if !seen[[2]string{canonIP(f.SourceIP), f.HeaderFrom}] && underAny(f.HeaderFrom, domains) {
			out = append(out, f)
		}
	}
	sortDMARCFailing(out)
	return out, nil
}

// underAny reports whether domain is one of domains or under one of them
// (case and a trailing dot ignored); any domain is when domains is empty.
func underAny(domain string, domains []string) bool {
	if len(domains) == 0 {
		return true
	}
	d := normName(domain)
	for _, o := range domains {
		o = normName(o)
		if o != "" && (d == o || strings.HasSuffix(d, "."+o)) {
			return true
		}
	}
	return false
}

// dmarcFailing runs a dmarcFailingSQL statement.
func (s *Store) dmarcFailing(ctx context.Context, q string, since int64) ([]DMARCFailingSource, error) {
	return queryAll(ctx, s.db, scanDMARCFailing, q, since)
}

// scanDMARCFailing reads a source of dmarcFailing.
func scanDMARCFailing(rows *sql.Rows) (f DMARCFailingSource, err error) {
	var (
		authed      int64
		ip          sql.NullString
		messages    sql.NullFloat64
		first, last sql.NullInt64
	)
	if err := rows.Scan(&f.Reporter, &authed, &ip, &f.HeaderFrom, &f.Disposition, &f.DKIM, &f.SPF,
		&messages, &f.Reports, &first, &last); err != nil {
		return f, err
	}
	f.Unauthenticated = authed == 0
	if f.Unauthenticated {
		f.Reporter = strings.Join(strings.Fields(f.Reporter), " ")
	}
	if f.SourceIP, err = parseIP(ip); err != nil {
		return f, err
	}
	f.Messages, f.First, f.Last = saturate(messages.Float64), fromUnix(first), fromUnix(last)
	return f, nil
}

// sortDMARCFailing orders sources by reporter, then most messages first, then
// by address and outcome, so that the order is the same on both engines.
func sortDMARCFailing(fs []DMARCFailingSource) {
	slices.SortFunc(fs, func(a, b DMARCFailingSource) int {
		if c := compareRows(time.Time{}, time.Time{}, a.Reporter, b.Reporter, a.Unauthenticated, b.Unauthenticated); c != 0 {
			return c
		}
		if a.Messages != b.Messages {
			if a.Messages > b.Messages {
				return -1
			}
			return 1
		}
		if c := a.SourceIP.Compare(b.SourceIP); c != 0 {
			return c
		}
		return strings.Compare(a.HeaderFrom+"\x00"+a.Disposition+"\x00"+a.DKIM+"\x00"+a.SPF,
			b.HeaderFrom+"\x00"+b.Disposition+"\x00"+b.DKIM+"\x00"+b.SPF)
	})
}

// DMARCFailuresPerDay is DMARCStats per day and reporter of the
// authenticated reporters only, from the reports whose range ends at or
// after since: the daily DMARC failures (Fail, of Messages) per reporter
// that the digest takes its baseline from, as it does from TLS failure
// rates. Unauthenticated reports are left out: nobody can raise or
// silence an alert by forging them.
func (s *Store) DMARCFailuresPerDay(ctx context.Context, since time.Time) ([]DMARCRow, error) {
	rows, err := s.DMARCStats(ctx, since, Day, ByReporter)
	if err != nil {
		return nil, err
	}
	return slices.DeleteFunc(rows, func(r DMARCRow) bool { return r.Unauthenticated }), nil
}

// RecentDMARC is the messages of the DMARC reports of one authenticated
// reporter and policy domain; or, with Authenticated false (Reporter and
// Domain empty), of all unauthenticated reports together.
type RecentDMARC struct {
	Reporter, Domain string
	Authenticated    bool
	Messages, Pass   int64
	Fail             int64
}

// DMARCStoredSince adds up the messages of the DMARC reports stored at or
// after since per authenticated reporter and policy domain, by name: what
// the metrics show for the last day. The unauthenticated reports come as
// one row without names, last, so that no name they claim can become a metric
// label; the metrics bound the authenticated reporters' labels. One
// grouped statement.
func (s *Store) DMARCStoredSince(ctx context.Context, since time.Time) ([]RecentDMARC, error) {
	out, err := s.dmarcStored(ctx, since)
	if err != nil {
		return nil, pkgerr.Errorf("store", "adding up recent DMARC messages: %w", s.classify(err))
	}
	return out, nil
}

func (s *Store) dmarcStored(ctx context.Context, since time.Time) ([]RecentDMARC, error) {
	out, err := queryAll(ctx, s.db, scanRecentDMARC, `SELECT CASE WHEN auth_authenticated <> 0 THEN 1 ELSE 0 END,
		CASE WHEN auth_authenticated <> 0 THEN reporter ELSE '' END,
		CASE WHEN auth_authenticated <> 0 THEN domain ELSE '' END,
		SUM(CAST(messages AS DOUBLE PRECISION)), SUM(CAST(failed AS DOUBLE PRECISION))
		FROM dmarc_reports WHERE stored >= ? GROUP BY 1, 2, 3`, since.Unix())
	if err != nil {
		return nil, err
	}
	// Authenticated reporters by name and domain, the nameless row last.
	slices.SortFunc(out, func(a, b RecentDMARC) int {
		if a.Authenticated != b.Authenticated {
			if a.Authenticated {
				return -1
			}
			return 1
		}
		return strings.Compare(a.Reporter+"\x00"+a.Domain, b.Reporter+"\x00"+b.Domain)
	})
	return out, nil
}

// scanRecentDMARC reads a row of dmarcStored.
func scanRecentDMARC(rows *sql.Rows) (r RecentDMARC, err error) {
	var (
		authed         int64
		messages, fail sql.NullFloat64
	)
	if err := rows.Scan(&authed, &r.Reporter, &r.Domain, &messages, &fail); err != nil {
		return r, err
	}
	r.Authenticated = authed != 0
	r.Messages = saturate(messages.Float64)
	r.Fail = min(saturate(fail.Float64), r.Messages)
	r.Pass = r.Messages - r.Fail
	return r, nil
}

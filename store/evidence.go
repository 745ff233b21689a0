package store

import (
	"cmp"
	"context"
	"database/sql"
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"time"

	"github.com/tlsrpt/tlsrpt/arrival"
	"github.com/tlsrpt/tlsrpt/internal/pkgerr"
)

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
	Auth           arrival.Auth
	ResultType     string
	FailedSessions int64
	Start, End     time.Time
}

// Evidence lists every failure detail naming ip as sending-mta-ip, newest
// report first (latest end, then latest start, then latest stored; a
// report's details by result-type, then sessions). For many
// addresses use EvidenceFor, EvidenceAll or EvidenceEach: they read them
// all in a few statements.
func (s *Store) Evidence(ctx context.Context, ip netip.Addr) ([]Evidence, error) {
	if !ip.IsValid() {
		return nil, nil
	}
	m, err := s.EvidenceFor(ctx, []netip.Addr{ip})
	if err != nil {
		return nil, err
	}
	return m[canonAddr(ip)], nil
}

// canonAddr is the form of an address the store keeps and keys its maps
// on: unmapped, without zone.
func canonAddr(a netip.Addr) netip.Addr { return a.Unmap().WithZone("") }

// EvidenceBatch is how many addresses EvidenceFor asks for in one
// statement.
const EvidenceBatch = 500

// EvidenceFor lists, for each of ips, every failure detail naming it as
// sending-mta-ip, as Evidence does, with one statement per EvidenceBatch
// addresses (one prepared statement for all batches) and one per
// EvidenceBatch reports read. The map is keyed by the canonical address
// (netip.Addr.Unmap, without zone); addresses no detail names are absent,
// as are invalid ones. Its memory is that of the evidence returned: to
// walk many addresses in bounded memory, call it on a slice of them at a
// time, or use EvidenceEach.
func (s *Store) EvidenceFor(ctx context.Context, ips []netip.Addr) (map[netip.Addr][]Evidence, error) {
	m, err := s.evidenceFor(ctx, ips)
	if err != nil {
		return nil, pkgerr.Errorf("store", "listing evidence for %d addresses: %w", len(ips), err)
	}
	return m, nil
}

// EvidenceAll lists the evidence of every address Failing(since) lists:
// for each address named by a report ending at or after since (every
// address for the zero since), every failure detail naming it, whatever
// its report's date, as Evidence does. It runs two statements whatever the
// number of addresses, and holds all that evidence in memory (about 250
// bytes a detail): over a large database, EvidenceEach walks the same in
// bounded memory.
func (s *Store) EvidenceAll(ctx context.Context, since time.Time) (map[netip.Addr][]Evidence, error) {
	m := map[netip.Addr][]Evidence{}
	err := s.evidenceEach(ctx, since, false, func(ip netip.Addr, ev []Evidence) error {
		m[ip] = ev
		return nil
	})
	if err != nil {
		return nil, pkgerr.Errorf("store", "listing evidence since %v: %w", since, err)
	}
	return m, nil
}

// EvidenceEach calls fn once for each address EvidenceAll(since) would
// list (in no promised order) with its evidence. The slice is reused once
// fn returns: fn copies what it keeps. It reads with two
// statements (the reports, then the details through an index that holds
// all they need) and holds one address's evidence at a time besides what
// fn keeps. An error from fn ends the walk and is returned as it is.
func (s *Store) EvidenceEach(ctx context.Context, since time.Time, fn func(netip.Addr, []Evidence) error) error {
	var fnErr error
	err := s.evidenceEach(ctx, since, true, func(ip netip.Addr, ev []Evidence) error {
		fnErr = fn(ip, ev)
		return fnErr
	})
	if fnErr != nil {
		return fnErr
	}
	if err != nil {
		return pkgerr.Errorf("store", "listing evidence since %v: %w", since, err)
	}
	return nil
}

// evidenceSQL reads failure details address by address from the index
// failure_details_ip, which holds every column it reads.
const evidenceSQL = `SELECT sending_ip, report_id, result_type, sessions FROM failure_details`

// evidenceEach walks the evidence address by address; with reuse, one
// slice holds each address's evidence in turn (at a year of reports, the
// allocations of a fresh slice per address were a sixth of review).
func (s *Store) evidenceEach(ctx context.Context, since time.Time, reuse bool, fn func(netip.Addr, []Evidence) error) error {
	conn, done, err := s.read(ctx)
	if err != nil {
		return err
	}
	defer done()
	er := &evidenceReader{conn: conn}
	defer er.close()
	if err := er.loadAllReports(ctx); err != nil {
		return err
	}
	var rows *sql.Rows
	if since.IsZero() {
		rows, err = conn.QueryContext(ctx, evidenceSQL+` WHERE sending_ip IS NOT NULL ORDER BY sending_ip`)
	} else {
		rows, err = conn.QueryContext(ctx, evidenceSQL+` WHERE sending_ip IN (
			SELECT d.sending_ip FROM reports r JOIN failure_details d ON d.report_id = r.id
			WHERE r.end_time >= ? AND d.sending_ip IS NOT NULL)
			ORDER BY sending_ip`, since.Unix())
	}
	if err != nil {
		return err
	}
	var buf []Evidence
	return er.scan(rows, func(ip string, ds []detailRow) error {
		a, ev, err := er.build(ip, ds, buf)
		if err != nil {
			return err
		}
		if reuse {
			buf = ev
		}
		return fn(a, ev)
	})
}

func (s *Store) evidenceFor(ctx context.Context, ips []netip.Addr) (map[netip.Addr][]Evidence, error) {
	return readBatches(ctx, s, ips, evidenceQuery, readEvidence)
}

// evidenceQuery is evidenceFor's statement for n addresses.
func evidenceQuery(n int) string {
	return evidenceSQL + ` WHERE sending_ip IN (` + placeholders(n) + `) ORDER BY sending_ip`
}

// readBatches is the frame of EvidenceFor and ReportersFor: it reads the
// canonical addresses of ips, once each, EvidenceBatch at a time, in one
// read transaction, with query (for n addresses) prepared once; batch
// reads each batch's rows from stmt run with args into m.
func readBatches[V any](ctx context.Context, s *Store, ips []netip.Addr, query func(n int) string,
	batch func(ctx context.Context, er *evidenceReader, stmt *sql.Stmt, args []any, m map[netip.Addr]V) error) (map[netip.Addr]V, error) {
	want := canonStrings(ips)
	m := map[netip.Addr]V{}
	if len(want) == 0 {
		return m, nil
	}
	conn, done, err := s.read(ctx)
	if err != nil {
		return nil, err
	}
	defer done()
	er := &evidenceReader{conn: conn}
	defer er.close()
	stmt, err := conn.PrepareContext(ctx, query(min(len(want), EvidenceBatch)))
	if err != nil {
		return nil, err
	}
	defer stmt.Close()
	args := make([]any, min(len(want), EvidenceBatch))
	if err := inBatches(want, args, func() error { return batch(ctx, er, stmt, args, m) }); err != nil {
		return nil, err
	}
	return m, nil
}

// readEvidence runs one batch of evidenceFor's statement into m: the
// details, then the reports they name that er has not read yet.
func readEvidence(ctx context.Context, er *evidenceReader, stmt *sql.Stmt, args []any, m map[netip.Addr][]Evidence) error {
	rows, err := stmt.QueryContext(ctx, args...)
	if err != nil {
		return err
	}
	type pending struct {
		ip string
		ds []detailRow
	}
	var runs []pending
	if err := er.scan(rows, func(ip string, ds []detailRow) error {
		runs = append(runs, pending{ip, slices.Clone(ds)})
		return nil
	}); err != nil {
		return err
	}
	var keys []int64
	for _, r := range runs {
		for _, d := range r.ds {
			keys = append(keys, d.report)
		}
	}
	if err := er.loadReports(ctx, keys); err != nil {
		return err
	}
	for _, r := range runs {
		a, ev, err := er.build(r.ip, r.ds, nil)
		if err != nil {
			return err
		}
		m[a] = ev
	}
	return nil
}

// inBatches calls fn once per batch of keys, len(args) of them at a
// time, with args holding the batch: the last batch repeats its last key,
// so that one prepared statement serves every batch.
func inBatches[K any](keys []K, args []any, fn func() error) error {
	for len(keys) > 0 {
		batch := keys[:min(len(args), len(keys))]
		keys = keys[len(batch):]
		for i := range args {
			args[i] = batch[min(i, len(batch)-1)]
		}
		if err := fn(); err != nil {
			return err
		}
	}
	return nil
}

// placeholders returns n SQL parameter markers, comma-separated.
func placeholders(n int) string {
	return strings.TrimSuffix(strings.Repeat("?,", n), ",")
}

// reportInfo is what Evidence tells of a report, read once per report.
type reportInfo struct {
	org, id, contact, submitter, fromDomain, transport string
	auth                                               arrival.Auth
	start, end                                         time.Time
}

// detailRow is one row of evidenceSQL.
type detailRow struct {
	report, sessions int64
	result           string
	rep              *reportInfo // set by build
}

// evidenceReader turns the rows of evidenceSQL into Evidence, reading each
// report once: all of them (loadAllReports) or those it lacks, by key in
// batches (loadReports).
type evidenceReader struct {
	conn    *sql.Conn
	reports map[int64]*reportInfo
	stmt    *sql.Stmt // reports by key, EvidenceBatch keys at a time
	in      interner
}

const reportCols = `SELECT id, org, report_id, contact, submitter, from_domain, transport,
	auth_authenticated, auth_method, auth_domain, auth_detail, start_time, end_time FROM reports`

func (er *evidenceReader) loadAllReports(ctx context.Context) error {
	rows, err := er.conn.QueryContext(ctx, reportCols)
	if err != nil {
		return err
	}
	return er.addReports(rows)
}

func (er *evidenceReader) addReports(rows *sql.Rows) error {
	defer rows.Close()
	if er.reports == nil {
		er.reports = map[int64]*reportInfo{}
	}
	for rows.Next() {
		var (
			key        int64
			r          reportInfo
			start, end int64
		)
		if err := rows.Scan(&key, &r.org, &r.id, &r.contact, &r.submitter, &r.fromDomain, &r.transport,
			&r.auth.Authenticated, &r.auth.Method, &r.auth.Domain, &r.auth.Detail, &start, &end); err != nil {
			return err
		}
		r.start, r.end = time.Unix(start, 0).UTC(), time.Unix(end, 0).UTC()
		er.reports[key] = &r
	}
	return rows.Err()
}

// loadReports reads the reports of keys it has not read, EvidenceBatch
// at a time with one prepared statement.
func (er *evidenceReader) loadReports(ctx context.Context, keys []int64) error {
	if er.reports == nil {
		er.reports = map[int64]*reportInfo{}
	}
	var missing []int64
	for _, k := range keys {
		if _, ok := er.reports[k]; !ok {
			er.reports[k] = nil // asked for once
			missing = append(missing, k)
		}
	}
	if len(missing) == 0 {
		return nil
	}
	if er.stmt == nil {
		var err error
		er.stmt, err = er.conn.PrepareContext(ctx, reportCols+` WHERE id IN (`+placeholders(EvidenceBatch)+`)`)
		if err != nil {
			return err
		}
	}
	args := make([]any, EvidenceBatch)
	return inBatches(missing, args, func() error {
		rows, err := er.stmt.QueryContext(ctx, args...)
		if err != nil {
			return err
		}
		return er.addReports(rows)
	})
}

// newestFirst orders detail rows: latest end first, then latest start,
// then latest stored report; then by result-type and sessions.
func newestFirst(x, y detailRow) int {
	if c := y.rep.end.Compare(x.rep.end); c != 0 {
		return c
	}
	if c := y.rep.start.Compare(x.rep.start); c != 0 {
		return c
	}
	if c := cmp.Compare(y.report, x.report); c != 0 {
		return c
	}
	if c := strings.Compare(x.result, y.result); c != 0 {
		return c
	}
	return cmp.Compare(x.sessions, y.sessions)
}

// close releases the reader's prepared statement.
func (er *evidenceReader) close() {
	if er.stmt != nil {
		er.stmt.Close()
	}
}

// scan reads rows of evidenceSQL, ordered by address, and calls run with
// each address's rows (a slice scan reuses once run returns).
func (er *evidenceReader) scan(rows *sql.Rows, run func(ip string, ds []detailRow) error) error {
	defer rows.Close()
	var (
		cur   []detailRow
		curIP string
		ip    sql.RawBytes
		rt    sql.RawBytes
	)
	for rows.Next() {
		var d detailRow
		if err := rows.Scan(&ip, &d.report, &rt, &d.sessions); err != nil {
			return err
		}
		if len(cur) > 0 && string(ip) != curIP {
			if err := run(curIP, cur); err != nil {
				return err
			}
			cur = cur[:0]
		}
		if len(cur) == 0 {
			curIP = string(ip)
		}
		d.result = er.in.intern(rt)
		cur = append(cur, d)
	}
	if err := rows.Err(); err != nil {
		return err
	}
	if len(cur) > 0 {
		return run(curIP, cur)
	}
	return nil
}

// build turns one address's rows into its evidence, newest report first
// (latest end, then latest start, then latest stored), a report's details
// by result-type then sessions (nothing else tells them apart). Every
// report must be read. The evidence goes into buf when it is large
// enough.
func (er *evidenceReader) build(ip string, ds []detailRow, buf []Evidence) (netip.Addr, []Evidence, error) {
	a, err := netip.ParseAddr(ip)
	if err != nil {
		return netip.Addr{}, nil, fmt.Errorf("stored address: %w", err)
	}
	for i := range ds {
		if ds[i].rep = er.reports[ds[i].report]; ds[i].rep == nil {
			// Cannot happen inside one read transaction: details go with
			// their report.
			return netip.Addr{}, nil, fmt.Errorf("report %d of a failure detail naming %s is missing", ds[i].report, ip)
		}
	}
	// The index gives an address's rows by report key, oldest stored
	// first: reversed, they are usually in order already.
	slices.Reverse(ds)
	if !slices.IsSortedFunc(ds, newestFirst) {
		slices.SortFunc(ds, newestFirst)
	}
	ev := buf[:0]
	if cap(ev) < len(ds) {
		ev = make([]Evidence, len(ds), max(len(ds), 2*cap(buf)))
	}
	ev = ev[:len(ds)]
	for i, d := range ds {
		r := d.rep
		ev[i] = Evidence{ReportKey: d.report, Organization: r.org, ReportID: r.id, ContactInfo: r.contact,
			Submitter: r.submitter, FromDomain: r.fromDomain, Transport: r.transport, Auth: r.auth,
			ResultType: d.result, FailedSessions: clampCount(d.sessions), Start: r.start, End: r.end}
	}
	return a, ev, nil
}

// Reporter is one source of the reports naming an address: what trust
// weighs of a report (who sent it, how it came, how it was
// authenticated), with how many reports from that source name it.
type Reporter struct {
	Organization string
	ContactInfo  string
	Submitter    string
	FromDomain   string
	Transport    string
	Auth         arrival.Auth
	Reports      int64 // reports from this source naming the address
}

// ReportersFor lists, for each of ips, the distinct sources of the
// reports naming it as sending-mta-ip, in the order their newest report
// takes in Evidence (latest end, then latest start, then latest stored),
// each with its count of reports. It is Evidence folded by source,
// counted in the database: what it returns is bounded by the sources,
// not by the history of the address. The map is keyed as EvidenceFor's.
func (s *Store) ReportersFor(ctx context.Context, ips []netip.Addr) (map[netip.Addr][]Reporter, error) {
	m, err := s.reportersFor(ctx, ips)
	if err != nil {
		return nil, pkgerr.Errorf("store", "listing the reporters of %d addresses: %w", len(ips), err)
	}
	return m, nil
}

// reporterSourcesSQL folds the reports naming each address (distinct: a
// report naming it in several details counts once) by source; pos is the
// position of the source's newest report in Evidence's order, numbered on
// narrow rows (the report keys) before the sources are joined: sorting
// the wide rows twice took half again as long.
const reporterSourcesSQL = `SELECT n.ip, r.org, r.contact, r.submitter, r.from_domain, r.transport,
	r.auth_authenticated, r.auth_method, r.auth_domain, r.auth_detail, COUNT(*), MIN(n.pos) FROM (
	SELECT d.ip, r.id,
		ROW_NUMBER() OVER (PARTITION BY d.ip ORDER BY r.end_time DESC, r.start_time DESC, r.id DESC) AS pos
	FROM (SELECT DISTINCT sending_ip AS ip, report_id FROM failure_details WHERE sending_ip IN (%s)) d
	JOIN reports r ON r.id = d.report_id) n
JOIN reports r ON r.id = n.id
GROUP BY n.ip, r.org, r.contact, r.submitter, r.from_domain, r.transport,
	r.auth_authenticated, r.auth_method, r.auth_domain, r.auth_detail
ORDER BY n.ip, MIN(n.pos)`

func (s *Store) reportersFor(ctx context.Context, ips []netip.Addr) (map[netip.Addr][]Reporter, error) {
	return readBatches(ctx, s, ips, func(n int) string { return fmt.Sprintf(reporterSourcesSQL, placeholders(n)) }, scanReporters)
}

// scanReporters runs one batch of reporterSourcesSQL into m (it reads
// no report: the statement gives all it needs).
func scanReporters(ctx context.Context, _ *evidenceReader, stmt *sql.Stmt, args []any, m map[netip.Addr][]Reporter) error {
	rows, err := stmt.QueryContext(ctx, args...)
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		var (
			ip  string
			r   Reporter
			pos int64
		)
		if err := rows.Scan(&ip, &r.Organization, &r.ContactInfo, &r.Submitter, &r.FromDomain, &r.Transport,
			&r.Auth.Authenticated, &r.Auth.Method, &r.Auth.Domain, &r.Auth.Detail, &r.Reports, &pos); err != nil {
			return err
		}
		a, err := netip.ParseAddr(ip)
		if err != nil {
			return fmt.Errorf("stored address: %w", err)
		}
		m[a] = append(m[a], r)
	}
	return rows.Err()
}

// canonStrings is the canonical form of each valid address of ips, once
// each, in order.
func canonStrings(ips []netip.Addr) []string {
	var want []string
	seen := map[netip.Addr]bool{}
	for _, ip := range ips {
		if !ip.IsValid() {
			continue
		}
		if a := canonAddr(ip); !seen[a] {
			seen[a] = true
			want = append(want, a.String())
		}
	}
	return want
}

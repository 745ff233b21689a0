package store

import (
	"context"
	"database/sql"
	"math/bits"
	"slices"
	"strconv"

	"github.com/tlsrpt/tlsrpt/internal/tally"
)

// MaxSum is where stored and computed sums of session counts saturate:
// 2^62, far beyond any real count, exactly representable as a float, and
// with room to add one report's total (at most MaxSum, see AddReport)
// without overflowing an int64.
const MaxSum = 1 << 62

// maxSum is MaxSum as an SQL literal.
var maxSum = strconv.FormatInt(MaxSum, 10)

// clampCount brings a stored count into [0, MaxCount]: AddReport stores
// none outside, but the database may have been written by something else.
func clampCount(n int64) int64 { return min(max(n, 0), MaxCount) }

// satAdd adds two counts in [0, MaxSum], saturating at MaxSum.
func satAdd(a, b int64) int64 { return tally.Add(a, b, MaxSum) }

// The per-address aggregate, what Failing reads for all time: one row per
// sending-mta-ip in addresses, with its failed sessions (saturating at
// MaxSum), distinct reports, first start and last end, and its distinct
// organization-names and result-types as bit masks over labels; a second
// organization mask, auth_org_mask, holds the names that authenticated
// reports give (anyone can write an organization-name: review marks the
// others).
//
// labels gives each organization-name (kind "org") and result-type (kind
// "type") a bit, first come first served, up to maxLabels of each kind;
// the result-types of RFC 8460 have theirs from the start. A name without
// a bit (a flood of made-up names took them all) is kept per address in
// address_orgs (with whether an authenticated report gives it) or
// address_types instead: slower to read, as exact.
//
// AddReport adds each new report with a few set-based statements (portable
// SQL: INSERT ... SELECT ... ON CONFLICT, SUM(DISTINCT) of single-bit
// masks for their union, | to merge). Deleting failure details, by
// anyone, marks their addresses in addresses_stale (a trigger), and
// refreshStale recomputes those from the details that remain.
const (
	kindOrg   = "org"
	kindType  = "type"
	maxLabels = 62 // bits 0 to 61 of an int64
)

// rfc8460Types are the result-types of RFC 8460 section 4.3.
var rfc8460Types = []string{
	"starttls-not-supported", "certificate-host-mismatch", "certificate-expired",
	"certificate-not-trusted", "validation-failure",
	"tlsa-invalid", "dnssec-invalid", "dane-required",
	"sts-policy-fetch-error", "sts-policy-invalid", "sts-webpki-invalid",
}

// labelSet is the labels table in memory.
type labelSet struct {
	masks map[[2]string]int64 // (kind, name) → mask
	count map[string]int      // kind → labels of that kind
}

func readLabels(ctx context.Context, q queryer) (*labelSet, error) {
	ls := &labelSet{masks: map[[2]string]int64{}, count: map[string]int{}}
	err := eachRow(ctx, q, func(rows *sql.Rows) error {
		var (
			kind, name string
			mask       int64
		)
		if err := rows.Scan(&kind, &name, &mask); err != nil {
			return err
		}
		ls.masks[[2]string{kind, name}] = mask
		ls.count[kind]++
		return nil
	}, `SELECT kind, name, mask FROM labels`)
	if err != nil {
		return nil, err
	}
	return ls, nil
}

// ensure gives name a bit of kind if it has none and bits are left, and
// returns its mask, 0 when it has none.
func (ls *labelSet) ensure(ctx context.Context, tx *sql.Tx, kind, name string) (int64, error) {
	if m, ok := ls.masks[[2]string{kind, name}]; ok {
		return m, nil
	}
	n := ls.count[kind]
	if n >= maxLabels {
		return 0, nil
	}
	m := int64(1) << n
	if _, err := tx.ExecContext(ctx, `INSERT INTO labels (kind, name, mask) VALUES (?, ?, ?)`, kind, name, m); err != nil {
		return 0, err
	}
	ls.masks[[2]string{kind, name}] = m
	ls.count[kind]++
	return m, nil
}

// names decodes a mask of kind into its sorted names; masks repeat, so
// decoded lists are shared (capacity = length: appending copies).
func (ls *labelSet) names(kind string, mask int64, cache map[int64][]string) []string {
	if l, ok := cache[mask]; ok {
		return l
	}
	var l []string
	if mask != 0 {
		byBit := map[int]string{}
		for k, m := range ls.masks {
			if k[0] == kind {
				byBit[bits.TrailingZeros64(uint64(m))] = k[1]
			}
		}
		for u := uint64(mask); u != 0; u &= u - 1 {
			if name, ok := byBit[bits.TrailingZeros64(u)]; ok {
				l = append(l, name)
			}
		}
		slices.Sort(l)
		l = l[:len(l):len(l)]
	}
	cache[mask] = l
	return l
}

var (
	// aggAddSQL adds one report's details (report_id = ?) to addresses.
	aggAddSQL = `INSERT INTO addresses (ip, sessions, reports, first_seen, last_seen, org_mask, auth_org_mask, type_mask)
	SELECT d.sending_ip, SUM(d.sessions), 1, ?, ?, ?, ?, COALESCE(SUM(DISTINCT l.mask), 0)
	FROM failure_details d LEFT JOIN labels l ON l.kind = '` + kindType + `' AND l.name = d.result_type
	WHERE d.report_id = ? AND d.sending_ip IS NOT NULL
	GROUP BY d.sending_ip
	ON CONFLICT (ip) DO UPDATE SET
		sessions = CASE WHEN addresses.sessions > ` + maxSum + ` - excluded.sessions THEN ` + maxSum + `
			ELSE addresses.sessions + excluded.sessions END,
		reports = addresses.reports + 1,
		first_seen = CASE WHEN excluded.first_seen < addresses.first_seen THEN excluded.first_seen
			ELSE addresses.first_seen END,
		last_seen = CASE WHEN excluded.last_seen > addresses.last_seen THEN excluded.last_seen
			ELSE addresses.last_seen END,
		org_mask = addresses.org_mask | excluded.org_mask,
		auth_org_mask = addresses.auth_org_mask | excluded.auth_org_mask,
		type_mask = addresses.type_mask | excluded.type_mask`
	// aggAddOrgSQL keeps the organization-name (?) of a report (?) per
	// address when it has no bit, and whether an authenticated report (1)
	// gives it.
	aggAddOrgSQL = `INSERT INTO address_orgs (ip, org, authenticated)
	SELECT DISTINCT sending_ip, ?, CAST(? AS BIGINT) FROM failure_details WHERE report_id = ? AND sending_ip IS NOT NULL
	ON CONFLICT (ip, org) DO UPDATE SET authenticated = address_orgs.authenticated | excluded.authenticated`
	// aggAddTypesSQL keeps the result-types without a bit of a report (?)
	// per address.
	aggAddTypesSQL = `INSERT INTO address_types (ip, result_type)
	SELECT DISTINCT d.sending_ip, d.result_type FROM failure_details d
	WHERE d.report_id = ? AND d.sending_ip IS NOT NULL
		AND NOT EXISTS (SELECT 1 FROM labels l WHERE l.kind = '` + kindType + `' AND l.name = d.result_type)
	ON CONFLICT DO NOTHING`
)

// addToAggregate adds the stored report id of r (its details inserted),
// authenticated or not, to the per-address aggregate.
func addToAggregate(ctx context.Context, tx *sql.Tx, id int64, org string, authed bool, types []string, start, end int64) error {
	ls, err := readLabels(ctx, tx)
	if err != nil {
		return err
	}
	orgMask, err := ls.ensure(ctx, tx, kindOrg, org)
	if err != nil {
		return err
	}
	typesLeft := false
	for _, t := range types {
		m, err := ls.ensure(ctx, tx, kindType, t)
		if err != nil {
			return err
		}
		typesLeft = typesLeft || m == 0
	}
	authMask, authFlag := int64(0), int64(0)
	if authed {
		authMask, authFlag = orgMask, 1
	}
	if _, err := tx.ExecContext(ctx, aggAddSQL, start, end, orgMask, authMask, id); err != nil {
		return err
	}
	if orgMask == 0 {
		if _, err := tx.ExecContext(ctx, aggAddOrgSQL, org, authFlag, id); err != nil {
			return err
		}
	}
	if typesLeft {
		if _, err := tx.ExecContext(ctx, aggAddTypesSQL, id); err != nil {
			return err
		}
	}
	return nil
}

// refreshStaleSQL recomputes the aggregate of the addresses marked stale
// from their remaining details. The sum is taken in floating point (exact
// below 2^53, and it cannot overflow) and saturated at MaxSum.
var refreshStaleSQL = []string{
	`DELETE FROM addresses WHERE ip IN (SELECT ip FROM addresses_stale)`,
	`DELETE FROM address_orgs WHERE ip IN (SELECT ip FROM addresses_stale)`,
	`DELETE FROM address_types WHERE ip IN (SELECT ip FROM addresses_stale)`,
	`INSERT INTO addresses (ip, sessions, reports, first_seen, last_seen, org_mask, auth_org_mask, type_mask)
	SELECT d.sending_ip,
		CASE WHEN SUM(CAST(d.sessions AS DOUBLE PRECISION)) >= ` + maxSum + ` THEN ` + maxSum + `
			ELSE CAST(SUM(CAST(d.sessions AS DOUBLE PRECISION)) AS BIGINT) END,
		COUNT(DISTINCT d.report_id), MIN(r.start_time), MAX(r.end_time),
		COALESCE(SUM(DISTINCT lo.mask), 0),
		COALESCE(SUM(DISTINCT CASE WHEN r.auth_authenticated <> 0 THEN lo.mask END), 0),
		COALESCE(SUM(DISTINCT lt.mask), 0)
	FROM failure_details d JOIN reports r ON r.id = d.report_id
	LEFT JOIN labels lo ON lo.kind = '` + kindOrg + `' AND lo.name = r.org
	LEFT JOIN labels lt ON lt.kind = '` + kindType + `' AND lt.name = d.result_type
	WHERE d.sending_ip IN (SELECT ip FROM addresses_stale)
	GROUP BY d.sending_ip`,
	`INSERT INTO address_orgs (ip, org, authenticated)
	SELECT d.sending_ip, r.org, MAX(CASE WHEN r.auth_authenticated <> 0 THEN 1 ELSE 0 END)
	FROM failure_details d JOIN reports r ON r.id = d.report_id
	WHERE d.sending_ip IN (SELECT ip FROM addresses_stale)
		AND NOT EXISTS (SELECT 1 FROM labels l WHERE l.kind = '` + kindOrg + `' AND l.name = r.org)
	GROUP BY d.sending_ip, r.org`,
	`INSERT INTO address_types (ip, result_type)
	SELECT DISTINCT d.sending_ip, d.result_type FROM failure_details d
	WHERE d.sending_ip IN (SELECT ip FROM addresses_stale)
		AND NOT EXISTS (SELECT 1 FROM labels l WHERE l.kind = '` + kindType + `' AND l.name = d.result_type)`,
	`DELETE FROM addresses_stale`,
}

// refreshStale brings the aggregate of the addresses marked stale up to
// date, if any are. Whoever deletes reports or details in a transaction
// should call it before committing; until someone does, Failing computes
// from the details.
func refreshStale(ctx context.Context, tx *sql.Tx) error {
	var stale bool
	if err := tx.QueryRowContext(ctx, `SELECT EXISTS (SELECT 1 FROM addresses_stale)`).Scan(&stale); err != nil {
		return err
	}
	if !stale {
		return nil
	}
	for _, q := range refreshStaleSQL {
		if _, err := tx.ExecContext(ctx, q); err != nil {
			return err
		}
	}
	return nil
}

// buildAggregate builds the aggregate of a database that had none, or
// rebuilds it (schema version 5): labels for the RFC 8460 result-types
// and for the organizations with the most reports (those it had are
// kept), then every address recomputed as if stale.
func buildAggregate(ctx context.Context, tx *sql.Tx) error {
	ls, err := readLabels(ctx, tx)
	if err != nil {
		return err
	}
	for _, t := range rfc8460Types {
		if _, err := ls.ensure(ctx, tx, kindType, t); err != nil {
			return err
		}
	}
	rows, err := tx.QueryContext(ctx, `SELECT org FROM reports GROUP BY org ORDER BY COUNT(*) DESC, org LIMIT ?`, maxLabels)
	if err != nil {
		return err
	}
	var orgs []string
	for rows.Next() {
		var o string
		if err := rows.Scan(&o); err != nil {
			rows.Close()
			return err
		}
		orgs = append(orgs, o)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return err
	}
	for _, o := range orgs {
		if _, err := ls.ensure(ctx, tx, kindOrg, o); err != nil {
			return err
		}
	}
	if _, err := tx.ExecContext(ctx, markAllStaleSQL); err != nil {
		return err
	}
	return refreshStale(ctx, tx)
}

// markAllStaleSQL marks every address stale.
const markAllStaleSQL = `INSERT INTO addresses_stale (ip)
	SELECT DISTINCT sending_ip FROM failure_details WHERE sending_ip IS NOT NULL
	ON CONFLICT DO NOTHING`

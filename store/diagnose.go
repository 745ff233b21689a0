package store

import (
	"cmp"
	"context"
	"database/sql"
	"encoding/json"
	"net/netip"
	"slices"
	"strings"
	"time"

	"github.com/tlsrpt/tlsrpt/internal/pkgerr"
)

// MaxPolicyStrings bounds the distinct policy-strings kept per domain.
const MaxPolicyStrings = 20

// DomainFailures is what the authenticated reports say of one policy
// domain's failures: what tlsrpt diagnose probes the causes of.
type DomainFailures struct {
	Domain         string     // policy-domain, lower case, without the final dot
	FailedSessions int64      // sum of total-failure-session-count, saturated
	ResultTypes    []string   // sorted, distinct
	ReceivingMX    []string   // sorted, distinct receiving-mx-hostnames
	PolicyStrings  [][]string // distinct policy-strings of sts policies, at most MaxPolicyStrings
}

// FailingDomains lists the policy domains with failed sessions in the
// authenticated reports whose date range ends at or after since, most
// failed sessions first. Reports that are not authenticated are left out:
// a forged report must not choose what is probed.
func (s *Store) FailingDomains(ctx context.Context, since time.Time) ([]DomainFailures, error) {
	out, err := s.failingDomains(ctx, "r.end_time >= ?", since.Unix())
	if err != nil {
		return nil, pkgerr.Errorf("store", "listing failing policy domains: %w", s.classify(err))
	}
	return out, nil
}

// FailingDomainsStored is FailingDomains of the authenticated reports
// stored from from up to (not including) to: what tlsrpt digest probes.
func (s *Store) FailingDomainsStored(ctx context.Context, from, to time.Time) ([]DomainFailures, error) {
	out, err := s.failingDomains(ctx, "r.stored >= ? AND r.stored < ?", from.Unix(), to.Unix())
	if err != nil {
		return nil, pkgerr.Errorf("store", "listing failing policy domains: %w", s.classify(err))
	}
	return out, nil
}

// failingDomains runs the queries with the condition on r (a constant of
// this file, never input) and its arguments.
func (s *Store) failingDomains(ctx context.Context, cond string, args ...any) ([]DomainFailures, error) {
	byDomain := map[string]*DomainFailures{}
	get := func(d string) *DomainFailures {
		d = strings.ToLower(strings.TrimSuffix(d, "."))
		if byDomain[d] == nil {
			byDomain[d] = &DomainFailures{Domain: d}
		}
		return byDomain[d]
	}
	if err := s.domainPolicies(ctx, cond, args, get); err != nil {
		return nil, err
	}
	if err := s.domainDetails(ctx, cond, args, get); err != nil {
		return nil, err
	}
	out := make([]DomainFailures, 0, len(byDomain))
	for _, d := range byDomain {
		slices.Sort(d.ResultTypes)
		slices.Sort(d.ReceivingMX)
		out = append(out, *d)
	}
	slices.SortFunc(out, func(a, b DomainFailures) int {
		return cmp.Or(cmp.Compare(b.FailedSessions, a.FailedSessions), strings.Compare(a.Domain, b.Domain))
	})
	return out, nil
}

// domainPolicies adds up the failed sessions and keeps the sts
// policy-strings of the failing policies.
func (s *Store) domainPolicies(ctx context.Context, cond string, args []any, get func(string) *DomainFailures) error {
	seen := map[string]bool{}
	return eachRow(ctx, s.db, func(rows *sql.Rows) error {
		var (
			domain, typ, strs string
			failed            int64
		)
		if err := rows.Scan(&domain, &typ, &strs, &failed); err != nil {
			return err
		}
		d := get(domain)
		d.FailedSessions = satAdd(d.FailedSessions, clampCount(failed))
		key := d.Domain + "\x00" + strs
		if typ != "sts" || seen[key] || len(d.PolicyStrings) >= MaxPolicyStrings {
			return nil
		}
		seen[key] = true
		var lines []string
		if json.Unmarshal([]byte(strs), &lines) == nil && len(lines) > 0 {
			d.PolicyStrings = append(d.PolicyStrings, lines)
		}
		return nil
	}, `SELECT p.domain, p.type, p.strings, p.failed
		FROM policies p JOIN reports r ON r.id = p.report_id
		WHERE r.auth_authenticated = 1 AND `+cond+` AND p.failed > 0`, args...)
}

// domainDetails collects the result types and receiving MX host names of
// the failure details.
func (s *Store) domainDetails(ctx context.Context, cond string, args []any, get func(string) *DomainFailures) error {
	seen := map[string]bool{}
	return eachRow(ctx, s.db, func(rows *sql.Rows) error {
		var domain, typ, mx string
		if err := rows.Scan(&domain, &typ, &mx); err != nil {
			return err
		}
		d := get(domain)
		if k := d.Domain + "\x00t\x00" + typ; typ != "" && !seen[k] {
			seen[k] = true
			d.ResultTypes = append(d.ResultTypes, typ)
		}
		if k := d.Domain + "\x00m\x00" + mx; mx != "" && !seen[k] {
			seen[k] = true
			d.ReceivingMX = append(d.ReceivingMX, mx)
		}
		return nil
	}, `SELECT DISTINCT p.domain, d.result_type, d.receiving_mx
		FROM failure_details d JOIN policies p ON p.id = d.policy_id JOIN reports r ON r.id = d.report_id
		WHERE r.auth_authenticated = 1 AND `+cond, args...)
}

// MaxAddressDomains bounds the policy domains AddressDomains keeps per
// address.
const MaxAddressDomains = 3

// AddressDomains lists, per sending address, the policy domains (lower
// case, without the final dot, sorted, at most MaxAddressDomains) that
// authenticated reports whose range ends at or after since name its
// failures for: what tlsrpt diagnose probes for that address. One
// statement, whatever the number of addresses; a forged report adds
// nothing.
func (s *Store) AddressDomains(ctx context.Context, since time.Time) (map[netip.Addr][]string, error) {
	out, err := s.addressDomains(ctx, since.Unix())
	if err != nil {
		return nil, pkgerr.Errorf("store", "listing the policy domains of failing addresses: %w", s.classify(err))
	}
	return out, nil
}

func (s *Store) addressDomains(ctx context.Context, since int64) (map[netip.Addr][]string, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT DISTINCT d.sending_ip, p.domain
		FROM failure_details d JOIN policies p ON p.id = d.policy_id JOIN reports r ON r.id = d.report_id
		WHERE r.auth_authenticated = 1 AND r.end_time >= ? AND d.sending_ip IS NOT NULL
		ORDER BY d.sending_ip, p.domain`, since)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := map[netip.Addr][]string{}
	for rows.Next() {
		var (
			ip     sql.NullString
			domain string
		)
		if err := rows.Scan(&ip, &domain); err != nil {
			return nil, err
		}
		a, err := parseIP(ip)
		if err != nil || !a.IsValid() {
			continue
		}
		domain = strings.ToLower(strings.TrimSuffix(domain, "."))
		if l := out[a]; len(l) < MaxAddressDomains && !slices.Contains(l, domain) {
			out[a] = append(l, domain)
		}
	}
	for _, l := range out {
		slices.Sort(l)
	}
	return out, rows.Err()
}

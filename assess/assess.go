// Package assess joins what tlsrpt knows about failing sending addresses:
// the evidence in the store (which reports name an address, how they were
// authenticated), the allowlist's proofs (is the address the reporter's)
// and the ban backends' status (is it banned here). It makes the rows of
// `tlsrpt review`, the advice lines of the filter's summary, and the
// candidates of `tlsrpt redeem`.
//
// Every step is set-based: one pass over the store's evidence for all
// addresses, the allowlist's lookups for all of them under one DNS budget,
// one listing per ban backend.
package assess

import (
	"context"
	"fmt"
	"net/netip"
	"slices"
	"time"

	"github.com/tlsrpt/tlsrpt/allowlist"
	"github.com/tlsrpt/tlsrpt/redeem"
	"github.com/tlsrpt/tlsrpt/store"
)

// Transport names how a report arrived.
type Transport string

// The transports of arrival.Source.
const (
	Mail   Transport = "mail"
	HTTPS  Transport = "https"
	Import Transport = "import"
)

// Row is one failing sending address: what the reports say, whether it is
// trusted and why, and where it is banned.
type Row struct {
	store.FailingAddress
	Trusted bool
	Why     string // one line: which reporter and which proof, or what is missing
	// DNSFailed is set when a DNS failure kept a proof from being
	// decided: "not trusted" then means "not known", not "not theirs".
	DNSFailed bool
	// Bans is where the address is banned; nil when no backend was
	// consulted.
	Bans []redeem.Ban
	// Unknown are the backends that could not tell, with the reason: the
	// address may be banned there.
	Unknown []redeem.BackendError
	// Redeemed is the outcome of the address's redeem; nil when it was
	// never redeemed or outcomes were not asked for.
	Redeemed *Outcome
}

// Options configure Review.
type Options struct {
	// Since counts only reports whose range ends at or after it; zero
	// counts all.
	Since time.Time
	// Checker proves addresses; nil leaves every row untrusted with the
	// reason "not checked".
	Checker *allowlist.Checker
	// DNS bounds all the lookups of the trust verdicts together; nil
	// means the checker's resolver's own budget.
	DNS context.Context
	// Backends are consulted for ban status; none leaves Bans nil.
	Backends []redeem.Backend
	// Outcomes, when not nil, judges the redeemed addresses among the
	// rows (banned-again only when Backends were consulted).
	Outcomes *OutcomeOptions
}

// Review lists the failing addresses of reports ending since opt.Since,
// most failed sessions first, with trust and ban status.
func Review(ctx context.Context, st *store.Store, opt Options) ([]Row, error) {
	var redeemed chan redeemedResult
	if opt.Outcomes != nil {
		// Read beside the rest: its own read transaction, on a connection
		// of its own, overlaps review's reading instead of adding to it.
		ch := make(chan redeemedResult, 1)
		go func() {
			rs, err := st.Redeemed(ctx)
			ch <- redeemedResult{rs, err}
		}()
		redeemed = ch
		defer func() { // never left running past Review
			if redeemed != nil {
				<-redeemed
			}
		}()
	}
	fa, err := st.Failing(ctx, opt.Since)
	if err != nil {
		return nil, err
	}
	rows := make([]Row, len(fa))
	for i, a := range fa {
		rows[i] = Row{FailingAddress: a, Why: "not checked"}
	}
	if opt.Checker != nil {
		if err := addTrust(ctx, st, opt, rows); err != nil {
			return nil, err
		}
	}
	if len(opt.Backends) > 0 {
		if err := AddBans(ctx, opt.Backends, rows); err != nil {
			return nil, err
		}
	}
	if redeemed != nil {
		r := <-redeemed
		redeemed = nil
		if r.err != nil {
			return nil, r.err
		}
		addOutcomes(r.rs, *opt.Outcomes, len(opt.Backends) > 0, rows)
	}
	return rows, nil
}

// redeemedResult is what Store.Redeemed gave.
type redeemedResult struct {
	rs  []store.Redeemed
	err error
}

// addOutcomes judges the redeemed addresses among rows, with the ban
// status the rows hold when backends were consulted.
func addOutcomes(rs []store.Redeemed, opt OutcomeOptions, consulted bool, rows []Row) {
	index := make(map[netip.Addr]int, len(rows))
	var bans map[netip.Addr][]redeem.Ban
	if consulted {
		bans = make(map[netip.Addr][]redeem.Ban)
	}
	for i, r := range rows {
		index[r.IP.Unmap()] = i
		if consulted && len(r.Bans) > 0 {
			bans[r.IP.Unmap()] = r.Bans
		}
	}
	for _, r := range rs {
		if i, ok := index[r.IP]; ok {
			var b []redeem.Ban
			if bans != nil {
				b = bans[r.IP]
			}
			o := Judge(r, b, opt)
			rows[i].Redeemed = &o
		}
	}
}

// trustBatch is how many addresses addTrust judges at once: their
// evidence is all it holds, however large the store.
const trustBatch = 1024

// addTrust fills in every row's verdict from its evidence, streamed from
// the store address by address and judged in batches (JudgeAll runs the
// DNS lookups of a batch concurrently), so that memory is bounded by the
// batch, not by the evidence of the whole store.
func addTrust(ctx context.Context, st *store.Store, opt Options, rows []Row) error {
	dnsCtx := opt.DNS
	if dnsCtx == nil {
		var cancel context.CancelFunc
		dnsCtx, cancel = opt.Checker.Resolver.WithBudget(ctx)
		defer cancel()
	}
	index := make(map[netip.Addr]int, len(rows))
	for i, r := range rows {
		index[r.IP.Unmap()] = i
	}
	var (
		ips []netip.Addr
		evs [][]allowlist.Evidence
		at  []int
	)
	flush := func() {
		for j, v := range opt.Checker.JudgeAll(dnsCtx, ips, evs) {
			r := &rows[at[j]]
			r.Trusted, r.Why, r.DNSFailed = v.Trusted, v.Why, v.DNSFailed
		}
		ips, evs, at = ips[:0], evs[:0], at[:0]
	}
	add := func(i int, ev []allowlist.Evidence) {
		ips, evs, at = append(ips, rows[i].IP), append(evs, ev), append(at, i)
		if len(ips) == trustBatch {
			flush()
		}
	}
	err := st.EvidenceEach(ctx, opt.Since, func(ip netip.Addr, ev []store.Evidence) error {
		if i, ok := index[ip.Unmap()]; ok {
			delete(index, ip.Unmap())
			add(i, Evidence(ev))
		}
		return nil
	})
	if err != nil {
		return err
	}
	for _, i := range index { // no report names it
		add(i, nil)
	}
	flush()
	return nil
}

// Evidence converts the store's evidence for the allowlist.
// The store gives one entry per failure detail; an address named by
// several details of one report is one report to the allowlist, which
// counts reports ("no authenticated report (3 reports: ...)").
func Evidence(es []store.Evidence) []allowlist.Evidence {
	out := make([]allowlist.Evidence, 0, len(es))
	var taken reportSet
	for _, e := range es {
		if !taken.add(e.ReportKey) {
			continue
		}
		out = append(out, allowlist.Evidence{
			Organization: e.Organization, ContactInfo: e.ContactInfo, Submitter: e.Submitter,
			FromDomain: e.FromDomain, Auth: e.Auth, Transport: e.Transport,
		})
	}
	return out
}

// reportSet is a set of report keys that costs no map for the usual
// address, named by a few reports whose entries come one after the other
// (a map per address was a tenth of review over a year of reports): the
// last key answers most often, a short list is searched, and past
// shortSet keys a map takes over.
type reportSet struct {
	keys []int64
	m    map[int64]bool
}

// shortSet is how many keys reportSet searches before it uses a map.
const shortSet = 32

// add adds k and reports whether it was new.
func (s *reportSet) add(k int64) bool {
	switch {
	case len(s.keys) > 0 && s.keys[len(s.keys)-1] == k:
		return false
	case s.m != nil:
		if s.m[k] {
			return false
		}
		s.m[k] = true
	case slices.Contains(s.keys, k):
		return false
	case len(s.keys) == shortSet:
		s.m = make(map[int64]bool, 2*shortSet)
		for _, key := range s.keys {
			s.m[key] = true
		}
		s.m[k] = true
	}
	s.keys = append(s.keys, k)
	return true
}

// AddBans fills in where each row's address is banned, with one listing
// per backend for all of them.
func AddBans(ctx context.Context, backends []redeem.Backend, rows []Row) error {
	ips := make([]netip.Addr, len(rows))
	for i, r := range rows {
		ips[i] = r.IP
	}
	status, err := redeem.BanStatusAll(ctx, backends, ips)
	if err != nil {
		return err
	}
	for i := range rows {
		s := status[rows[i].IP.Unmap()]
		rows[i].Bans = append([]redeem.Ban{}, s.Bans...)
		rows[i].Unknown = s.Unknown
	}
	return nil
}

// Verdicts judges the given addresses from their evidence in the store,
// with one query for all of them (the filter's advice for the addresses
// of one message), read folded by reporter: what it reads is bounded by
// the reporters, not by the history of the addresses.
func Verdicts(ctx, dnsCtx context.Context, st *store.Store, c *allowlist.Checker, ips []netip.Addr) (map[netip.Addr]allowlist.Verdict, error) {
	rs, err := st.ReportersFor(ctx, ips)
	if err != nil {
		return nil, err
	}
	evs := make([][]allowlist.Evidence, len(ips))
	for i, ip := range ips {
		evs[i] = Reporters(rs[ip.Unmap()])
	}
	out := make(map[netip.Addr]allowlist.Verdict, len(ips))
	for i, v := range c.JudgeAll(dnsCtx, ips, evs) {
		out[ips[i]] = v
	}
	return out, nil
}

// Advice is the filter summary's line for one failing address.
func Advice(ip netip.Addr, v allowlist.Verdict) string {
	if v.Trusted {
		return fmt.Sprintf("%s: trusted, %s. If it is banned: tlsrpt redeem (plan), tlsrpt redeem --apply", ip, v.Why)
	}
	return fmt.Sprintf("%s: not trusted: %s. See tlsrpt review; redeem only if you know it: tlsrpt redeem --ip %s", ip, v.Why, ip)
}

// Candidate is an address to redeem and why.
type Candidate struct {
	IP  netip.Addr
	Why string
}

// Plan is redeem.MakePlan for the addresses of cands, in their order.
func Plan(ctx context.Context, backends []redeem.Backend, cands []Candidate) (redeem.Plan, error) {
	ips := make([]netip.Addr, len(cands))
	for i, c := range cands {
		ips[i] = c.IP
	}
	return redeem.MakePlan(ctx, backends, ips)
}

// Candidates are the addresses named with --ip (trusted or not), then the
// trusted failing addresses of rows, each once.
func Candidates(named []netip.Addr, rows []Row) []Candidate {
	var out []Candidate
	seen := map[netip.Addr]bool{}
	for _, ip := range named {
		ip = ip.Unmap()
		if !seen[ip] {
			seen[ip] = true
			out = append(out, Candidate{ip, "named with --ip"})
		}
	}
	for _, r := range rows {
		if ip := r.IP.Unmap(); r.Trusted && !seen[ip] {
			seen[ip] = true
			out = append(out, Candidate{ip, "trusted: " + r.Why})
		}
	}
	return out
}

package assess

import (
	"fmt"
	"math/rand/v2"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/tlsrpt/tlsrpt/allowlist"
	"github.com/tlsrpt/tlsrpt/arrival"
	"github.com/tlsrpt/tlsrpt/internal/storetest"
	"github.com/tlsrpt/tlsrpt/redeem"
	"github.com/tlsrpt/tlsrpt/report"
	"github.com/tlsrpt/tlsrpt/store"
)

var day = time.Date(2026, 11, 22, 0, 0, 0, 0, time.UTC)

// add stores one report naming ips, each with sessions failed sessions,
// authenticated as domain when domain is not "".
func add(t *testing.T, st *store.Store, id, domain string, sessions int64, ips ...string) {
	t.Helper()
	var ds []report.FailureDetail
	for _, ip := range ips {
		ds = append(ds, report.FailureDetail{ResultType: "certificate-expired", SendingMTAIP: netip.MustParseAddr(ip), FailedSessions: sessions})
	}
	r := &report.Report{OrganizationName: "Partner", ReportID: id, Start: day, End: day.Add(24*time.Hour - time.Second),
		Policies: []report.Policy{{Type: "sts", Domain: "example.com", Failed: sessions * int64(len(ips)), Details: ds}}}
	src := arrival.Source{Transport: "mail", Submitter: "partner.example", Received: day.Add(25 * time.Hour),
		Auth: arrival.Auth{Detail: "no DKIM signature"}}
	if domain != "" {
		src.Auth = arrival.Auth{Authenticated: true, Method: "dkim", Domain: domain, Detail: "dkim pass d=" + domain}
	}
	if _, _, err := st.AddReport(t.Context(), r, src); err != nil {
		t.Fatal(err)
	}
}

func checker(t *testing.T) *allowlist.Checker {
	t.Helper()
	entries, err := allowlist.Parse(strings.NewReader("partner.example ip:192.0.2.0/25\n"), "test.list")
	if err != nil {
		t.Fatal(err)
	}
	// No DNS is needed: the entry has an ip: range only.
	return &allowlist.Checker{List: &allowlist.List{Entries: entries}, Resolver: &allowlist.Resolver{Server: "127.0.0.1:9"}}
}

// TestReview joins evidence and proofs on a real SQLite store: an
// authenticated report of a listed reporter makes its address in range
// trusted; out of range, or unauthenticated, it is not, with the reason.
func TestReview(t *testing.T) {
	st := storetest.Open(t)
	add(t, st, "signed", "partner.example", 5, "192.0.2.10", "192.0.2.200")
	add(t, st, "unsigned", "", 3, "192.0.2.66")
	rows, err := Review(t.Context(), st, Options{Checker: checker(t)})
	if err != nil {
		t.Fatal(err)
	}
	if len(rows) != 3 {
		t.Fatalf("%d rows, want 3", len(rows))
	}
	by := map[string]Row{}
	for _, r := range rows {
		by[r.IP.String()] = r
	}
	if r := by["192.0.2.10"]; !r.Trusted || !strings.Contains(r.Why, "192.0.2.10 is in 192.0.2.0/25") {
		t.Errorf("192.0.2.10: %v %s", r.Trusted, r.Why)
	}
	if r := by["192.0.2.200"]; r.Trusted || !strings.Contains(r.Why, "not in its ranges") {
		t.Errorf("192.0.2.200: %v %s", r.Trusted, r.Why)
	}
	if r := by["192.0.2.66"]; r.Trusted || !strings.Contains(r.Why, "no authenticated report") || r.DNSFailed {
		t.Errorf("192.0.2.66: %v %s", r.Trusted, r.Why)
	}
	if rows[2].IP != netip.MustParseAddr("192.0.2.66") {
		t.Errorf("rows not sorted by failed sessions: last is %s", rows[2].IP)
	}
	cands := Candidates([]netip.Addr{netip.MustParseAddr("::ffff:192.0.2.66")}, rows)
	if len(cands) != 2 || cands[0].IP.String() != "192.0.2.66" || cands[1].IP.String() != "192.0.2.10" {
		t.Errorf("candidates: %+v", cands)
	}
	if a := Advice(rows[0].IP, allowlist.Verdict{Trusted: true, Why: rows[0].Why}); !strings.Contains(a, "tlsrpt redeem --apply") {
		t.Errorf("advice: %s", a)
	}
}

// TestReviewBatches checks that every address is judged when the
// evidence streams through more than one batch.
func TestReviewBatches(t *testing.T) {
	st := storetest.Open(t)
	var ips []string
	for i := range trustBatch + 100 {
		ips = append(ips, fmt.Sprintf("10.0.%d.%d", i/256, i%256))
	}
	add(t, st, "many", "partner.example", 1, ips...)
	add(t, st, "one", "partner.example", 9, "192.0.2.1")
	rows, err := Review(t.Context(), st, Options{Checker: checker(t)})
	if err != nil {
		t.Fatal(err)
	}
	if len(rows) != trustBatch+101 {
		t.Fatalf("%d rows", len(rows))
	}
	for _, r := range rows {
		if r.Why == "not checked" || r.Trusted != (r.IP.String() == "192.0.2.1") {
			t.Fatalf("%s: trusted %v: %s", r.IP, r.Trusted, r.Why)
		}
	}
}

// TestRecordBanned checks the three states of the JSON's banned: absent
// when nothing was asked, [] when asked and not found, and unknown.
func TestRecordBanned(t *testing.T) {
	r := Row{FailingAddress: store.FailingAddress{IP: netip.MustParseAddr("192.0.2.1")}}
	if rec := r.Record(); rec.Banned != nil || rec.BannedText() != "-" {
		t.Errorf("not asked: %+v %q", rec.Banned, rec.BannedText())
	}
	r.Bans = []redeem.Ban{}
	if rec := r.Record(); rec.Banned == nil || len(*rec.Banned) != 0 || rec.BannedText() != "no" {
		t.Errorf("asked, none: %+v %q", rec.Banned, rec.BannedText())
	}
	r.Unknown = []redeem.BackendError{{Backend: "fail2ban"}}
	if rec := r.Record(); rec.BannedText() != "?" || len(rec.BannedUnknown) != 1 {
		t.Errorf("unknown: %q %v", rec.BannedText(), rec.BannedUnknown)
	}
	r.Bans = []redeem.Ban{{Backend: "iptables", Where: "INPUT"}}
	if rec := r.Record(); rec.BannedText() != "iptables:INPUT,?" {
		t.Errorf("banned and unknown: %q", rec.BannedText())
	}
}

// TestOneReportManyDetails: an address named by three details of one
// report is one report to the allowlist.
func TestOneReportManyDetails(t *testing.T) {
	st := storetest.Open(t)
	add(t, st, "thrice", "", 1, "192.0.2.77", "192.0.2.77", "192.0.2.77")
	rows, err := Review(t.Context(), st, Options{Checker: checker(t)})
	if err != nil {
		t.Fatal(err)
	}
	if len(rows) != 1 || rows[0].FailedSessions != 3 || !strings.Contains(rows[0].Why, "(1 report: no DKIM signature)") {
		t.Fatalf("rows: %+v", rows)
	}
}

// TestEvidenceOnePerReport: Evidence keeps the first entry of each report,
// in order, whether a report's entries come together (as the store gives
// them) or scattered, with few reports or more than its short list holds.
func TestEvidenceOnePerReport(t *testing.T) {
	for _, n := range []int{1, 3, 32, 33, 100} {
		var together, scattered []store.Evidence
		for k := range n {
			for range 3 {
				together = append(together, store.Evidence{ReportKey: int64(k), Organization: fmt.Sprint("org ", k)})
			}
		}
		for range 3 {
			for k := range n {
				scattered = append(scattered, store.Evidence{ReportKey: int64(k), Organization: fmt.Sprint("org ", k)})
			}
		}
		for name, es := range map[string][]store.Evidence{"together": together, "scattered": scattered} {
			got := Evidence(es)
			if len(got) != n {
				t.Fatalf("%d reports %s: %d evidence, want %d", n, name, len(got), n)
			}
			for k, e := range got {
				if want := fmt.Sprint("org ", k); e.Organization != want {
					t.Fatalf("%d reports %s: evidence %d is %q, want %q", n, name, k, e.Organization, want)
				}
			}
		}
	}
}

// TestVerdictsFromReporters: the advice Verdicts gives from the reports
// folded by reporter is, byte for byte, the advice judged from every
// report (Evidence of EvidenceFor), over random histories of several
// sizes mixing listed, unlisted and unauthenticated reporters, HTTPS,
// several reasons, reports naming an address twice, and addresses in and
// out of the listed ranges.
func TestVerdictsFromReporters(t *testing.T) {
	entries, err := allowlist.Parse(strings.NewReader("partner.example ip:192.0.2.0/25\nother.example ip:198.51.100.0/24\n"), "test.list")
	if err != nil {
		t.Fatal(err)
	}
	c := &allowlist.Checker{List: &allowlist.List{Entries: entries}, Resolver: &allowlist.Resolver{Server: "127.0.0.1:9"}}
	sources := []arrival.Source{
		{Transport: "mail", Submitter: "partner.example", Auth: arrival.Auth{Authenticated: true, Method: "dkim", Domain: "partner.example"}},
		{Transport: "mail", Submitter: "partner.example", Auth: arrival.Auth{Authenticated: true, Method: "authres", Domain: "partner.example"}},
		{Transport: "mail", Submitter: "other.example", Auth: arrival.Auth{Authenticated: true, Method: "dkim", Domain: "other.example"}},
		{Transport: "mail", Submitter: "unlisted.example", Auth: arrival.Auth{Authenticated: true, Method: "dkim", Domain: "unlisted.example"}},
		{Transport: "mail", Submitter: "a.example", Auth: arrival.Auth{Detail: "no DKIM signature"}},
		{Transport: "mail", Submitter: "b.example", Auth: arrival.Auth{Detail: "DKIM fails"}},
		{Transport: "mail", Submitter: "c.example", Auth: arrival.Auth{Detail: "not our authserv-id"}},
		{Transport: "https"},
	}
	ips := []netip.Addr{netip.MustParseAddr("192.0.2.10"), netip.MustParseAddr("192.0.2.200"), netip.MustParseAddr("198.51.100.7")}
	ctx := t.Context()
	for seed := range 12 {
		st := storetest.Open(t)
		rng := rand.New(rand.NewPCG(uint64(seed), 7))
		n := []int{1, 2, 5, 40}[seed%4]
		for i := range n {
			var ds []report.FailureDetail
			for _, ip := range ips {
				for range rng.IntN(3) {
					ds = append(ds, report.FailureDetail{ResultType: "certificate-expired", SendingMTAIP: ip, FailedSessions: 1})
				}
			}
			start := day.AddDate(0, 0, rng.IntN(n/3+1))
			r := &report.Report{OrganizationName: "Org", ReportID: fmt.Sprint("r", i), Start: start, End: start.Add(24*time.Hour - time.Second),
				Policies: []report.Policy{{Type: "sts", Domain: "example.com", Failed: int64(len(ds)), Details: ds}}}
			src := sources[rng.IntN(len(sources))]
			if seed%3 == 0 { // none authenticated: the counts decide the advice
				src = sources[4+rng.IntN(len(sources)-4)]
			}
			if _, _, err := st.AddReport(ctx, r, src); err != nil {
				t.Fatal(err)
			}
		}
		ev, err := st.EvidenceFor(ctx, ips)
		if err != nil {
			t.Fatal(err)
		}
		vs, err := Verdicts(ctx, ctx, st, c, ips)
		if err != nil {
			t.Fatal(err)
		}
		for _, ip := range ips {
			want := Advice(ip, c.Judge(ctx, ip, Evidence(ev[ip])))
			if got := Advice(ip, vs[ip]); got != want {
				t.Errorf("seed %d, %d reports, %s:\n got %s\nwant %s", seed, n, ip, got, want)
			}
		}
	}
}

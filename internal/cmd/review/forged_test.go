package review

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/netip"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/tlsrpt/tlsrpt/arrival"
	"github.com/tlsrpt/tlsrpt/internal/cmd/cmdutil"
	"github.com/tlsrpt/tlsrpt/report"
	"github.com/tlsrpt/tlsrpt/store"
)

// forgedStore writes a store at db holding an unsigned report that claims
// "Google Inc." (and google.com) naming 192.0.2.1 and 192.0.2.3, and
// Google's signed report naming 192.0.2.2 and 192.0.2.3.
func forgedStore(t *testing.T, db string) {
	t.Helper()
	st, err := store.Open(db)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	day := time.Date(2026, 11, 22, 0, 0, 0, 0, time.UTC)
	add := func(id string, src arrival.Source, ips ...string) {
		var ds []report.FailureDetail
		for i, ip := range ips {
			ds = append(ds, report.FailureDetail{ResultType: "certificate-expired", SendingMTAIP: netip.MustParseAddr(ip), FailedSessions: int64(10 - i)})
		}
		r := &report.Report{OrganizationName: "Google Inc.", ReportID: id, Start: day, End: day.Add(24*time.Hour - time.Second),
			Policies: []report.Policy{{Type: "sts", Domain: "example.com", Failed: 19, Details: ds}}}
		if _, _, err := st.AddReport(context.Background(), r, src); err != nil {
			t.Fatal(err)
		}
	}
	add("forged", arrival.Source{Transport: "mail", Submitter: "google.com", FromDomain: "google.com",
		Auth: arrival.Auth{Detail: "no DKIM signature"}}, "192.0.2.1", "192.0.2.3")
	add("real", arrival.Source{Transport: "mail", Submitter: "google.com",
		Auth: arrival.Auth{Authenticated: true, Method: "dkim", Domain: "google.com", Detail: "dkim pass d=google.com"}}, "192.0.2.2", "192.0.2.3")
}

// review runs tlsrpt review with args on db and returns its output.
func review(t *testing.T, db string, args ...string) string {
	t.Helper()
	var out, errOut bytes.Buffer
	f := cmdutil.New(nil, &out, &errOut)
	f.DB, f.DBSet = db, true
	f.Trust.Resolver = "127.0.0.1:9" // nothing leaves the machine
	cmd := NewCmdReview(f, nil)
	cmd.SetArgs(append(args, "--no-bans"))
	cmd.SetOut(io.Discard)
	cmd.SetErr(io.Discard)
	if err := cmd.Execute(); err != nil {
		t.Fatalf("review %v: %v\n%s", args, err, errOut.String())
	}
	return out.String()
}

// TestReviewForgedOrganization attacks who review says reported an
// address: an unsigned report claiming "Google Inc." must show as
// "Google Inc. (unauthenticated)" next to the address it names, never as
// "Google Inc."; Google's signed report shows as "Google Inc."; an
// address both name shows "Google Inc." once. In the table and in
// --json (organizations, authenticated_organizations).
func TestReviewForgedOrganization(t *testing.T) {
	db := filepath.Join(t.TempDir(), "tlsrpt.db")
	forgedStore(t, db)
	want := map[string][2][]string{ // address → organizations, authenticated_organizations
		"192.0.2.1": {{"Google Inc. (unauthenticated)"}, {}},
		"192.0.2.2": {{"Google Inc."}, {"Google Inc."}},
		"192.0.2.3": {{"Google Inc."}, {"Google Inc."}},
	}

	var recs []struct {
		IP     string   `json:"ip"`
		Orgs   []string `json:"organizations"`
		Authed []string `json:"authenticated_organizations"`
	}
	out := review(t, db, "--json")
	if err := json.Unmarshal([]byte(out), &recs); err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	got := map[string][2][]string{}
	for _, r := range recs {
		got[r.IP] = [2][]string{r.Orgs, r.Authed}
	}
	for ip, w := range want {
		if g := got[ip]; !slices.Equal(g[0], w[0]) || !slices.Equal(g[1], w[1]) || g[1] == nil {
			t.Errorf("--json %s: organizations %q, authenticated_organizations %q; want %q, %q", ip, g[0], g[1], w[0], w[1])
		}
	}

	table := review(t, db)
	cols := regexp.MustCompile(`\s{2,}`)
	seen := 0
	for _, line := range strings.Split(table, "\n") {
		f := cols.Split(line, -1)
		w, ok := want[f[0]]
		if !ok {
			continue
		}
		seen++
		if len(f) < 4 || f[3] != strings.Join(w[0], ", ") {
			t.Errorf("table row of %s: %q, want ORGANIZATIONS %q", f[0], line, strings.Join(w[0], ", "))
		}
	}
	if seen != len(want) {
		t.Errorf("table has %d of the %d addresses:\n%s", seen, len(want), table)
	}
}

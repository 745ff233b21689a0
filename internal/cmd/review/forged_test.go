package review

import (
	"encoding/json"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/tlsrpt/tlsrpt/internal/cmd/cmdtest"
	"github.com/tlsrpt/tlsrpt/internal/storetest"
	"github.com/tlsrpt/tlsrpt/store"
)

// forgedStore writes a store at db holding an unsigned report that claims
// "Google Inc." naming 192.0.2.1 and 192.0.2.3, and Google's signed
// report naming 192.0.2.2 and 192.0.2.3.
func forgedStore(t *testing.T, db string) {
	t.Helper()
	day := time.Date(2026, 11, 22, 0, 0, 0, 0, time.UTC)
	cmdtest.FillDB(t, db, func(st *store.Store) {
		storetest.AddGoogleReport(t, st, "forged", day, false, "192.0.2.1", "192.0.2.3")
		storetest.AddGoogleReport(t, st, "real", day, true, "192.0.2.2", "192.0.2.3")
	})
}

// review runs tlsrpt review with args on db and returns its output.
func review(t *testing.T, db string, args ...string) string {
	t.Helper()
	e := cmdtest.New(t)
	e.F.DB = db
	if err := cmdtest.Execute(NewCmdReview(e.F, nil), append(args, "--no-bans")...); err != nil {
		t.Fatalf("review %v: %v\n%s", args, err, e.Err.String())
	}
	return e.Out.String()
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

package store

import (
	"fmt"
	"net/netip"
	"reflect"
	"slices"
	"testing"
	"time"

	"github.com/tlsrpt/tlsrpt/arrival"
)

// Issue 17, item 11, for review and the dashboard: who reported an
// address. Anyone can write an organization-name; only a name that an
// authenticated report naming the address gives is shown as it is.

// forgedGoogle stores an unsigned report claiming "Google Inc." (and
// Google's domain) that names 192.0.2.1 and 192.0.2.3, and Google's
// signed report naming 192.0.2.2 and 192.0.2.3.
func forgedGoogle(t *testing.T, s *Store) {
	t.Helper()
	ctx := t.Context()
	forged := mkReport("Google Inc.", "forged", 1, detail("192.0.2.1", "certificate-expired", 50),
		detail("192.0.2.3", "certificate-expired", 1))
	if _, _, err := s.AddReport(ctx, forged, unsigned("google.com")); err != nil {
		t.Fatal(err)
	}
	real := mkReport("Google Inc.", "real", 1, detail("192.0.2.2", "certificate-expired", 40),
		detail("192.0.2.3", "certificate-expired", 2))
	if _, _, err := s.AddReport(ctx, real, signed("google.com")); err != nil {
		t.Fatal(err)
	}
}

// checkForgedGoogle checks what every way of computing review's rows says
// of forgedGoogle's addresses.
func checkForgedGoogle(t *testing.T, s *Store) {
	t.Helper()
	ctx := t.Context()
	want := map[string][2][]string{ // address → (Organizations, AuthenticatedOrganizations)
		"192.0.2.1": {{"Google Inc. (unauthenticated)"}, nil},
		"192.0.2.2": {{"Google Inc."}, {"Google Inc."}},
		"192.0.2.3": {{"Google Inc."}, {"Google Inc."}},
	}
	direct := failingDirect(t, s)
	agg, err := s.failingAggregate(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for name, get := range map[string]func() ([]FailingAddress, error){
		"aggregate": func() ([]FailingAddress, error) { return agg, nil },
		"details":   func() ([]FailingAddress, error) { return direct, nil },
		"Failing":   func() ([]FailingAddress, error) { return s.Failing(ctx, time.Time{}) },
		"since":     func() ([]FailingAddress, error) { return s.Failing(ctx, day(1)) },
	} {
		fs, err := get()
		if err != nil {
			t.Fatal(err)
		}
		got := map[string][2][]string{}
		for _, f := range fs {
			if _, ok := want[f.IP.String()]; ok {
				got[f.IP.String()] = [2][]string{f.Organizations, f.AuthenticatedOrganizations}
			}
		}
		if !reflect.DeepEqual(got, want) {
			t.Errorf("%s: organizations by address\n got %q\nwant %q", name, got, want)
		}
	}
}

// TestFailingForgedOrganization attacks review's organizations: an
// unsigned report claiming "Google Inc." names 192.0.2.1, which must show
// "Google Inc. (unauthenticated)", never "Google Inc."; Google's signed
// report names 192.0.2.2, shown "Google Inc."; both name 192.0.2.3, shown
// "Google Inc." once. From the aggregate (with a label bit for the name,
// and without one when made-up names took them all), from the details,
// and since a date.
func TestFailingForgedOrganization(t *testing.T) {
	for _, flood := range []bool{false, true} {
		t.Run(fmt.Sprintf("labels-taken=%v", flood), func(t *testing.T) {
			s := openTemp(t)
			if flood {
				floodLabels(t, s)
			}
			forgedGoogle(t, s)
			if flood {
				var bit int
				s.db.QueryRow(`SELECT COUNT(*) FROM labels WHERE kind = 'org' AND name = 'Google Inc.'`).Scan(&bit)
				if bit != 0 {
					t.Fatal("Google Inc. has a label bit: the flood did not take them all")
				}
			}
			checkForgedGoogle(t, s)
			// Deleting the signed report (a prune) leaves the forgery's
			// name marked at 192.0.2.3.
			if _, err := s.db.Exec(`DELETE FROM reports WHERE report_id = 'real'`); err != nil {
				t.Fatal(err)
			}
			fs := mustFailing(t, s, time.Time{})
			i := slices.IndexFunc(fs, func(f FailingAddress) bool { return f.IP == netip.MustParseAddr("192.0.2.3") })
			if i < 0 || !slices.Equal(fs[i].Organizations, []string{"Google Inc. (unauthenticated)"}) || fs[i].AuthenticatedOrganizations != nil {
				t.Errorf("192.0.2.3 named only by the forgery now: %+v", fs)
			}
		})
	}
}

// floodLabels takes every organization label bit with made-up names.
func floodLabels(t *testing.T, s *Store) {
	t.Helper()
	for i := range maxLabels {
		r := mkReport(fmt.Sprintf("Made Up %d", i), fmt.Sprint("flood", i), 1, detail("198.51.100.1", "certificate-expired", 1))
		if _, _, err := s.AddReport(t.Context(), r, arrival.Source{Transport: "https"}); err != nil {
			t.Fatal(err)
		}
	}
}

// TestMigrateAuthenticatedOrganizations: a store of schema version 4,
// whose aggregate knows nothing of authentication, is rebuilt by version
// 5: the forgery marked, Google's signed name shown as it is, with and
// without label bits.
func TestMigrateAuthenticatedOrganizations(t *testing.T) {
	for _, flood := range []bool{false, true} {
		t.Run(fmt.Sprintf("labels-taken=%v", flood), func(t *testing.T) {
			loc := tempLocation(t)
			s := openAt(t, loc)
			if flood {
				floodLabels(t, s)
			}
			forgedGoogle(t, s)
			toVersion4(t, s)
			s.Close()
			s = openAt(t, loc)
			checkForgedGoogle(t, s)
		})
	}
}

// tempLocation is where openTemp would open a store.
func tempLocation(t *testing.T) string {
	if onPostgres() {
		return newPostgresDB(t)
	}
	return t.TempDir() + "/tlsrpt.db"
}

// authOrgsStep is the schema step that gives the aggregate the names of
// authenticated reports (version 5 when it was written).
const authOrgsStep = "aggregate knows the organization-names of authenticated reports"

// undoStep holds, for the steps after authOrgsStep, the statements that
// take them away again.
var undoStep = map[string][]string{
	"DMARC aggregate reports": {`DROP TABLE dmarc_records`, `DROP TABLE dmarc_reports`},
}

// toVersion4 takes the columns of authOrgsStep away and sets the schema
// version to the one before it, leaving the aggregate as it was kept
// before that step.
func toVersion4(t *testing.T, s *Store) {
	t.Helper()
	migrations := s.dialect.steps()
	v := slices.IndexFunc(migrations, func(m migration) bool { return m.name == authOrgsStep })
	if v < 0 {
		t.Fatalf("no step %q", authOrgsStep)
	}
	set := fmt.Sprintf("PRAGMA user_version = %d", v)
	if onPostgres() {
		set = fmt.Sprintf("UPDATE tlsrpt_schema SET version = %d", v)
	}
	var undo []string
	for i := len(migrations) - 1; i > v; i-- {
		u, ok := undoStep[migrations[i].name]
		if !ok {
			t.Fatalf("step %q comes after %q: teach undoStep to undo it", migrations[i].name, authOrgsStep)
		}
		undo = append(undo, u...)
	}
	for _, q := range append(undo,
		`ALTER TABLE addresses DROP COLUMN auth_org_mask`,
		`ALTER TABLE address_orgs DROP COLUMN authenticated`,
		set,
	) {
		if _, err := s.db.Exec(q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
}

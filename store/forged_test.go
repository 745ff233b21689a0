package store

import (
	"fmt"
	"net/netip"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/tlsrpt/tlsrpt/arrival"
	"github.com/tlsrpt/tlsrpt/report"
)

// Forged reports cannot bend who is active,
// and activity is judged on the periods reports cover.

// addAt stores a report of org for [start, end) at the given store time,
// from src.
func addAt(t *testing.T, s *Store, at time.Time, org, id string, start, end time.Time, src arrival.Source) {
	t.Helper()
	defer func(f func() time.Time) { now = f }(now)
	now = func() time.Time { return at }
	r := &report.Report{OrganizationName: org, ReportID: id, Start: start, End: end,
		Policies: []report.Policy{{Type: "sts", Domain: "example.net", Successful: 10, Failed: 1,
			Details: []report.FailureDetail{{ResultType: "certificate-expired", SendingMTAIP: netip.MustParseAddr("192.0.2.99"), FailedSessions: 1}}}}}
	if _, _, err := s.AddReport(t.Context(), r, src); err != nil {
		t.Fatal(err)
	}
}

func signed(dom string) arrival.Source {
	return arrival.Source{Transport: "mail", Submitter: dom, Auth: arrival.Auth{Authenticated: true, Method: "dkim", Domain: dom}}
}

// unsigned claims to come from dom: same submitter, no signature.
func unsigned(dom string) arrival.Source {
	return arrival.Source{Transport: "mail", Submitter: dom, FromDomain: dom, Auth: arrival.Auth{Detail: "no signature"}}
}

func byName(as []ReporterActivity, name string) (ReporterActivity, bool) {
	i := slices.IndexFunc(as, func(a ReporterActivity) bool { return a.Name() == name })
	if i < 0 {
		return ReporterActivity{}, false
	}
	return as[i], true
}

// TestQuietNotSilencedByForgery attacks the "gone quiet" alert: Beta Mail
// (signed by beta.example) is silent for five days; an unsigned report
// claiming to be Beta Mail from beta.example, ending in 2099, and a report
// beta.example itself signed with a range ending in 2099 (a broken clock)
// must leave it quiet, and the forgery is listed apart, marked, never
// quiet and with no believed activity.
func TestQuietNotSilencedByForgery(t *testing.T) {
	s := openTemp(t)
	at := month(t, s)
	far := time.Date(2099, 1, 1, 0, 0, 0, 0, time.UTC)
	addAt(t, s, at, "Beta Mail", "forged-2099", far, far.Add(24*time.Hour), unsigned("beta.example"))
	addAt(t, s, at, "Beta Mail", "clock-2099", far, far.Add(24*time.Hour), signed("beta.example"))
	// Within the day of skew: believed.
	soon := at.Add(20 * time.Hour)
	addAt(t, s, at, "Alpha Mail", "skewed", soon.Add(-24*time.Hour), soon, signed("alpha.example"))
	as, err := s.ReportersAsOf(t.Context(), at)
	if err != nil {
		t.Fatal(err)
	}
	beta, ok := byName(as, "beta.example")
	if !ok || !beta.Quiet(at, 72*time.Hour) || beta.Reports != 26 || beta.Last.After(at) {
		t.Errorf("beta.example, silent for five days, not quiet after forged and future reports: %+v", beta)
	}
	forged, ok := byName(as, "Beta Mail (unauthenticated)")
	if !ok || forged.Authenticated || forged.Identity != "" || !forged.Last.IsZero() || forged.Reports != 1 {
		t.Errorf("the forged report is not listed apart, unauthenticated, without believed activity: %+v in %+v", forged, as)
	}
	if alpha, _ := byName(as, "alpha.example"); !alpha.Last.Equal(soon) {
		t.Errorf("alpha.example's report ending %s (within the skew) not believed: last %s", soon, alpha.Last)
	}
	// An unauthenticated reporter never goes quiet, however regular.
	u := ReporterActivity{Organization: "Microsoft Corporation", Reports: 30, Days: 30, First: at.AddDate(0, -2, 0), Last: at.AddDate(0, -1, 0)}
	if u.Quiet(at, 72*time.Hour) {
		t.Error("an unauthenticated reporter raised the quiet alert")
	}
}

// TestQuietAfterBackfill: a reporter that reported daily until ten days
// ago, its reports imported (stored) only now, has gone quiet: the alert
// is judged on the periods the reports cover, not on when they were stored.
func TestQuietAfterBackfill(t *testing.T) {
	s := openTemp(t)
	at := time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC)
	for d := range 20 {
		start := at.AddDate(0, 0, -30+d).Truncate(24 * time.Hour)
		addAt(t, s, at, "Gamma Mail", fmt.Sprint(d), start, start.Add(24*time.Hour-time.Second), signed("gamma.example"))
	}
	as, err := s.ReportersAsOf(t.Context(), at)
	if err != nil || len(as) != 1 {
		t.Fatalf("%+v, %v", as, err)
	}
	if !as[0].Quiet(at, 72*time.Hour) {
		t.Errorf("a reporter silent for ten days looks alive after a backfill: %+v", as[0])
	}
}

// TestSessionStatsForgedReporter: by reporter, unsigned reports claiming
// "Google Inc. " are a row of their own, marked, trimmed, never merged
// into google.com's signed reports.
func TestSessionStatsForgedReporter(t *testing.T) {
	s := openTemp(t)
	day := time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)
	addAt(t, s, day.Add(30*time.Hour), "Google Inc.", "real", day, day.Add(24*time.Hour-time.Second), signed("google.com"))
	addAt(t, s, day.Add(30*time.Hour), "Google Inc. ", "forged-1", day, day.Add(24*time.Hour-time.Second), unsigned("google.com"))
	addAt(t, s, day.Add(30*time.Hour), "Google  Inc.", "forged-2", day, day.Add(24*time.Hour-time.Second), unsigned("google.com"))
	rows, err := s.SessionStats(t.Context(), time.Time{}, Day, ByReporter)
	if err != nil {
		t.Fatal(err)
	}
	want := []SessionRow{
		{Start: day, Key: "Google Inc.", Successful: 20, Failed: 2, Unauthenticated: true},
		{Start: day, Key: "google.com", Successful: 10, Failed: 1},
	}
	if !slices.Equal(rows, want) {
		t.Errorf("by reporter:\n got %+v\nwant %+v", rows, want)
	}
}

// TestAddressChangesMarked: the digest's "from ..." names an
// authenticated reporter by its identity and marks a claimed name.
func TestAddressChangesMarked(t *testing.T) {
	s := openTemp(t)
	day := time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)
	addAt(t, s, day.Add(30*time.Hour), "Google Inc.", "real", day, day.Add(24*time.Hour-time.Second), signed("google.com"))
	addAt(t, s, day.Add(30*time.Hour), "Google Inc.", "forged", day, day.Add(24*time.Hour-time.Second), unsigned("google.com"))
	cs, err := s.AddressChanges(t.Context(), day, day.AddDate(0, 0, 3))
	if err != nil || len(cs) != 1 {
		t.Fatalf("%+v, %v", cs, err)
	}
	if want := []string{"Google Inc. (unauthenticated)", "google.com"}; !slices.Equal(cs[0].Organizations, want) {
		t.Errorf("reporters %q, want %q", cs[0].Organizations, want)
	}
}

// TestSessionsStoredSinceAuthenticated: what the metrics read keeps
// signed reports under their identity and unsigned ones apart, with the
// name they claim, on both engines.
func TestSessionsStoredSinceAuthenticated(t *testing.T) {
	s := openTemp(t)
	day := time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)
	at := day.Add(30 * time.Hour)
	addAt(t, s, at, "Google Inc.", "real", day, day.Add(24*time.Hour-time.Second), signed("google.com"))
	addAt(t, s, at, "Google Inc.", "forged", day, day.Add(24*time.Hour-time.Second), unsigned("google.com"))
	perDomain, perType, err := s.SessionsStoredSince(t.Context(), at.Add(-time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	slices.SortFunc(perDomain, func(a, b RecentSessions) int { return strings.Compare(a.Reporter, b.Reporter) })
	want := []RecentSessions{
		{Reporter: "Google Inc.", Domain: "example.net", Successful: 10, Failed: 1},
		{Reporter: "google.com", Domain: "example.net", Authenticated: true, Successful: 10, Failed: 1},
	}
	if !slices.Equal(perDomain, want) || len(perType) != 2 || perType[0].Authenticated == perType[1].Authenticated {
		t.Errorf("per domain %+v\nwant %+v\nper type %+v", perDomain, want, perType)
	}
}

// For review and the dashboard: who reported an
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

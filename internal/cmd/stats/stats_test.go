package stats

import (
	"context"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/tlsrpt/tlsrpt/arrival"
	"github.com/tlsrpt/tlsrpt/dmarc"
	"github.com/tlsrpt/tlsrpt/internal/cmd/cmdtest"
	"github.com/tlsrpt/tlsrpt/report"
	"github.com/tlsrpt/tlsrpt/store"
)

func nov(d int) time.Time { return time.Date(2026, 11, d, 0, 0, 0, 0, time.UTC) }

func signedBy(domain string) arrival.Source {
	return arrival.Source{Transport: "mail", FromDomain: domain,
		Auth: arrival.Auth{Authenticated: true, Method: "dkim", Domain: domain}}
}

func tlsReport(org, id string, d int, successful, failed int64) *report.Report {
	return &report.Report{OrganizationName: org, ReportID: id, Start: nov(d), End: nov(d + 1).Add(-time.Second),
		Policies: []report.Policy{{Type: "sts", Domain: "example.net", Successful: successful, Failed: failed}}}
}

// dmarcReport has one record that passes DMARC (pass messages) and one
// that fails it (fail messages), each left out when zero.
func dmarcReport(reporter, id string, d int, pass, fail int64) *dmarc.Report {
	r := &dmarc.Report{Metadata: dmarc.Metadata{Reporter: reporter, OrgName: reporter, ReportID: id,
		Begin: nov(d), End: nov(d + 1).Add(-time.Second)}, Policy: dmarc.PolicyPublished{Domain: "example.net", P: "reject", Pct: 100}}
	if pass > 0 {
		r.Records = append(r.Records, dmarc.Record{SourceIP: netip.MustParseAddr("192.0.2.1"), Count: pass,
			Disposition: "none", DKIM: "pass", SPF: "fail", HeaderFrom: "example.net"})
	}
	if fail > 0 {
		r.Records = append(r.Records, dmarc.Record{SourceIP: netip.MustParseAddr("203.0.113.5"), Count: fail,
			Disposition: "reject", DKIM: "fail", SPF: "fail", HeaderFrom: "example.net"})
	}
	return r
}

// handCounted stores, in the week from Monday 2026-11-02:
//
//	google.com, signed:  TLS  11-02 900 successful, 100 failed; 11-03 1000, 0
//	                     DMARC 11-02 10 pass, 5 fail; 11-03 20 pass
//	yahoo.com, signed:   TLS  11-02 50, 50
//	                     DMARC 11-02 7 pass, 3 fail; 11-04 0 pass, 1 fail
//	unsigned, claiming google.com: DMARC 11-02 1000 fail
//	unsigned "Google Inc.":        TLS   11-03 5, 5
//
// The week, by reporter, by hand:
//
//	Google Inc. (unauthenticated)   5 + 0 successful, 5 failed, no DMARC
//	google.com                      1900 successful, 100 failed; 35 messages, 30 pass, 5 fail
//	google.com (unauthenticated)    no TLS; 1000 messages, 0 pass, 1000 fail
//	yahoo.com                       50, 50; 11 messages, 7 pass, 4 fail
func handCounted(t *testing.T) string {
	t.Helper()
	e := cmdtest.New(t)
	e.Fill(t, func(st *store.Store) {
		addAll(t, st.AddReport, []sourced[*report.Report]{
			{tlsReport("Google Inc.", "t1", 2, 900, 100), signedBy("google.com")},
			{tlsReport("Google Inc.", "t2", 3, 1000, 0), signedBy("google.com")},
			{tlsReport("Yahoo", "t3", 2, 50, 50), signedBy("yahoo.com")},
			{tlsReport("Google Inc.", "t4", 3, 5, 5), arrival.Source{Transport: "https"}},
		})
		addAll(t, st.AddDMARC, []sourced[*dmarc.Report]{
			{dmarcReport("google.com", "d1", 2, 10, 5), signedBy("google.com")},
			{dmarcReport("google.com", "d2", 3, 20, 0), signedBy("google.com")},
			{dmarcReport("Yahoo! Inc.", "d3", 2, 7, 3), signedBy("yahoo.com")},
			{dmarcReport("Yahoo! Inc.", "d4", 4, 0, 1), signedBy("yahoo.com")},
			{dmarcReport("google.com", "forged", 2, 0, 1000), arrival.Source{Transport: "mail", FromDomain: "google.com"}},
		})
	})
	return e.DB
}

// sourced is a report and how it arrived.
type sourced[R any] struct {
	r   R
	src arrival.Source
}

// addAll stores each report with add (the store's AddReport or
// AddDMARC).
func addAll[R any](t *testing.T, add func(context.Context, R, arrival.Source) (int64, bool, error), reports []sourced[R]) {
	t.Helper()
	for _, x := range reports {
		if _, _, err := add(context.Background(), x.r, x.src); err != nil {
			t.Fatal(err)
		}
	}
}

// run runs the stats command on db with args and returns its output.
func run(t *testing.T, db string, args ...string) (string, error) {
	t.Helper()
	e := cmdtest.New(t)
	e.F.DB = db
	err := cmdtest.Execute(NewCmdStats(e.F, nil), args...)
	return e.Out.String(), err
}

func TestSourceBothHandCounted(t *testing.T) {
	db := handCounted(t)
	got, err := run(t, db, "--source", "both", "--by", "week", "--csv")
	if err != nil {
		t.Fatal(err)
	}
	want := `period_start,reporter,successful_sessions,failed_sessions,messages,dmarc_pass,dmarc_fail
2026-11-02,Google Inc. (unauthenticated),5,5,0,0,0
2026-11-02,google.com,1900,100,35,30,5
2026-11-02,google.com (unauthenticated),0,0,1000,0,1000
2026-11-02,yahoo.com,50,50,11,7,4
`
	if got != want {
		t.Errorf("--source both --by week --csv:\n%s\nwant\n%s", got, want)
	}

	got, err = run(t, db, "--source", "both", "--json", "--since", "2026-11-03")
	if err != nil {
		t.Fatal(err)
	}
	// Reports ending on or after 11-03: those of 11-03 and 11-04, by day.
	wantJSON := `[
  {
    "day": "2026-11-03",
    "reporter": "Google Inc. (unauthenticated)",
    "authenticated": false,
    "successful": 5,
    "failed": 5,
    "failure_rate": 0.5,
    "messages": 0,
    "dmarc_pass": 0,
    "dmarc_fail": 0
  },
  {
    "day": "2026-11-03",
    "reporter": "google.com",
    "authenticated": true,
    "successful": 1000,
    "failed": 0,
    "failure_rate": 0,
    "messages": 20,
    "dmarc_pass": 20,
    "dmarc_fail": 0
  },
  {
    "day": "2026-11-04",
    "reporter": "yahoo.com",
    "authenticated": true,
    "successful": 0,
    "failed": 0,
    "failure_rate": 0,
    "messages": 1,
    "dmarc_pass": 0,
    "dmarc_fail": 1
  }
]
`
	if got != wantJSON {
		t.Errorf("--source both --json --since 2026-11-03:\n%s\nwant\n%s", got, wantJSON)
	}
}

func TestSourceDMARC(t *testing.T) {
	db := handCounted(t)
	got, err := run(t, db, "--source", "dmarc", "--by", "month")
	if err != nil {
		t.Fatal(err)
	}
	want := `PERIOD      reporter                      MESSAGES  DMARC PASS  DMARC FAIL
2026-11-01  google.com                    35        30          5
2026-11-01  google.com (unauthenticated)  1000      0           1000
2026-11-01  yahoo.com                     11        7           4
`
	if got != want {
		t.Errorf("--source dmarc --by month:\n%s\nwant\n%s", got, want)
	}
	got, err = run(t, db, "--source", "dmarc", "--group", "", "--csv")
	if err != nil {
		t.Fatal(err)
	}
	want = `period_start,messages,dmarc_pass,dmarc_fail
2026-11-02,1025,17,1008
2026-11-03,20,20,0
2026-11-04,1,0,1
`
	if got != want {
		t.Errorf("--source dmarc --group '' --csv:\n%s\nwant\n%s", got, want)
	}
	// The default source is TLS, its output unchanged: 900 + 1000 + 50 + 5
	// successful, 100 + 50 + 5 failed, 155 / 2110 = 7.35%.
	got, err = run(t, db, "--by", "month")
	if err != nil {
		t.Fatal(err)
	}
	want = "PERIOD      SUCCESSFUL  FAILED  FAILURE RATE\n2026-11-01  1955        155     7.35%\n"
	if got != want {
		t.Errorf("default source:\n%s\nwant\n%s", got, want)
	}
}

func TestSourceUsage(t *testing.T) {
	db := handCounted(t)
	for _, args := range [][]string{
		{"--source", "spf"},
		{"--source", "dmarc", "--group", "mx"},
		{"--source", "both", "--group", "result-type"},
	} {
		if _, err := run(t, db, args...); err == nil || !strings.Contains(err.Error(), "want") {
			t.Errorf("%v: %v; want a usage error", args, err)
		}
	}
}

package stats

import (
	"io"
	"strings"
	"testing"

	"github.com/tlsrpt/tlsrpt/store"
)

var rows = []store.SessionRow{
	{Start: nov2, Key: "Google Inc.", Successful: 900, Failed: 100},
	{Start: nov2, Key: "=HYPERLINK(\"http://evil\")", Successful: 0, Failed: 0},
	{Start: nov9, Key: "Evil\x1b[2J\nforged\trow", Successful: 1, Failed: 3},
}

func TestJSON(t *testing.T) {
	got := jsonRows[[]map[string]any](t, output(t, WriteJSON, rows, store.ByReporter))
	if len(got) != 3 || got[0]["day"] != "2026-11-02" || got[0]["reporter"] != "Google Inc." ||
		got[0]["successful"] != 900.0 || got[0]["failed"] != 100.0 || got[0]["failure_rate"] != 0.1 {
		t.Errorf("JSON rows: %v", got)
	}
	if _, ok := got[0]["domain"]; ok {
		t.Error("a reporter row carries a domain key")
	}
	if s := output(t, WriteJSON, rows[:1], store.NoGroup); strings.Contains(s, "reporter") {
		t.Errorf("ungrouped rows carry a group key: %s", s)
	}
}

func TestCSV(t *testing.T) {
	recs := csvRecords(t, output(t, WriteCSV, rows, store.ByReporter))
	want := []string{"period_start", "reporter", "successful_sessions", "failed_sessions", "failure_rate"}
	if strings.Join(recs[0], ",") != strings.Join(want, ",") {
		t.Errorf("header %v, want %v", recs[0], want)
	}
	if len(recs) != 4 || recs[1][1] != "Google Inc." || recs[1][4] != "0.1000" {
		t.Errorf("records %v", recs)
	}
	if !strings.HasPrefix(recs[2][1], "'=") {
		t.Errorf("formula not defused: %q", recs[2][1])
	}
}

func TestTable(t *testing.T) {
	out := output(t, WriteTable, rows, store.ByReporter)
	if n := strings.Count(out, "\n"); n != 4 {
		t.Errorf("%d lines, want a header and one per row:\n%s", n, out)
	}
	if strings.ContainsAny(out, "\x1b\r") || !strings.Contains(out, `Evil\x1b[2J\nforged\trow`) {
		t.Errorf("hostile name not neutralised:\n%q", out)
	}
	if !strings.Contains(out, "10.00%") {
		t.Errorf("no failure rate:\n%s", out)
	}
}

// TestForgedReporterMarked: unsigned reports claiming "google.com" are a
// row of their own, marked in every output, never read as the signed
// google.com: a name claimed by unsigned reports is never counted as
// the signed reporter of that name.
func TestForgedReporterMarked(t *testing.T) {
	rs := []store.SessionRow{
		{Start: nov2, Key: "google.com", Successful: 10},
		{Start: nov2, Key: "google.com", Successful: 5, Unauthenticated: true},
	}
	js := output(t, WriteJSON, rs, store.ByReporter)
	got := jsonRows[[]Row](t, js)
	if len(got) != 2 || *got[0].Reporter != "google.com" || !*got[0].Authenticated || *got[1].Reporter != "google.com (unauthenticated)" || *got[1].Authenticated {
		t.Errorf("JSON rows %s", js)
	}
	for name, write := range map[string]func(io.Writer, []store.SessionRow, store.Group) error{"csv": WriteCSV, "table": WriteTable} {
		if s := output(t, write, rs, store.ByReporter); strings.Count(s, "google.com (unauthenticated)") != 1 || strings.Count(s, "google.com") != 2 {
			t.Errorf("%s:\n%s", name, s)
		}
	}
}

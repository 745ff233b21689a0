package stats

import (
	"bytes"
	"encoding/csv"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/tlsrpt/tlsrpt/store"
)

var rows = []store.SessionRow{
	{Start: time.Date(2026, 11, 2, 0, 0, 0, 0, time.UTC), Key: "Google Inc.", Successful: 900, Failed: 100},
	{Start: time.Date(2026, 11, 2, 0, 0, 0, 0, time.UTC), Key: "=HYPERLINK(\"http://evil\")", Successful: 0, Failed: 0},
	{Start: time.Date(2026, 11, 9, 0, 0, 0, 0, time.UTC), Key: "Evil\x1b[2J\nforged\trow", Successful: 1, Failed: 3},
}

func TestJSON(t *testing.T) {
	var b bytes.Buffer
	if err := WriteJSON(&b, rows, store.ByReporter); err != nil {
		t.Fatal(err)
	}
	var got []map[string]any
	if err := json.Unmarshal(b.Bytes(), &got); err != nil {
		t.Fatal(err)
	}
	if len(got) != 3 || got[0]["day"] != "2026-11-02" || got[0]["reporter"] != "Google Inc." ||
		got[0]["successful"] != 900.0 || got[0]["failed"] != 100.0 || got[0]["failure_rate"] != 0.1 {
		t.Errorf("JSON rows: %v", got)
	}
	if _, ok := got[0]["domain"]; ok {
		t.Error("a reporter row carries a domain key")
	}
	b.Reset()
	WriteJSON(&b, rows[:1], store.NoGroup)
	if strings.Contains(b.String(), "reporter") {
		t.Errorf("ungrouped rows carry a group key: %s", b.String())
	}
}

func TestCSV(t *testing.T) {
	var b bytes.Buffer
	if err := WriteCSV(&b, rows, store.ByReporter); err != nil {
		t.Fatal(err)
	}
	recs, err := csv.NewReader(&b).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
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
	var b bytes.Buffer
	if err := WriteTable(&b, rows, store.ByReporter); err != nil {
		t.Fatal(err)
	}
	out := b.String()
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
	day := time.Date(2026, 11, 2, 0, 0, 0, 0, time.UTC)
	rs := []store.SessionRow{
		{Start: day, Key: "google.com", Successful: 10},
		{Start: day, Key: "google.com", Successful: 5, Unauthenticated: true},
	}
	var b bytes.Buffer
	WriteJSON(&b, rs, store.ByReporter)
	var got []Row
	if err := json.Unmarshal(b.Bytes(), &got); err != nil || len(got) != 2 {
		t.Fatalf("%s: %v", b.String(), err)
	}
	if *got[0].Reporter != "google.com" || !*got[0].Authenticated || *got[1].Reporter != "google.com (unauthenticated)" || *got[1].Authenticated {
		t.Errorf("JSON rows %s", b.String())
	}
	for name, write := range map[string]func(*bytes.Buffer) error{
		"csv":   func(b *bytes.Buffer) error { return WriteCSV(b, rs, store.ByReporter) },
		"table": func(b *bytes.Buffer) error { return WriteTable(b, rs, store.ByReporter) },
	} {
		b.Reset()
		write(&b)
		if strings.Count(b.String(), "google.com (unauthenticated)") != 1 || strings.Count(b.String(), "google.com") != 2 {
			t.Errorf("%s:\n%s", name, b.String())
		}
	}
}

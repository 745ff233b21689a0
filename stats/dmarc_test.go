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

var hostile = []store.DMARCRow{
	{Start: time.Date(2026, 11, 2, 0, 0, 0, 0, time.UTC), Key: "=HYPERLINK(\"http://evil\")", Messages: 3, Fail: 3, Unauthenticated: true},
	{Start: time.Date(2026, 11, 2, 0, 0, 0, 0, time.UTC), Key: "Evil\x1b[2J\nforged\trow", Messages: 1, Pass: 1, Unauthenticated: true},
}

// TestDMARCHostileKeys: a reporter name from a report is defused in the
// CSV (no formula) and neutralised in the table (no escape sequence, no
// line of its own), and marked unauthenticated everywhere.
func TestDMARCHostileKeys(t *testing.T) {
	var b bytes.Buffer
	if err := WriteDMARCCSV(&b, hostile, store.ByReporter); err != nil {
		t.Fatal(err)
	}
	recs, err := csv.NewReader(&b).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	if len(recs) != 3 || !strings.HasPrefix(recs[1][1], "'=") || !strings.HasSuffix(recs[1][1], "(unauthenticated)") {
		t.Errorf("CSV: %q", recs)
	}
	b.Reset()
	if err := WriteDMARCTable(&b, hostile, store.ByReporter); err != nil {
		t.Fatal(err)
	}
	if strings.Contains(b.String(), "\x1b") || strings.Count(b.String(), "\n") != 3 {
		t.Errorf("table lets the name through: %q", b.String())
	}
	b.Reset()
	if err := WriteDMARCJSON(&b, hostile, store.ByReporter); err != nil {
		t.Fatal(err)
	}
	var rows []map[string]any
	if err := json.Unmarshal(b.Bytes(), &rows); err != nil {
		t.Fatal(err)
	}
	if rows[0]["authenticated"] != false || rows[0]["dmarc_fail"] != 3.0 || rows[0]["messages"] != 3.0 {
		t.Errorf("JSON: %v", rows)
	}
	b.Reset()
	WriteSideTable(&b, nil, store.ByReporter)
	if b.String() != "no reports recorded in that span\n" {
		t.Errorf("empty: %q", b.String())
	}
}

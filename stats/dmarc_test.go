package stats

import (
	"strings"
	"testing"

	"github.com/tlsrpt/tlsrpt/store"
)

var hostile = []store.DMARCRow{
	{Start: nov2, Key: "=HYPERLINK(\"http://evil\")", Messages: 3, Fail: 3, Unauthenticated: true},
	{Start: nov2, Key: "Evil\x1b[2J\nforged\trow", Messages: 1, Pass: 1, Unauthenticated: true},
}

// TestDMARCHostileKeys: a reporter name from a report is defused in the
// CSV (no formula) and neutralised in the table (no escape sequence, no
// line of its own), and marked unauthenticated everywhere.
func TestDMARCHostileKeys(t *testing.T) {
	recs := csvRecords(t, output(t, WriteDMARCCSV, hostile, store.ByReporter))
	if len(recs) != 3 || !strings.HasPrefix(recs[1][1], "'=") || !strings.HasSuffix(recs[1][1], "(unauthenticated)") {
		t.Errorf("CSV: %q", recs)
	}
	if table := output(t, WriteDMARCTable, hostile, store.ByReporter); strings.Contains(table, "\x1b") || strings.Count(table, "\n") != 3 {
		t.Errorf("table lets the name through: %q", table)
	}
	rows := jsonRows[[]map[string]any](t, output(t, WriteDMARCJSON, hostile, store.ByReporter))
	if rows[0]["authenticated"] != false || rows[0]["dmarc_fail"] != 3.0 || rows[0]["messages"] != 3.0 {
		t.Errorf("JSON: %v", rows)
	}
	if empty := output(t, WriteSideTable, nil, store.ByReporter); empty != "no reports recorded in that span\n" {
		t.Errorf("empty: %q", empty)
	}
}

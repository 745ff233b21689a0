package stats

import (
	"bytes"
	"encoding/csv"
	"encoding/json"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/tlsrpt/tlsrpt/store"
)

// nov2 and nov9 are the periods of the test rows.
var (
	nov2 = time.Date(2026, 11, 2, 0, 0, 0, 0, time.UTC)
	nov9 = time.Date(2026, 11, 9, 0, 0, 0, 0, time.UTC)
)

// output is what write writes of rows grouped by group, failing t when
// it returns an error.
func output[R any](t *testing.T, write func(io.Writer, []R, store.Group) error, rows []R, group store.Group) string {
	t.Helper()
	var b bytes.Buffer
	if err := write(&b, rows, group); err != nil {
		t.Fatal(err)
	}
	return b.String()
}

// csvRecords parses the CSV text s, failing t when it is not CSV.
func csvRecords(t *testing.T, s string) [][]string {
	t.Helper()
	recs, err := csv.NewReader(strings.NewReader(s)).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	return recs
}

// jsonRows parses the JSON text s into a T, failing t when it does not
// parse.
func jsonRows[T any](t *testing.T, s string) T {
	t.Helper()
	var v T
	if err := json.Unmarshal([]byte(s), &v); err != nil {
		t.Fatalf("%s: %v", s, err)
	}
	return v
}

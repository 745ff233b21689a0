// Package reporttest holds small helpers the tests of several packages use
// to make report inputs: gzip a report, give it another report-id.
package reporttest

import (
	"bytes"
	"compress/gzip"
	"encoding/json"
	"testing"
)

// Gzip returns b gzip-compressed.
func Gzip(t testing.TB, b []byte) []byte {
	t.Helper()
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	if _, err := zw.Write(b); err != nil {
		t.Fatal(err)
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// WithReportID returns the JSON report js with its report-id replaced.
func WithReportID(t testing.TB, js []byte, id string) []byte {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(js, &m); err != nil {
		t.Fatal(err)
	}
	m["report-id"] = id
	b, err := json.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

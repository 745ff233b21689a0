// Package reporttest holds small helpers the tests of several packages use
// to make report inputs (gzip a report, give it another report-id, make
// one of many failure details, a DMARC report of n records) and to assert
// what the parsers of both formats promise (check.go).
package reporttest

import (
	"archive/zip"
	"bytes"
	"compress/gzip"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"strconv"
	"strings"
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

// Base64Lines is b in base64 as a MIME body carries it: lines of 76
// characters, each ended by eol.
func Base64Lines(b []byte, eol string) string {
	var sb strings.Builder
	enc := base64.StdEncoding.EncodeToString(b)
	for len(enc) > 76 {
		sb.WriteString(enc[:76] + eol)
		enc = enc[76:]
	}
	sb.WriteString(enc + eol)
	return sb.String()
}

// Zip returns a zip archive of members, given as name and content in
// turn.
func Zip(t testing.TB, members ...string) []byte {
	t.Helper()
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	for i := 0; i+1 < len(members); i += 2 {
		w, err := zw.Create(members[i])
		if err != nil {
			t.Fatal(err)
		}
		if _, err := io.WriteString(w, members[i+1]); err != nil {
			t.Fatal(err)
		}
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// Noise returns n bytes of text no compressor shrinks (lower-case
// letters, digits, - and _): PostgreSQL compresses an index entry before
// it checks its size, so a repeated letter would pass where a real
// attacker's string does not.
func Noise(n int) string {
	b := make([]byte, n)
	rand.Read(b)
	return strings.ToLower(base64.RawURLEncoding.EncodeToString(b)[:n])
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

// Details returns a JSON report with one policy of n failure details, each
// with its own address (10.x.y.z from its index i), receiving-ip
// 2001:db8::<i in hex>, failed-session-count i+1, failure-reason-code
// "r<i>" and additional-information `a "quoted" <i>`, so that a detail
// out of place or lost shows.
func Details(id string, n int) []byte {
	var b strings.Builder
	b.WriteString(`{"organization-name":"Example","date-range":{"start-datetime":"2024-05-01T00:00:00Z","end-datetime":"2024-05-01T23:59:59Z"},` +
		`"contact-info":"x@example.net","report-id":` + strconv.Quote(id) + `,"policies":[{"policy":{"policy-type":"sts","policy-string":["version: STSv1"],` +
		`"policy-domain":"example.com","mx-host":"mx.example.com"},"summary":{"total-successful-session-count":1,"total-failure-session-count":2},` +
		`"failure-details":[`)
	for i := range n {
		if i > 0 {
			b.WriteString(",\n ")
		}
		fmt.Fprintf(&b, `{"result-type":"certificate-expired","sending-mta-ip":"10.%d.%d.%d","receiving-ip":"2001:db8::%x",`+
			`"failed-session-count":%d,"failure-reason-code":"r%d","additional-information":"a \"quoted\" %d"}`,
			i>>16&255, i>>8&255, i&255, i, i+1, i, i)
	}
	b.WriteString("]}]}")
	return []byte(b.String())
}

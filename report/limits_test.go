package report

import (
	"archive/zip"
	"bytes"
	"compress/gzip"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tlsrpt/tlsrpt/internal/reporttest"
	"github.com/tlsrpt/tlsrpt/internal/testenv"
)

// gzipBomb returns gzip data that decompresses to size bytes: a JSON
// opening followed by spaces, so that only the size gives it away.
func gzipBomb(tb testing.TB, size int64) []byte {
	tb.Helper()
	var buf bytes.Buffer
	zw, err := gzip.NewWriterLevel(&buf, gzip.BestSpeed)
	if err != nil {
		tb.Fatal(err)
	}
	head := []byte(`{"report-id": "bomb", "policies": [`)
	if _, err := zw.Write(head); err != nil {
		tb.Fatal(err)
	}
	chunk := bytes.Repeat([]byte{' '}, 1<<20)
	for left := size - int64(len(head)); left > 0; left -= int64(len(chunk)) {
		if left < int64(len(chunk)) {
			chunk = chunk[:left]
		}
		if _, err := zw.Write(chunk); err != nil {
			tb.Fatal(err)
		}
	}
	if err := zw.Close(); err != nil {
		tb.Fatal(err)
	}
	return buf.Bytes()
}

var (
	bigBombOnce sync.Once
	bigBomb     []byte
)

// gibBomb is a 1 GiB gzip bomb, built once per test binary.
func gibBomb(tb testing.TB) []byte {
	bigBombOnce.Do(func() { bigBomb = gzipBomb(tb, 1<<30) })
	return bigBomb
}

// cutBomb returns bomb cut short, and how many bytes the cut stream still
// decompresses to before it ends unexpectedly. A reader that goes past
// that point fails with io.ErrUnexpectedEOF, never ErrTooLarge.
func cutBomb(t *testing.T, bomb []byte) ([]byte, int64) {
	t.Helper()
	cut := bomb[:len(bomb)*3/4]
	zr, err := gzip.NewReader(bytes.NewReader(cut))
	if err != nil {
		t.Fatal(err)
	}
	n, err := io.Copy(io.Discard, zr)
	if !errors.Is(err, io.ErrUnexpectedEOF) {
		t.Fatalf("the cut bomb ends with %v after %d bytes, want an unexpected EOF", err, n)
	}
	return cut, n
}

// TestDecodeGzipBomb: a gzip bomb is refused with ErrTooLarge after
// reading just past the limit, without holding what it decompresses to.
// The bomb is cut short three quarters of the way, well past the limit: a
// decoder that read the whole stream (to count it, say) would meet the
// cut and fail otherwise, however fast the machine.
func TestDecodeGzipBomb(t *testing.T) {
	bomb, left := cutBomb(t, gzipBomb(t, 64<<20)) // 64 MiB over the default 16 MiB limit
	if left < 2*DefaultLimits.MaxDecompressed {
		t.Fatalf("the cut bomb gives only %d bytes", left)
	}
	t.Logf("bomb: %d bytes compressed, %d MiB decompressed before the cut", len(bomb), left>>20)
	var err error
	alloc := testenv.Allocated(func() { _, err = Decode(bomb, "bomb.json.gz", "application/tlsrpt+gzip", Limits{}) })
	wantErr(t, err, ErrTooLarge, `"bomb.json.gz"`, "16777216")
	t.Logf("refused, %d KiB allocated", alloc>>10)
	if alloc > 4<<20 {
		t.Errorf("refusing the bomb allocated %d bytes", alloc)
	}

	// A smaller one passes a limit that allows it, which shows the refusal
	// comes from the limit: it is then refused as a report.
	_, err = Decode(gzipBomb(t, 1<<20), "bomb.json.gz", "", Limits{MaxDecompressed: 1<<20 + 1})
	if err == nil || errors.Is(err, ErrTooLarge) {
		t.Errorf("with a large enough limit: error %v, want a parse error", err)
	}
}

func TestDecodeGzipBombInMessage(t *testing.T) {
	bomb := gzipBomb(t, 8<<20)
	raw := "From: x@example.org\r\nContent-Type: application/tlsrpt+gzip\r\n" +
		"Content-Transfer-Encoding: base64\r\n\r\n" + reporttest.Base64Lines(bomb, "\r\n")
	m, err := ReadMessage([]byte(raw), Limits{MaxDecompressed: 1 << 20})
	wantErr(t, err, ErrTooLarge, `"1"`)
	eq(t, "From", m.From, "x@example.org")
	if len(m.Found) != 1 || !errors.Is(m.Found[0].Err, ErrTooLarge) {
		t.Errorf("Found = %+v", m.Found)
	}
}

func sampleJSON(t *testing.T) string {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(corpusDir(t), "05-parsedmarc-google-failures-2024.json"))
	if err != nil {
		t.Fatal(err)
	}
	return string(data)
}

func TestDecodeZipLimits(t *testing.T) {
	rep := sampleJSON(t)
	lim := Limits{MaxDecompressed: 1 << 20, MaxReports: 3}

	t.Run("declared size", func(t *testing.T) {
		big := strings.Repeat(" ", 2<<20)
		_, err := Decode(reporttest.Zip(t, "big.json", big), "a.zip", "", lim)
		wantErr(t, err, ErrTooLarge, "declared size")
	})
	t.Run("total over entries", func(t *testing.T) {
		part := strings.Repeat(" ", 400<<10) + rep
		reps, err := Decode(reporttest.Zip(t, "1.json", part, "2.json", part, "3.json", part), "a.zip", "", lim)
		wantErr(t, err, ErrTooLarge, "a.zip/3.json")
		eq(t, "reports before the budget ran out", len(reps), 2)
	})
	t.Run("too many entries", func(t *testing.T) {
		reps, err := Decode(reporttest.Zip(t, "1.json", rep, "2.json", rep, "3.json", rep, "4.json", rep), "a.zip", "", lim)
		wantErr(t, err, ErrTooLarge, "more than 3 entries")
		eq(t, "reports", len(reps), 3)
	})
	t.Run("nested gzip bomb", func(t *testing.T) {
		var zbuf bytes.Buffer
		zw := zip.NewWriter(&zbuf)
		w, _ := zw.CreateHeader(&zip.FileHeader{Name: "r.json.gz", Method: zip.Store})
		w.Write(gzipBomb(t, 4<<20))
		zw.Close()
		_, err := Decode(zbuf.Bytes(), "a.zip", "", lim)
		wantErr(t, err, ErrTooLarge, `"a.zip/r.json.gz"`)
	})
	t.Run("no report entries", func(t *testing.T) {
		_, err := Decode(reporttest.Zip(t, "README", "hello"), "a.zip", "", lim)
		wantErr(t, err, ErrNoReport, `zip "a.zip" holds no JSON or gzip entry`)
	})
	t.Run("two bad entries", func(t *testing.T) {
		reps, err := Decode(reporttest.Zip(t, "a.json", "{}", "b.json", `{"report-id": "x", "policies": [{"summary": {"total-failure-session-count": -1}}]}`), "a.zip", "", lim)
		wantErr(t, err, ErrNoReport, `"a.zip/a.json"`, `; report: parsing JSON report "a.zip/b.json": policies[0].summary.total-failure-session-count: negative count -1`)
		eq(t, "reports", len(reps), 0)
	})
	t.Run("corrupt", func(t *testing.T) {
		_, err := Decode([]byte("PK\x03\x04garbage"), "a.zip", "", lim)
		wantErr(t, err, nil, `opening zip "a.zip"`)
	})
}

func TestParseJSONLimit(t *testing.T) {
	rep := sampleJSON(t)
	_, err := ParseJSON(strings.NewReader(rep), Limits{MaxDecompressed: int64(len(rep)) - 1})
	wantErr(t, err, ErrTooLarge, "report: reading JSON")
	r, err := ParseJSON(strings.NewReader(rep), Limits{MaxDecompressed: int64(len(rep))})
	if err != nil || r.TotalFailed() != 3 {
		t.Fatalf("at the limit: %v, %+v", err, r)
	}
	_, err = Decode([]byte(rep), "r.json", "", Limits{MaxDecompressed: 100})
	wantErr(t, err, ErrTooLarge, `"r.json"`)
}

func TestReadMessageLimits(t *testing.T) {
	data, err := os.ReadFile(filepath.Join(corpusDir(t), "02-mox-google-2022.eml"))
	if err != nil {
		t.Fatal(err)
	}
	m, err := ReadMessage(data, Limits{MaxMessage: int64(len(data)) - 1})
	wantErr(t, err, ErrTooLarge, "exceeds")
	eq(t, "headers still read", m.Submitter, "google.com")
	eq(t, "Found", len(m.Found), 0)

	data, err = os.ReadFile(filepath.Join("testdata", "two-reports.eml"))
	if err != nil {
		t.Fatal(err)
	}
	m, err = ReadMessage(data, Limits{MaxReports: 1})
	wantErr(t, err, ErrTooLarge, "more than 1 report")
	eq(t, "Found", len(m.Found), 1)
}

// TestDecodeFormat checks how the format is chosen when the content does
// not tell: by media type, then by name.
func TestDecodeFormat(t *testing.T) {
	rep := sampleJSON(t)
	var gz bytes.Buffer
	zw := gzip.NewWriter(&gz)
	zw.Write([]byte(rep))
	zw.Close()
	tests := []struct {
		data, name, mediaType string
		target                error  // nil: a plain error, unless ok
		fragment              string // in the error
		ok                    bool
	}{
		{data: rep, name: "x", mediaType: "text/plain", ok: true},            // content first
		{data: gz.String(), name: "x.txt", mediaType: "text/html", ok: true}, // magic first
		{data: "garbage, and longer than a gzip header", name: "x", mediaType: "application/tlsrpt+gzip", fragment: "gzip: invalid header"},
		{data: "garbage, and longer than a gzip header", name: "x", mediaType: "Application/X-Gzip; name=x", fragment: "gzip: invalid header"},
		{data: "garbage", name: "x", mediaType: "application/json", target: ErrNoReport, fragment: "not a JSON object"},
		{data: "garbage", name: "x", mediaType: "application/zip", fragment: "opening zip"},
		{data: "garbage, and longer than a gzip header", name: "x.JSON.GZ", mediaType: "application/octet-stream", fragment: "gzip: invalid header"},
		{data: "garbage", name: "x.zip", mediaType: "", fragment: "opening zip"},
		{data: "garbage", name: "x.bin", mediaType: "application/octet-stream", target: ErrNoReport, fragment: `"x.bin" is not a TLS report`},
		{data: "", name: "empty", mediaType: "", target: ErrNoReport},
		{data: "[1, 2]", name: "a.json", mediaType: "", target: ErrNoReport},
		{data: `{"report-id": "x"`, name: "a.json", mediaType: "", fragment: "unexpected EOF"},
		{data: `{"report-id": "x", "policies": {}}`, name: "a.json", mediaType: "", fragment: "unmarshal JSON object"},
		{data: `{"policies": []}`, name: "a.json", mediaType: "", target: ErrNoReport, fragment: `no "report-id"`},
		{data: `{"report-id": "x", "policies": null}`, name: "a.json", mediaType: "", target: ErrNoReport},
		{data: `{"report-id": "x", "policies": [], "date-range": {"start-datetime": "yesterday"}}`, name: "a.json", fragment: `date-range.start-datetime "yesterday"`},
		{data: `{"report-id": "x", "policies": [{"policy": {"mx-host": 7}}]}`, name: "a.json", fragment: "mx-host"},
		{data: `{"report-id": "x", "policies": [{"policy": {"policy-string": [1]}}]}`, name: "a.json", fragment: "policy-string"},
	}
	for i, tt := range tests {
		t.Run(fmt.Sprint(i, " ", tt.name, " ", tt.mediaType), func(t *testing.T) {
			reps, err := Decode([]byte(tt.data), tt.name, tt.mediaType, Limits{})
			if tt.ok {
				if err != nil || len(reps) != 1 || reps[0].TotalFailed() != 3 {
					t.Fatalf("got %v, %v", reps, err)
				}
				return
			}
			wantErr(t, err, tt.target, tt.fragment)
		})
	}
}

// TestParseJSONEmptyPolicies checks the invariant that Policies is never
// nil, even for a report with none.
func TestParseJSONEmptyPolicies(t *testing.T) {
	r, err := ParseJSON(strings.NewReader(`{"report-id": "x", "policies": []}`), Limits{})
	if err != nil {
		t.Fatal(err)
	}
	if r.Policies == nil || len(r.Policies) != 0 {
		t.Errorf("Policies = %#v", r.Policies)
	}
}

// TestReadMessageJunk feeds inputs that are no message at all.
func TestReadMessageJunk(t *testing.T) {
	for _, raw := range []string{
		"",
		"\x00\x01\x02\xff\xfe binary junk\n\n\x00",
		"no header at all, just a line of text",
		"Subject: hi\n\nplain text body\n",
		"Content-Type: multipart/mixed; boundary=x\n\nno parts here at all\n",
		"Content-Type: multipart/mixed; boundary=\"\"\n\n--\n\n",
		"Content-Type: multipart/mixed\n\n--x\n\nbody\n",
		"Content-Type: multipart/mixed; boundary=x\n\n--x\nContent-Type: multipart/mixed; boundary=x\n\n--x\n--x--\n",
		"Content-Type: application/tlsrpt+gzip\nContent-Transfer-Encoding: base64\n\n",
	} {
		m, err := ReadMessage([]byte(raw), Limits{})
		if m == nil {
			t.Fatalf("%q: nil Message", raw)
		}
		if err == nil {
			t.Errorf("%q: no error", raw)
			continue
		}
		if len(m.Found) == 0 && !errors.Is(err, ErrNoReport) {
			t.Errorf("%q: nothing found but error %v does not wrap ErrNoReport", raw, err)
		}
		if m.Failed() != 0 {
			t.Errorf("%q: Failed = %d", raw, m.Failed())
		}
		for _, c := range err.Error() {
			if c < ' ' || c > '~' {
				t.Errorf("%q: error %q holds an unprintable character", raw, err)
				break
			}
		}
	}
}

// TestReadMessageDeepNesting checks that absurd nesting is cut short.
func TestReadMessageDeepNesting(t *testing.T) {
	var sb strings.Builder
	sb.WriteString("From: x@example.org\n")
	for i := 0; i < 100; i++ {
		fmt.Fprintf(&sb, "Content-Type: multipart/mixed; boundary=b%d\n\n--b%d\n", i, i)
	}
	sb.WriteString("Content-Type: application/json\n\n{}\n")
	m, err := ReadMessage([]byte(sb.String()), Limits{})
	wantErr(t, err, ErrNoReport, "nested deeper than 16")
	eq(t, "From", m.From, "x@example.org")
}

func TestTimeLayouts(t *testing.T) {
	for in, want := range map[string]string{
		"2023-01-10T00:00:00":           "2023-01-10T00:00:00Z",
		"2023-01-10T00:00:00Z":          "2023-01-10T00:00:00Z",
		"2023-01-10T02:00:00+02:00":     "2023-01-10T00:00:00Z",
		"2023-01-10T02:00:00+0200":      "2023-01-10T00:00:00Z",
		"2023-01-09T19:00:00.5-05:00":   "2023-01-10T00:00:00.5Z",
		"2023-01-10 00:00:00":           "2023-01-10T00:00:00Z",
		"2023-01-10":                    "2023-01-10T00:00:00Z",
		" 2023-01-10T00:00:00.000000Z ": "2023-01-10T00:00:00Z",
		"":                              "0001-01-01T00:00:00Z",
	} {
		got, err := xtime(in).parse()
		if err != nil {
			t.Errorf("%q: %v", in, err)
			continue
		}
		if got.Format(time.RFC3339Nano) != want || got.Location() != time.UTC {
			t.Errorf("%q = %v, want %s", in, got, want)
		}
	}
	for _, in := range []string{"yesterday", "2023-13-10T00:00:00Z", "1673308800"} {
		if got, err := xtime(in).parse(); err == nil {
			t.Errorf("%q parsed as %v", in, got)
		}
	}
}

// TestCountsOverTheBoundAreRefused sends the counts an attacker would use
// to overflow sums: the report is refused whole, naming the member, and
// counts up to the bound pass.
func TestCountsOverTheBoundAreRefused(t *testing.T) {
	doc := func(n string) string {
		return `{"organization-name":"o","date-range":{"start-datetime":"2026-11-22T00:00:00Z","end-datetime":"2026-11-22T23:59:59Z"},"report-id":"r",` +
			`"policies":[{"policy":{"policy-type":"sts","policy-domain":"example.com"},"summary":{"total-successful-session-count":0,"total-failure-session-count":1},` +
			`"failure-details":[{"result-type":"starttls-not-supported","failed-session-count":` + n + `}]}]}`
	}
	for _, n := range []string{"9223372036854775807", "1000000000001", "1e13", "9.3e18"} {
		_, err := ParseJSON(strings.NewReader(doc(n)), Limits{})
		if err == nil || !strings.Contains(err.Error(), "failure-details[0].failed-session-count") || !strings.Contains(err.Error(), "exceeds 10^12") {
			t.Errorf("count %s: %v", n, err)
		}
	}
	for _, n := range []string{"1000000000000", "1e12", "0"} {
		if _, err := ParseJSON(strings.NewReader(doc(n)), Limits{}); err != nil {
			t.Errorf("count %s refused: %v", n, err)
		}
	}
}

// emptyDetails is a report of n failure details of two bytes each ({}),
// which decode to a whole FailureDetail: the cheapest way to make the
// decoder allocate.
func emptyDetails(id string, n int) []byte {
	return []byte(`{"report-id":"` + id + `","policies":[{"policy":{"policy-type":"sts"},"failure-details":[` +
		strings.TrimSuffix(strings.Repeat("{},", n), ",") + `]}]}`)
}

// emptyPolicies is a report of n policies of two bytes each ({}).
func emptyPolicies(id string, n int) []byte {
	return []byte(`{"report-id":"` + id + `","policies":[` + strings.TrimSuffix(strings.Repeat("{},", n), ",") + `]}`)
}

// TestDetailsBound attacks the decoder with tiny details: five million of
// them fit in 20 KB of gzip. Past Limits.MaxDetails the report is refused
// with ErrTooLarge, naming the option, having decoded no more than the
// bound; the bound holds across the reports of one input.
func TestDetailsBound(t *testing.T) {
	attack := gzipMembers(t, emptyDetails("attack", 5_000_000), nil, "")
	t.Logf("attack: %d bytes of gzip", len(attack))
	var err error
	alloc := testenv.Allocated(func() { _, err = Decode(attack, "r.json.gz", "", Limits{}) })
	wantErr(t, err, ErrTooLarge, "more than 50000 failure details in one input")
	wantLimit(t, err, "MaxDetails")
	if alloc > 64<<20 {
		t.Errorf("refusing 5 million empty details allocated %d MiB", alloc>>20)
	}

	// Two reports of 60 details in one zip: the second is past the
	// input's bound.
	wantSecondRefused(t, emptyDetails, Limits{MaxDetails: 100}, "failure details")
}

// wantSecondRefused reads a zip of two reports of 60 things each, made
// by mk, under lim that allows 100 of them: the first is read, the second
// is past the input's bound and refused, naming its file and what it had
// too many of.
func wantSecondRefused(t *testing.T, mk func(id string, n int) []byte, lim Limits, what string) {
	t.Helper()
	zipped := reporttest.Zip(t, "first.json", string(mk("first", 60)), "second.json", string(mk("second", 60)))
	reps, err := Decode(zipped, "r.zip", "", lim)
	if len(reps) != 1 || reps[0].ReportID != "first" {
		t.Errorf("zip of two reports of 60 %s, bound 100: %d reports read", what, len(reps))
	}
	wantErr(t, err, ErrTooLarge, "second.json", "more than 100 "+what)
}

// TestBoundsExact reads a report of exactly the documented bounds with
// the default limits, 50,000 failure details and 10,000 policies, and
// refuses one more of either, naming its own option: policies and details
// are counted apart, so neither eats into the other's bound (a report of
// exactly 50,000 details and its one policy was once refused).
func TestBoundsExact(t *testing.T) {
	const details, policies = 50_000, 10_000
	eq(t, "documented --max-details", DefaultLimits.MaxDetails, details)
	eq(t, "documented --max-policies", DefaultLimits.MaxPolicies, policies)
	read := func(name string, data []byte) (*Report, error) {
		t.Helper()
		reps, err := Decode(gzipMembers(t, data, nil, ""), name, "", Limits{})
		if err != nil {
			return nil, err
		}
		r, err := ParseJSON(bytes.NewReader(data), Limits{})
		if err != nil {
			t.Fatalf("%s: Decode read it, ParseJSON did not: %v", name, err)
		}
		if len(reps) != 1 || len(r.Policies) != len(reps[0].Policies) {
			t.Fatalf("%s: %d reports", name, len(reps))
		}
		return reps[0], nil
	}
	for _, tc := range []struct {
		limit string // the field of Limits
		bound int
		what  string // what is counted, as errors say it
		mk    func(id string, n int) []byte
		count func(*Report) int
	}{
		{"MaxDetails", details, "failure details", emptyDetails, func(r *Report) int { return len(r.Policies[0].Details) }},
		{"MaxPolicies", policies, "policies", emptyPolicies, func(r *Report) int { return len(r.Policies) }},
	} {
		r, err := read(tc.limit+" at bound", tc.mk("b", tc.bound))
		if err != nil || tc.count(r) != tc.bound {
			t.Fatalf("a report of exactly %d %s: %v", tc.bound, tc.what, err)
		}
		_, err = read(tc.limit+" over bound", tc.mk("b", tc.bound+1))
		wantErr(t, err, ErrTooLarge, fmt.Sprintf("more than %d %s in one input", tc.bound, tc.what))
		wantLimit(t, err, tc.limit)
		_, err = ParseJSON(bytes.NewReader(tc.mk("b", tc.bound+1)), Limits{})
		wantLimit(t, err, tc.limit)
	}

	// Both bounds at once, in one report: each counts apart.
	both := []byte(`{"report-id":"b","policies":[` + strings.Repeat("{},", policies-1) +
		`{"failure-details":[` + strings.TrimSuffix(strings.Repeat("{},", details), ",") + `]}]}`)
	if r, err := read("both-at-bound", both); err != nil || len(r.Policies) != policies {
		t.Fatalf("%d policies and %d details: %v", policies, details, err)
	}

	// The bounds hold across the reports of one input: two reports of
	// 60 policies, bound 100.
	wantSecondRefused(t, emptyPolicies, Limits{MaxPolicies: 100}, "policies")
}

// policyWith is a report whose one policy has the given policy-string and
// mx-host members (raw JSON).
func policyWith(policyString, mxHost string) []byte {
	return []byte(`{"report-id":"s","policies":[{"policy":{"policy-type":"tlsa","policy-string":` + policyString +
		`,"mx-host":` + mxHost + `}}]}`)
}

// emptyStrings is a JSON array of n empty strings.
func emptyStrings(n int) string {
	return "[" + strings.TrimSuffix(strings.Repeat(`"",`, n), ",") + "]"
}

// TestStringsBound attacks policy-string and mx-host with empty strings,
// two bytes each, directly and inside Microsoft's nested form: past
// MaxStrings the report is refused with ErrTooLarge, having decoded no
// more than the bound; MaxStrings exactly passes.
func TestStringsBound(t *testing.T) {
	attack := gzipMembers(t, policyWith(emptyStrings(5_000_000), `"mx.example"`), nil, "")
	var err error
	alloc := testenv.Allocated(func() { _, err = Decode(attack, "r.json.gz", "", Limits{}) })
	wantErr(t, err, ErrTooLarge, "policy-string: more than 1000 strings")
	if alloc > 16<<20 {
		t.Errorf("refusing five million empty strings allocated %d MiB", alloc>>20)
	}
	_, err = Decode(policyWith(`[]`, emptyStrings(MaxStrings+1)), "r.json", "", Limits{})
	wantErr(t, err, ErrTooLarge, "mx-host: more than 1000 strings")

	nested, _ := json.Marshal(emptyStrings(MaxStrings + 1))
	_, err = Decode(policyWith("["+string(nested)+"]", `[]`), "r.json", "", Limits{})
	wantErr(t, err, ErrTooLarge, "policy-string: more than 1000 strings")

	reps, err := Decode(policyWith(emptyStrings(MaxStrings), emptyStrings(MaxStrings)), "r.json", "", Limits{})
	if err != nil {
		t.Fatalf("%d strings each: %v", MaxStrings, err)
	}
	if p := reps[0].Policies[0]; len(p.Strings) != MaxStrings || len(p.MXHosts) != MaxStrings {
		t.Errorf("%d strings each: got %d and %d", MaxStrings, len(p.Strings), len(p.MXHosts))
	}
}

// namedReport is a report with ordinary names but for member, which is
// value.
func namedReport(member string, value string) []byte {
	names := map[string]string{
		"organization-name": "Org", "report-id": "id", "policy-domain": "example.com",
		"mx-host": "mx.example.com", "result-type": "certificate-expired",
		"receiving-mx-hostname": "mx.example.com", "receiving-mx-helo": "mx.example.com",
	}
	names[member] = value
	q := func(k string) string { b, _ := json.Marshal(names[k]); return string(b) }
	return []byte(`{"organization-name":` + q("organization-name") + `,"report-id":` + q("report-id") +
		`,"policies":[{"policy":{"policy-type":"sts","policy-domain":` + q("policy-domain") +
		`,"mx-host":["mx0.example.com",` + q("mx-host") + `]},"summary":{"total-failure-session-count":1},` +
		`"failure-details":[{},{"result-type":` + q("result-type") + `,"sending-mta-ip":"192.0.2.1",` +
		`"receiving-mx-hostname":` + q("receiving-mx-hostname") + `,"receiving-mx-helo":` + q("receiving-mx-helo") +
		`,"failed-session-count":1}]}]}`)
}

// TestNamesBound sends a 20 KB name in every member the store indexes
// or that names a host: the report is refused as bad JSON, the error
// names the member and its length but holds none of the name; a name of
// exactly MaxName bytes is read. SQLite stored such a report-id and
// PostgreSQL refused it; decoding is shared, so both engines now get the
// same refusal (store/bounds_test.go runs it on both).
func TestNamesBound(t *testing.T) {
	for member, path := range map[string]string{
		"organization-name":     "organization-name",
		"report-id":             "report-id",
		"policy-domain":         "policies[0].policy.policy-domain",
		"mx-host":               "policies[0].policy.mx-host[1]",
		"result-type":           "policies[0].failure-details[1].result-type",
		"receiving-mx-hostname": "policies[0].failure-details[1].receiving-mx-hostname",
		"receiving-mx-helo":     "policies[0].failure-details[1].receiving-mx-helo",
	} {
		t.Run(member, func(t *testing.T) {
			at := strings.Repeat("a", MaxName-1) + "é"[:1] // invalid UTF-8 becomes U+FFFD: 257 bytes
			if _, err := Decode(namedReport(member, at), "r.json", "", Limits{}); err == nil {
				t.Errorf("a name that decodes to %d bytes was read", MaxName+2)
			}
			at = strings.Repeat("é", MaxName/2) + "a"
			reps, err := Decode(namedReport(member, at), "r.json", "", Limits{})
			if err != nil || len(reps) != 1 {
				t.Fatalf("a name of exactly %d bytes: %v", MaxName, err)
			}
			hostile := strings.Repeat("\x1b[2J<", 4000)
			for _, data := range [][]byte{namedReport(member, hostile), gzipMembers(t, namedReport(member, hostile), nil, "")} {
				_, err = Decode(data, "r.json", "", Limits{})
				wantErr(t, err, ErrJSON, path+" of 20000 bytes exceeds 255: not a real report")
				if errors.Is(err, ErrTooLarge) || strings.Contains(err.Error(), "[2J") {
					t.Errorf("error %q: too large, or quotes the name", err)
				}
			}
		})
	}
}

// wantLimit checks that err is ErrTooLarge with a *LimitError of the
// field limit of Limits, and that its text names no flag: the command
// layer says how to raise the bound.
func wantLimit(t *testing.T, err error, limit string) {
	t.Helper()
	var le *LimitError
	if !errors.Is(err, ErrTooLarge) || !errors.As(err, &le) || le.Limit != limit {
		t.Errorf("error %v: want ErrTooLarge with a LimitError of %s", err, limit)
	}
	if err != nil && strings.Contains(err.Error(), "--") {
		t.Errorf("error %q names a flag", err)
	}
}

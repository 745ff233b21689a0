package report

import (
	"bytes"
	"compress/gzip"
	"reflect"
	"testing"

	"github.com/tlsrpt/tlsrpt/internal/reporttest"
)

// gzipMembers compresses data as one gzip member per part, cutting it at
// the given offsets, then appends trailer.
func gzipMembers(t *testing.T, data []byte, cuts []int, trailer string) []byte {
	t.Helper()
	var out bytes.Buffer
	prev := 0
	for _, c := range append(cuts, len(data)) {
		zw := gzip.NewWriter(&out)
		if _, err := zw.Write(data[prev:c]); err != nil {
			t.Fatal(err)
		}
		if err := zw.Close(); err != nil {
			t.Fatal(err)
		}
		prev = c
	}
	out.WriteString(trailer)
	return out.Bytes()
}

// TestGzipStreamsLikePlainJSON decodes one large report as plain JSON and
// as gzip, streamed: in one member, in members cut inside a string and
// inside a number, with padding after the last member, and with a byte
// order mark and white space before the object. Every detail must come
// out the same and in order.
func TestGzipStreamsLikePlainJSON(t *testing.T) {
	data := reporttest.Details("big", 20000)
	want, err := Decode(data, "big.json", "", Limits{})
	if err != nil {
		t.Fatal(err)
	}
	if got := len(want[0].Policies[0].Details); got != 20000 {
		t.Fatalf("plain JSON: %d details, want 20000", got)
	}
	last := want[0].Policies[0].Details[19999]
	if last.SendingMTAIP.String() != "10.0.78.31" || last.FailedSessions != 20000 || last.AdditionalInformation != `a "quoted" 19999` {
		t.Fatalf("plain JSON: last detail %+v", last)
	}
	inString := bytes.Index(data, []byte(`"quoted`)) + 3
	inNumber := bytes.LastIndex(data, []byte(`"failed-session-count":1999`)) + 25
	cases := map[string][]byte{
		"one member":            gzipMembers(t, data, nil, ""),
		"members cut mid-token": gzipMembers(t, data, []int{inString, inNumber, len(data) - 1}, ""),
		"padding after":         gzipMembers(t, data, []int{inString}, "\r\n\x00\x00 \t\n"),
		"BOM and space":         gzipMembers(t, append([]byte("\xef\xbb\xbf \r\n\t"), data...), nil, ""),
	}
	for name, gz := range cases {
		t.Run(name, func(t *testing.T) {
			got, err := Decode(gz, "big.json.gz", "", Limits{})
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, want) {
				t.Errorf("gzip gives another report than plain JSON")
			}
		})
	}
}

// TestGzipStreamErrors: what follows the JSON inside the stream is read
// and judged, as when the whole content was parsed at once.
func TestGzipStreamErrors(t *testing.T) {
	data := reporttest.Details("big", 3)
	cases := []struct {
		name    string
		gz      []byte
		target  error
		message string
	}{
		{"second value after the report", gzipMembers(t, append(append([]byte{}, data...), " {}"...), nil, ""), ErrJSON, "after top-level value"},
		{"garbage member after padding", gzipMembers(t, data, nil, "\n\x1f\x8b\x08junk"), ErrGzip, "gzip member after"},
		{"truncated member", gzipMembers(t, data, nil, "")[:40], ErrGzip, "unexpected EOF"},
		{"not JSON inside", gzipMembers(t, []byte("\xef\xbb\xbf  <html>"), nil, ""), ErrNoReport, "not JSON"},
		{"bad address deep inside", gzipMembers(t, bytes.Replace(data, []byte(`"10.0.0.2"`), []byte(`"10.0.0.999"`), 1), nil, ""), ErrJSON,
			"policies[0].failure-details[2].sending-mta-ip"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := Decode(c.gz, "r.json.gz", "", Limits{})
			wantErr(t, err, c.target, c.message)
		})
	}
}

// TestFailureDetailsForms: absent and null give no slice, [] an empty
// one, and anything but an array is refused naming the member.
func TestFailureDetailsForms(t *testing.T) {
	doc := func(details string) []byte {
		return []byte(`{"report-id":"x","policies":[{"policy":{"policy-type":"sts"}` + details + `}]}`)
	}
	for name, c := range map[string]struct {
		details string
		isNil   bool
	}{"absent": {"", true}, "null": {`,"failure-details":null`, true}, "empty": {`,"failure-details":[]`, false}} {
		reps, err := Decode(doc(c.details), "r.json", "", Limits{})
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if d := reps[0].Policies[0].Details; (d == nil) != c.isNil || len(d) != 0 {
			t.Errorf("%s: details %#v, want nil: %v", name, d, c.isNil)
		}
	}
	_, err := Decode(doc(`,"failure-details":"none"`), "r.json", "", Limits{})
	wantErr(t, err, ErrJSON, "failure-details: want an array, not a string")
}

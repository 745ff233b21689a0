package review

import (
	"bytes"
	"encoding/json"
	"reflect"
	"testing"
	"time"

	"github.com/tlsrpt/tlsrpt/assess"
)

// TestJSONAsEncodingJSON: WriteJSON writes, byte for byte, what
// encoding/json's Encoder with SetIndent("", "  ") writes for the whole
// slice, for records full of what reports put in strings: HTML, line and
// paragraph separators, control characters, quotes and backslashes;
// with and without bans, nil and empty lists, zero and fractional times.
// Invalid UTF-8 is the one difference: both write U+FFFD in its place,
// encoding/json as the escape \ufffd, WriteJSON as the character; the
// documents decode to the same records.
func TestJSONAsEncodingJSON(t *testing.T) {
	t.Run("valid UTF-8", func(t *testing.T) { compareWithEncodingJSON(t, "", true) })
	t.Run("invalid UTF-8", func(t *testing.T) { compareWithEncodingJSON(t, "\xff\xfe", false) })
}

func compareWithEncodingJSON(t *testing.T, extra string, sameBytes bool) {
	hostile := "<script>&amp;\u2028\u2029\x00\x1b[2J\"\\\t\r\n\u202e é 😀" + extra
	none := []assess.BanRecord{}
	some := []assess.BanRecord{{Backend: "fail2ban", Where: "jail <sshd>", Detail: hostile}, {Backend: "iptables", Where: "INPUT"}}
	recs := []assess.Record{
		{IP: "192.0.2.1", FailedSessions: 1 << 40, Reports: 3, Organizations: []string{hostile, "Google"},
			ResultTypes: []string{"certificate-expired"}, FirstSeen: time.Date(2024, 1, 2, 3, 4, 5, 6, time.UTC),
			LastSeen: time.Date(2024, 5, 6, 0, 0, 0, 0, time.UTC), Trusted: true, Why: hostile, Banned: &some},
		{IP: "2001:db8::1", Organizations: []string{}, ResultTypes: nil, Why: "", DNSFailed: true,
			Banned: &none, BannedUnknown: []string{"ipqbdb", hostile}},
		{IP: "198.51.100.7", Why: "plain"},
	}
	var want bytes.Buffer
	enc := json.NewEncoder(&want)
	enc.SetIndent("", "  ")
	if err := enc.Encode(recs); err != nil {
		t.Fatal(err)
	}
	var got bytes.Buffer
	if err := WriteJSON(&got, recs); err != nil {
		t.Fatal(err)
	}
	if sameBytes && !bytes.Equal(got.Bytes(), want.Bytes()) {
		t.Errorf("WriteJSON differs from encoding/json:\n got: %q\nwant: %q", got.Bytes(), want.Bytes())
	}
	var gotRecs, wantRecs []assess.Record
	if err := json.Unmarshal(got.Bytes(), &gotRecs); err != nil {
		t.Fatalf("WriteJSON wrote invalid JSON: %v", err)
	}
	if err := json.Unmarshal(want.Bytes(), &wantRecs); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(gotRecs, wantRecs) {
		t.Errorf("WriteJSON's records decode to\n%+v\nwant\n%+v", gotRecs, wantRecs)
	}
	got.Reset()
	if err := WriteJSON(&got, nil); err != nil || got.String() != "[]\n" {
		t.Errorf("no records: %q, %v", got.String(), err)
	}
}

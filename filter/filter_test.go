package filter

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/base64"
	"errors"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/tlsrpt/tlsrpt/arrival"
	"github.com/tlsrpt/tlsrpt/internal/golden"
	"github.com/tlsrpt/tlsrpt/internal/reporttest"
	"github.com/tlsrpt/tlsrpt/internal/storetest"
	"github.com/tlsrpt/tlsrpt/report"
	"github.com/tlsrpt/tlsrpt/store"
)

// fixedNow is the clock of every test, so that golden files are stable.
func fixedNow() time.Time { return time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC) }

// corpusDir holds the shared corpus of real reports, copied byte for byte.
const corpusDir = "../testdata/corpus"

// wantHeader is the TLS-Report-Has-Failures value each sample must get
// ("" for none). A prefix match is enough for problem descriptions.
var wantHeader = map[string]string{
	"01-mox-microsoft-2023.eml":                "",
	"02-mox-google-2022.eml":                   "",
	"03-parsedmarc-google-2024.eml":            "",
	"04-parsedmarc-mailru-2024.json":           "1",
	"05-parsedmarc-google-failures-2024.json":  "3",
	"06-parsedmarc-rfc8460-mxhost-string.json": "303",
	"09-drv-microsoft-tlsa-2025.json":          "",
	"10-drv-microsoft-no-ip-2025.json":         "3",
	"11-drv-contact-null-2026.json":            "",
	"12-mailtlsrpt-google-2020.eml":            "",
	"13-tlsrptdigest-microsoft-html-2026.eml":  "",
	"14-tlsrptdigest-google-failure.eml":       "2",
	"15-mailauth-wrong-ctype-plainjson.eml":    "1",
	"bad-base64.eml":                           "unreadable report: ",
	"bad-ip.eml":                               "unreadable report: ",
	"bad-json.eml":                             "unreadable report: ",
	"base64-text.eml":                          "3",
	"corrupt-gzip.eml":                         "unreadable report: ",
	"crlf.eml":                                 "3",
	"empty.eml":                                "empty message",
	"invalid-utf8.eml":                         "3",
	"latin1-qp-text.eml":                       "3",
	"missing-closing-boundary.eml":             "3",
	"mt-gzip.eml":                              "3",
	"mt-json.eml":                              "3",
	"mt-octet-stream.eml":                      "3",
	"mt-tlsrpt-gzip.eml":                       "3",
	"mt-tlsrpt-json.eml":                       "3",
	"mt-tlsrpt.eml":                            "3",
	"mt-unknown-sniffed-gzip.eml":              "3",
	"mt-x-gzip.eml":                            "3",
	"mt-zip.eml":                               "3",
	"nested-multipart.eml":                     "3",
	"no-report.eml":                            "no TLS report found in message",
	"no-text-part.eml":                         "3",
	"not-a-message.eml":                        "no TLS report found in message",
	"truncated-gzip.eml":                       "unreadable report: ",
	"two-reports.eml":                          "4",
	"whole-message-gzip.eml":                   "3",
	"whole-message-json.eml":                   "3",
}

// sample is one input message of the golden tests.
type sample struct {
	name string
	raw  []byte
}

// samples returns the corpus (JSON files wrapped in a report message as
// Google sends them) and the own test data.
func samples(t testing.TB) []sample {
	var out []sample
	for _, f := range golden.Samples(t, 30, []string{".eml", ".json"}, corpusDir, "testdata") {
		raw, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		if filepath.Ext(f) == ".json" {
			raw = wrapJSON(filepath.Base(f), raw)
		}
		out = append(out, sample{filepath.Base(f), raw})
	}
	return out
}

// wrapJSON builds the report message a reporter would send for a JSON
// report: multipart/report with a text part and a gzip attachment.
func wrapJSON(name string, js []byte) []byte {
	var gz bytes.Buffer
	zw := gzip.NewWriter(&gz)
	zw.Write(js)
	zw.Close()
	return []byte("From: reporter@example.net\r\nTo: tlsrpt@example.com\r\n" +
		"Subject: Report Domain: example.com Submitter: example.net\r\n" +
		"Message-ID: <" + name + "@example.net>\r\nTLS-Report-Submitter: example.net\r\n" +
		"MIME-Version: 1.0\r\nContent-Type: multipart/report; report-type=\"tlsrpt\"; boundary=\"b\"\r\n\r\n" +
		"--b\r\nContent-Type: text/plain; charset=us-ascii\r\n\r\nThis is a TLS report.\r\n" +
		"--b\r\nContent-Type: application/tlsrpt+gzip\r\nContent-Transfer-Encoding: base64\r\n" +
		"Content-Disposition: attachment; filename=\"" + name + ".gz\"\r\n\r\n" + reporttest.Base64Lines(gz.Bytes(), "\r\n") +
		"--b--\r\n")
}

// storing is the options of a run that records into st.
func storing(st *store.Store) Options {
	return Options{Now: fixedNow, Record: func() (arrival.Recorder, error) { return st, nil }}
}

// runFilter runs the filter on raw, recording into st when not nil.
func runFilter(t testing.TB, raw []byte, st *store.Store) ([]byte, Result) {
	var out bytes.Buffer
	opt := Options{Now: fixedNow}
	if st != nil {
		opt = storing(st)
	}
	res, err := Run(context.Background(), bytes.NewReader(raw), &out, opt)
	if err != nil {
		t.Fatalf("Run: %v", err)
	}
	return out.Bytes(), res
}

// runSample runs a sample through the filter, recording into st when
// not nil, and asserts the header wants, the table named table, expects
// for it: a prefix of the value, or no header for "".
func runSample(t *testing.T, s sample, st *store.Store, wants map[string]string, table string) ([]byte, Result) {
	t.Helper()
	want, ok := wants[s.name]
	if !ok {
		t.Fatalf("no expected header for %s: add it to %s", s.name, table)
	}
	out, res := runFilter(t, s.raw, st)
	if !strings.HasPrefix(res.Header, want) || (want == "" && res.Header != "") {
		t.Errorf("header %q, want %q", res.Header, want)
	}
	return out, res
}

func TestGolden(t *testing.T) {
	for _, s := range samples(t) {
		t.Run(s.name, func(t *testing.T) {
			out, res := runSample(t, s, storetest.Open(t), wantHeader, "wantHeader")
			checkPreserved(t, s.raw, out, res)
			if res.Stored != res.Reports {
				t.Errorf("stored %d of %d reports", res.Stored, res.Reports)
			}
			golden.Compare(t, filepath.Join("testdata", "golden", s.name+".golden"), out)
		})
	}
}

// checkPreserved asserts that the output is the input plus the header and
// the summary, and nothing else changed, in the way the edit mode allows.
func checkPreserved(t testing.TB, in, out []byte, res Result) {
	t.Helper()
	// An annotated message gives back exactly the input.
	if orig, err := Original(out); err == nil {
		if !bytes.Equal(orig, in) {
			t.Fatalf("Original of the output is not the input")
		}
	} else if res.edit != editNone && res.edit != editWrap {
		t.Fatalf("an edited message without an annotation to undo it: %v", err)
	}
	out = withoutAnnotation(out)
	// Fields named TLS-Report-Has-Failures that came with the message are
	// renamed: undo that on both sides before comparing.
	in, out = unrename(in), unrename(out)
	body := out
	name := HeaderName
	if res.DMARC {
		name = DMARCHeaderName
	}
	if res.Header != "" {
		line := []byte(name + ": " + res.Header)
		at := bytes.Index(out, line)
		if at < 0 || at > bytes.IndexByte(append(bytes.Clone(in), '\n'), '\n')+1 {
			t.Fatalf("header %q not first in output", line)
		}
		end := at + bytes.IndexByte(out[at:], '\n') + 1
		body = append(bytes.Clone(out[:at]), out[end:]...)
	} else if bytes.HasPrefix(out, []byte(name)) {
		t.Fatalf("header added though Result.Header is empty")
	}
	p, s := commonAffixes(in, body)
	switch res.edit {
	case editNone:
		if !bytes.Equal(in, body) {
			t.Fatalf("message changed though nothing was to be edited")
		}
	case editAppend, editInsertPart:
		if p+s != len(in) {
			t.Fatalf("edit is not a pure insertion: input bytes %d..%d changed", p, len(in)-s)
		}
	case editBase64:
		changed := bytes.TrimSpace(in[p : len(in)-s])
		for _, c := range changed {
			if !strings.ContainsRune("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/=\r\n", rune(c)) {
				t.Fatalf("re-encoded region holds non-base64 byte %q", c)
			}
		}
	case editWrap:
		for _, l := range bytes.Split(in, []byte("\n")) {
			if !bytes.Contains(body, l) {
				t.Fatalf("input line %q missing from wrapped output", l)
			}
		}
	}
}

// annotationField matches the filter's annotation field, folded lines
// included.
var annotationLine = regexp.MustCompile(`(?m)^` + AnnotationName + `:.*\r?\n(?:[ \t].*\r?\n)*`)

func withoutAnnotation(b []byte) []byte { return annotationLine.ReplaceAll(b, nil) }

// renamed finds the incoming fields the filter renames, at line starts.
var renamed = regexp.MustCompile(`(?mi)^` + OriginalPrefix + `(` + HeaderName + `:|` + DMARCHeaderName + `:|` + AnnotationName + `:)`)

func unrename(b []byte) []byte { return renamed.ReplaceAll(b, []byte("$1")) }

func TestLatin1QuotedPrintableStaysLatin1(t *testing.T) {
	raw := readSample(t, "latin1-qp-text.eml")
	out, _ := runFilter(t, raw, nil)
	if !bytes.Contains(out, []byte("agr=E9g=E9 pour example.com")) {
		t.Fatal("the Latin-1 text lost its quoted-printable bytes")
	}
	if !bytes.Contains(out, []byte("Content-Type: text/plain; charset=\"iso-8859-1\"\nContent-Transfer-Encoding: quoted-printable")) {
		t.Fatal("the text part lost its charset or transfer encoding")
	}
	if !bytes.Contains(out, []byte("sending-mta-ip 209.85.222.201")) {
		t.Fatal("summary missing from the text part")
	}
}

func TestBase64TextPartKeepsItsText(t *testing.T) {
	raw := readSample(t, "base64-text.eml")
	out, res := runFilter(t, raw, nil)
	msg, err := report.ReadMessage(out, report.Limits{})
	if err != nil || len(msg.Reports()) != 1 {
		t.Fatalf("annotated message no longer reads as a report: %v", err)
	}
	if res.edit != editBase64 {
		t.Fatalf("edit mode %d, want base64", res.edit)
	}
	root := scan(out, 0, len(out), 0)
	text := firstText(root)
	dec, err := base64.StdEncoding.DecodeString(strings.NewReplacer("\n", "", "\r", "").Replace(string(out[text.bodyStart:text.bodyEnd])))
	if err != nil {
		t.Fatalf("re-encoded part is not base64: %v", err)
	}
	if !strings.HasPrefix(string(dec), "Rapport TLS agrégé — résumé ci-dessous.\n") || !strings.Contains(string(dec), "209.85.208.176") {
		t.Fatalf("decoded text part:\n%s", dec)
	}
}

func TestReportsStillReadableAfterAnnotation(t *testing.T) {
	for _, s := range samples(t) {
		in, _ := report.ReadMessage(s.raw, report.Limits{})
		out, _ := runFilter(t, s.raw, nil)
		got, _ := report.ReadMessage(out, report.Limits{})
		if in == nil || got == nil || len(got.Reports()) != len(in.Reports()) {
			t.Errorf("%s: annotated message yields a different number of reports", s.name)
		}
	}
}

func TestDuplicateStoredOnce(t *testing.T) {
	raw := readSample(t, "two-reports.eml")
	st := storetest.Open(t)
	_, first := runFilter(t, raw, st)
	_, second := runFilter(t, raw, st)
	if first.Stored != 2 || second.Stored != 0 || second.Dups != 2 {
		t.Fatalf("first stored %d, second stored %d dups %d; want 2, 0, 2", first.Stored, second.Stored, second.Dups)
	}
	fa, err := st.Failing(context.Background(), time.Time{})
	if err != nil {
		t.Fatal(err)
	}
	var ips []string
	for _, a := range fa {
		ips = append(ips, a.IP.String())
	}
	sort.Strings(ips)
	if strings.Join(ips, " ") != "209.85.208.176 209.85.222.201" {
		t.Fatalf("failing addresses %v", ips)
	}
}

func TestUnwritableDatabaseStillDelivers(t *testing.T) {
	raw := readSample(t, "mt-tlsrpt-gzip.eml")
	var out bytes.Buffer
	opt := Options{Now: fixedNow, Record: func() (arrival.Recorder, error) {
		return store.Open("/proc/no/such/dir/tlsrpt.db")
	}}
	res, err := Run(context.Background(), bytes.NewReader(raw), &out, opt)
	if err != nil {
		t.Fatal(err)
	}
	if res.Header != "3" || !strings.Contains(out.String(), "sending-mta-ip 209.85.222.201") {
		t.Fatalf("message not annotated when the store fails: header %q", res.Header)
	}
	if len(res.Problems) == 0 || !strings.Contains(res.Problems[0], "not recorded") {
		t.Fatalf("problems %q do not say the report was not recorded", res.Problems)
	}
}

func TestLargeMessagePassesUnchecked(t *testing.T) {
	raw := readSample(t, "mt-tlsrpt-gzip.eml")
	big := append(bytes.Clone(raw), bytes.Repeat([]byte("x"), 5000)...)
	var out bytes.Buffer
	res, err := Run(context.Background(), bytes.NewReader(big), &out, Options{Limits: report.Limits{MaxMessage: 4096}})
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(res.Header, "message too large") {
		t.Fatalf("header %q", res.Header)
	}
	want := HeaderName + ": " + res.Header + "\n"
	if out.String() != want+string(big) {
		t.Fatal("large message not passed through whole")
	}
}

func TestGzipBombRefused(t *testing.T) {
	raw := bombMessage(t, 256<<20)
	out, res := runFilter(t, raw, nil)
	if !strings.HasPrefix(res.Header, "unreadable report: ") || !strings.Contains(res.Header, "more than 16777216 bytes decompressed") {
		t.Fatalf("header %q, want an unreadable report over the size limit", res.Header)
	}
	checkPreserved(t, raw, out, res)
}

// bombMessage returns a report message whose gzip attachment inflates to
// size bytes of zeros.
func bombMessage(t testing.TB, size int) []byte {
	var gz bytes.Buffer
	zw, _ := gzip.NewWriterLevel(&gz, gzip.BestCompression)
	zero := make([]byte, 1<<20)
	for i := 0; i < size>>20; i++ {
		zw.Write(zero)
	}
	zw.Close()
	return wrapJSONBytes("bomb.json", gz.Bytes())
}

// wrapJSONBytes is wrapJSON for an already compressed attachment.
func wrapJSONBytes(name string, gz []byte) []byte {
	enc := base64.StdEncoding.EncodeToString(gz)
	return []byte("From: reporter@example.net\nSubject: bomb\nMIME-Version: 1.0\n" +
		"Content-Type: multipart/report; report-type=tlsrpt; boundary=b\n\n" +
		"--b\nContent-Type: text/plain\n\nA report.\n--b\nContent-Type: application/tlsrpt+gzip\n" +
		"Content-Transfer-Encoding: base64\nContent-Disposition: attachment; filename=\"" + name + ".gz\"\n\n" +
		enc + "\n--b--\n")
}

func TestHeaderAfterMboxFromLine(t *testing.T) {
	raw := []byte("From sender@example.net Mon Jan  1 00:00:00 2024\nSubject: hi\n\nno report\n")
	out, _ := runFilter(t, raw, nil)
	if !strings.HasPrefix(string(out), "From sender@example.net Mon Jan  1 00:00:00 2024\n"+HeaderName+": no TLS report found") {
		t.Fatalf("output starts %q", out[:80])
	}
}

func TestPassKeepsMessageAndMarksIt(t *testing.T) {
	body := strings.Repeat("line of a long message\r\n", 1000) // past the head Pass reads
	raw := "From sender@example.net Mon Jan  1 00:00:00 2024\r\nSubject: x\r\n\r\n" + body
	var out bytes.Buffer
	if err := Pass(strings.NewReader(raw), &out, "tlsrpt filter misconfigured: bad flag"); err != nil {
		t.Fatal(err)
	}
	want := "From sender@example.net Mon Jan  1 00:00:00 2024\r\n" +
		HeaderName + ": tlsrpt filter misconfigured: bad flag\r\nSubject: x\r\n\r\n" + body
	if out.String() != want {
		t.Fatalf("Pass output differs from the message with the header after the From_ line")
	}
}

// failWriter fails every write, as a closed stdout does.
type failWriter struct{}

func (failWriter) Write([]byte) (int, error) { return 0, errors.New("broken pipe") }

func TestWriteFailureIsErrOutput(t *testing.T) {
	raw := readSample(t, "mt-tlsrpt-gzip.eml")
	if _, err := Run(context.Background(), bytes.NewReader(raw), failWriter{}, Options{}); !errors.Is(err, ErrOutput) {
		t.Fatalf("Run on a failing writer: %v, want ErrOutput", err)
	}
	if err := Pass(bytes.NewReader(raw), failWriter{}, "x"); !errors.Is(err, ErrOutput) {
		t.Fatalf("Pass on a failing writer: %v, want ErrOutput", err)
	}
}

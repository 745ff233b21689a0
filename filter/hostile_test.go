package filter

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/emersion/go-message"
	_ "github.com/emersion/go-message/charset"

	"github.com/tlsrpt/tlsrpt/internal/reporttest"
	"github.com/tlsrpt/tlsrpt/internal/storetest"
	"github.com/tlsrpt/tlsrpt/report"
)

// hostileJSON is a report whose every string attacks the summary: line
// breaks with a boundary line and a planted HTML part, escape sequences,
// a bidirectional override.
func hostileJSON(boundary string) []byte {
	plant := "x\r\n--" + boundary + "\r\nContent-Type: text/html\r\n\r\n<h1>pay here</h1>\r\n--" + boundary + "--\r\n"
	q := func(s string) string { b, _ := json.Marshal(s); return string(b) }
	return []byte(`{"organization-name":` + q(plant) + `,"date-range":{"start-datetime":"2026-11-22T00:00:00Z","end-datetime":"2026-11-22T23:59:59Z"},` +
		`"contact-info":` + q("\x1b[2J\x1b[Hroot@evil\u202e") + `,"report-id":` + q("id\r\nTLS-Report-Has-Failures: 0") + `,` +
		`"policies":[{"policy":{"policy-type":"sts","policy-domain":` + q("--"+boundary) + `},` +
		`"summary":{"total-successful-session-count":1,"total-failure-session-count":2},` +
		`"failure-details":[{"result-type":` + q("\n--"+boundary+"--") + `,"sending-mta-ip":"192.0.2.1",` +
		`"receiving-mx-hostname":` + q("mx\r\n\r\n<script>") + `,"failed-session-count":2,` +
		`"failure-reason-code":` + q(plant) + `}]}]}`)
}

// leaves returns every leaf part of a message as go-message reads it:
// media type and decoded body.
func leaves(t testing.TB, raw []byte) ([][2]string, error) {
	e, err := message.Read(bytes.NewReader(raw))
	if err != nil && !message.IsUnknownCharset(err) && !message.IsUnknownEncoding(err) {
		return nil, err
	}
	var out [][2]string
	err = e.Walk(func(_ []int, p *message.Entity, err error) error {
		lenient := message.IsUnknownCharset(err) || message.IsUnknownEncoding(err)
		if err != nil && !lenient {
			return err
		}
		if p == nil {
			return nil
		}
		if p.MultipartReader() != nil {
			return nil
		}
		mt, _, _ := strings.Cut(p.Header.Get("Content-Type"), ";")
		mt = strings.ToLower(strings.TrimSpace(mt))
		if mt == "" {
			mt = "text/plain"
		}
		body, err := io.ReadAll(p.Body)
		if err != nil && !errors.Is(err, io.ErrUnexpectedEOF) {
			return err
		}
		out = append(out, [2]string{mt, string(body)})
		return nil
	})
	return out, err
}

// checkStructure asserts that out has every leaf part of in, in order and
// byte for byte, besides text/plain parts (which may carry the summary),
// and at most one part more (the summary's own).
func checkStructure(t testing.TB, in, out []byte) {
	t.Helper()
	want, err := leaves(t, in)
	if err != nil {
		return // go-message cannot read the input: nothing to compare
	}
	got, err := leaves(t, out)
	if err != nil {
		t.Fatalf("the output is not a readable message: %v", err)
	}
	if len(got) < len(want) || len(got) > len(want)+1 {
		t.Fatalf("output has %d parts, input %d", len(got), len(want))
	}
	j := 0
	for _, w := range want {
		if w[0] == "text/plain" {
			continue
		}
		for j < len(got) && got[j] != w {
			j++
		}
		if j == len(got) {
			t.Fatalf("part %s of %d bytes is missing or changed in the output", w[0], len(w[1]))
		}
		j++
	}
}

func TestHostileStringsStayInTheSummary(t *testing.T) {
	const boundary = "BOUNDARY"
	raw := wrapJSONBoundary("hostile.json", hostileJSON(boundary), boundary)
	var advised []netip.Addr
	var out bytes.Buffer
	res, err := Run(context.Background(), bytes.NewReader(raw), &out, Options{Now: fixedNow,
		Advise: func(_ context.Context, ips []netip.Addr) []string {
			advised = ips
			return []string{"192.0.2.1: not trusted\r\n--" + boundary + "--"}
		}})
	if err != nil {
		t.Fatal(err)
	}
	if res.Header != "2" || res.Failures != 2 {
		t.Fatalf("header %q, failures %d", res.Header, res.Failures)
	}
	checkPreserved(t, raw, out.Bytes(), res)
	checkStructure(t, raw, out.Bytes())
	if len(advised) != 1 || advised[0] != netip.MustParseAddr("192.0.2.1") {
		t.Fatalf("advised on %v", advised)
	}
	parts, err := leaves(t, out.Bytes())
	if err != nil {
		t.Fatal(err)
	}
	if len(parts) != 2 || parts[0][0] != "text/plain" || parts[1][0] != "application/tlsrpt+gzip" {
		t.Fatalf("parts after filtering: %d, want the text and the report", len(parts))
	}
	text := parts[0][1]
	for _, bad := range []string{"\x1b", "\u202e", "<h1>pay here</h1>\r\n", "\r\n--" + boundary, "\n--" + boundary} {
		if strings.Contains(text, bad) {
			t.Errorf("summary holds %q", bad)
		}
	}
	if n := len(regexp.MustCompile(`(?m)^TLS-Report-Has-Failures:`).FindAllIndex(out.Bytes(), -1)); n != 1 {
		t.Errorf("%d TLS-Report-Has-Failures fields at line starts, want only ours", n)
	}
	for _, want := range []string{`Reporter: x\r\n--BOUNDARY\r\nContent-Type: text/html`, `\x1b[2J`, `\u202e`, `Report-ID: id\r\nTLS-Report-Has-Failures: 0`} {
		if !strings.Contains(text, want) {
			t.Errorf("summary lacks the escaped value %q", want)
		}
	}
}

// wrapJSONBoundary is wrapJSON with a boundary of the caller's choice.
func wrapJSONBoundary(name string, js []byte, boundary string) []byte {
	raw := bytes.ReplaceAll(wrapJSON(name, js), []byte(`boundary="b"`), []byte(`boundary="`+boundary+`"`))
	raw = bytes.ReplaceAll(raw, []byte("\r\n--b\r\n"), []byte("\r\n--"+boundary+"\r\n"))
	return bytes.ReplaceAll(raw, []byte("\r\n--b--"), []byte("\r\n--"+boundary+"--"))
}

func TestWrapKeepsEveryByteOfTheBody(t *testing.T) {
	gz := reporttest.Gzip(t, hostileJSON("x"))
	for _, tail := range []string{"", "\n", "\n\n", "\r\n\r\n"} {
		body := append(append([]byte{}, gz...), tail...)
		raw := append([]byte("From: r@example.net\nContent-Type: application/tlsrpt+gzip\nContent-Transfer-Encoding: binary\n\n"), body...)
		out, res := runFilter(t, raw, nil)
		if res.edit != editWrap {
			t.Fatalf("edit mode %v, want wrap", res.edit)
		}
		parts, err := leaves(t, out)
		if err != nil {
			t.Fatal(err)
		}
		if len(parts) != 2 || parts[1][1] != string(body) {
			t.Fatalf("tail %q: the wrapped body is not the original body byte for byte", tail)
		}
	}
}

func TestMboxFromLineReportIsRead(t *testing.T) {
	raw := readSample(t, "mt-tlsrpt-gzip.eml")
	from := "From reporter@example.net Mon Nov 23 10:00:00 2026\n"
	out, res := runFilter(t, append([]byte(from), raw...), nil)
	if res.Reports != 1 || res.Header != "3" {
		t.Fatalf("with a From_ line: %d reports, header %q", res.Reports, res.Header)
	}
	if !bytes.HasPrefix(out, []byte(from+HeaderName+": 3")) {
		t.Fatalf("output starts %q", out[:100])
	}
}

func TestIncomingHeaderRenamed(t *testing.T) {
	raw := readSample(t, "mt-tlsrpt-gzip.eml")
	forged := append([]byte("tls-report-has-failures: 0\r\n"), raw...)
	out, res := runFilter(t, forged, nil)
	if res.Header != "3" {
		t.Fatalf("header %q", res.Header)
	}
	if !bytes.Contains(out, []byte("\nX-Original-tls-report-has-failures: 0\r\n")) {
		t.Fatalf("the incoming field is not renamed:\n%.300s", out)
	}
	if n := len(regexp.MustCompile(`(?mi)^TLS-Report-Has-Failures:`).FindAllIndex(out, -1)); n != 1 {
		t.Fatalf("%d fields named TLS-Report-Has-Failures, want ours only", n)
	}
	var passed bytes.Buffer
	if err := Pass(bytes.NewReader(forged), &passed, "misconfigured"); err != nil {
		t.Fatal(err)
	}
	if !bytes.Contains(passed.Bytes(), []byte("\nX-Original-tls-report-has-failures: 0\r\n")) {
		t.Fatal("Pass keeps the incoming field under its name")
	}
}

// errReader returns its bytes, then an error: stdin failing mid-message.
type errReader struct{ r io.Reader }

func (e errReader) Read(p []byte) (int, error) {
	n, err := e.r.Read(p)
	if err == io.EOF {
		return n, errors.New("read /dev/stdin: input/output error")
	}
	return n, err
}

func TestReadErrorDefersTheMessage(t *testing.T) {
	raw := readSample(t, "mt-tlsrpt-gzip.eml")
	var out bytes.Buffer
	_, err := Run(context.Background(), errReader{bytes.NewReader(raw[:len(raw)/2])}, &out, Options{})
	if !errors.Is(err, ErrOutput) || !strings.Contains(err.Error(), "input/output error") {
		t.Fatalf("Run on a failing reader: %v, want ErrOutput naming the cause", err)
	}
	if out.Len() != 0 {
		t.Fatalf("%d bytes of a message not read whole were written", out.Len())
	}
}

func TestReportPastTheBoundIsAProblem(t *testing.T) {
	one := readSample(t, "mt-tlsrpt-gzip.eml")
	_, part, _ := bytes.Cut(one, []byte("\n\n"))
	_ = part
	js := []byte(`{"organization-name":"o","date-range":{"start-datetime":"2026-11-22T00:00:00Z","end-datetime":"2026-11-22T23:59:59Z"},"report-id":"r","policies":[]}`)
	var b strings.Builder
	b.WriteString("From: r@example.net\nContent-Type: multipart/report; boundary=b\n\n")
	n := report.DefaultLimits.MaxReports + 1
	for i := range n {
		fmt.Fprintf(&b, "--b\nContent-Type: application/tlsrpt+json\n\n%s\n", bytes.Replace(js, []byte(`"r"`), []byte(fmt.Sprintf(`"r%d"`, i)), 1))
	}
	b.WriteString("--b--\n")
	_, res := runFilter(t, []byte(b.String()), nil)
	if !strings.HasPrefix(res.Header, "too many reports in one message") || len(res.Problems) == 0 {
		t.Fatalf("%d report parts: header %q, problems %q", n, res.Header, res.Problems)
	}
}

func TestSummaryStaysShort(t *testing.T) {
	var d []string
	for i := range 5000 {
		d = append(d, fmt.Sprintf(`{"result-type":"certificate-expired","sending-mta-ip":"10.%d.%d.1","receiving-mx-hostname":"mx%d.example.com","failed-session-count":%d}`,
			i/256, i%256, i%3, 1+i%7))
	}
	js := `{"organization-name":"Big","date-range":{"start-datetime":"2026-11-22T00:00:00Z","end-datetime":"2026-11-22T23:59:59Z"},"report-id":"big",` +
		`"policies":[{"policy":{"policy-type":"sts","policy-domain":"example.com"},"summary":{"total-successful-session-count":0,"total-failure-session-count":20000},` +
		`"failure-details":[` + strings.Join(d, ",") + `]}]}`
	var advised int
	var out bytes.Buffer
	res, err := Run(context.Background(), bytes.NewReader(wrapJSON("big.json", []byte(js))), &out, Options{Now: fixedNow,
		Advise: func(_ context.Context, ips []netip.Addr) []string { advised = len(ips); return nil }})
	if err != nil {
		t.Fatal(err)
	}
	parts, err := leaves(t, out.Bytes())
	if err != nil {
		t.Fatal(err)
	}
	summary := parts[0][1]
	if lines := strings.Count(summary, "\n"); lines > 60 {
		t.Fatalf("summary of 5000 details has %d lines", lines)
	}
	for _, want := range []string{"certificate-expired at mx0.example.com: ", "from 1667 addresses", "Failing addresses (20 of 5000", "and 4980 more addresses: tlsrpt review"} {
		if !strings.Contains(summary, want) {
			t.Errorf("summary lacks %q:\n%s", want, summary)
		}
	}
	if advised != MaxAddrs || res.Failures == 0 {
		t.Errorf("advice asked for %d addresses, want %d", advised, MaxAddrs)
	}
}

// readSample reads a message of testdata.
func readSample(t testing.TB, name string) []byte {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return raw
}

// TestIncomingAnnotationIsNotOurs: an annotation field that comes with the
// message is renamed like TLS-Report-Has-Failures; Original undoes our
// edit, which includes the renaming, and gives back the input exactly.
func TestIncomingAnnotationIsNotOurs(t *testing.T) {
	raw := readSample(t, "mt-tlsrpt-gzip.eml")
	forged := append([]byte(AnnotationName+": v=1; at=0; len=0; was=QUJD\r\n"), raw...)
	out, _ := runFilter(t, forged, nil)
	if !bytes.Contains(out, []byte("\n"+OriginalPrefix+AnnotationName+": v=1; at=0; len=0; was=QUJD")) {
		t.Fatalf("incoming annotation not renamed:\n%.400s", out)
	}
	orig, err := Original(out)
	if err != nil || !bytes.Equal(orig, forged) {
		t.Fatalf("Original: %v; equal to the input: %v", err, bytes.Equal(orig, forged))
	}
}

// TestTinyDetailsAttack: five million empty failure details ({}) fit in a
// message of 20 KB; the filter refuses the report past the details bound,
// says so in the header, stores nothing, and delivers the message whole.
func TestTinyDetailsAttack(t *testing.T) {
	js := `{"report-id":"tiny","policies":[{"policy":{"policy-type":"sts"},"failure-details":[` +
		strings.TrimSuffix(strings.Repeat("{},", 5_000_000), ",") + `]}]}`
	raw := wrapJSON("tiny.json", []byte(js))
	st := storetest.Open(t)
	out, res := runFilter(t, raw, st)
	if !strings.Contains(res.Header, "more than 50000 failure details") {
		t.Errorf("header %q does not tell the bound", res.Header)
	}
	if orig, err := Original(out); err != nil || !bytes.Equal(orig, raw) {
		t.Errorf("message not delivered whole: %v", err)
	}
	stats, err := st.Stats(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if stats.Reports != 0 {
		t.Errorf("%d reports stored", stats.Reports)
	}
}

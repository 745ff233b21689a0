package dmarc

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"strings"
	"testing"

	"github.com/tlsrpt/tlsrpt/internal/reporttest"
	"github.com/tlsrpt/tlsrpt/internal/testenv"
)

// wantErr asserts an error wrapping target (when not nil) and mentioning
// every fragment, on one line.
func wantErr(t *testing.T, err, target error, fragments ...string) {
	t.Helper()
	reporttest.WantErr(t, err, target, fragments...)
}

func parseString(s string, lim Limits) (*Report, error) {
	return Parse(strings.NewReader(s), lim)
}

// billionLaughs is the classic: ten entities of ten references each,
// 10^9 "lol" when expanded.
func billionLaughs(root string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "<?xml version=\"1.0\"?>\n<!DOCTYPE %s [\n <!ENTITY lol \"lol\">\n", root)
	for i := 1; i <= 9; i++ {
		fmt.Fprintf(&b, " <!ENTITY lol%d \"%s\">\n", i, strings.Repeat(fmt.Sprintf("&lol%d;", i-1), 10))
	}
	b.WriteString("]>\n")
	return strings.Replace(b.String(), "&lol0;", "&lol;", -1)
}

func TestBillionLaughsRefused(t *testing.T) {
	doc := billionLaughs("feedback") + strings.Replace(withBody(""), "<org_name>reporter.example</org_name>", "<org_name>&lol9;</org_name>", 1)
	rep, err := parseString(doc, Limits{})
	wantErr(t, err, ErrDTD, "DOCTYPE refused")
	if rep != nil || errors.Is(err, ErrNotDMARC) {
		t.Errorf("a DOCTYPE before <feedback> is a refused report, not 'not a report': %v", err)
	}
	// The classic's own root is not feedback: refused, and not a report.
	_, err = parseString(billionLaughs("lolz")+"<lolz>&lol9;</lolz>", Limits{})
	wantErr(t, err, ErrDTD, `"lolz"`)
	if !errors.Is(err, ErrNotDMARC) {
		t.Errorf("error %q does not wrap ErrNotDMARC", err)
	}
}

func TestExternalEntityRefused(t *testing.T) {
	for name, dtd := range map[string]string{
		"system":    `<!DOCTYPE feedback [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>`,
		"public":    `<!DOCTYPE feedback PUBLIC "-//x//y" "file:///etc/passwd">`,
		"parameter": `<!DOCTYPE feedback [<!ENTITY % p SYSTEM "file:///etc/passwd"> %p;]>`,
		"lower":     `<!doctype feedback [<!ENTITY xxe SYSTEM "/etc/passwd">]>`,
	} {
		t.Run(name, func(t *testing.T) {
			doc := dtd + strings.Replace(withBody(""), "<org_name>reporter.example</org_name>", "<org_name>&xxe;</org_name>", 1)
			rep, err := parseString(doc, Limits{})
			wantErr(t, err, ErrDTD)
			if rep != nil || strings.Contains(err.Error(), "root:") {
				t.Fatalf("the entity was read: %v %v", rep, err)
			}
		})
	}
	// Without a DOCTYPE, an undeclared entity is an error too, never text.
	_, err := parseString(strings.Replace(withBody(""), "reporter.example</org_name>", "&xxe;</org_name>", 1), Limits{})
	wantErr(t, err, nil, "feedback/report_metadata/org_name", "entity")
}

func TestDeepNestingRefused(t *testing.T) {
	const levels = 100_000
	doc := withBody("<record>" + strings.Repeat("<x>", levels) + strings.Repeat("</x>", levels) + "</record>")
	var err error
	alloc := testenv.Allocated(func() { _, err = parseString(doc, Limits{}) })
	wantErr(t, err, ErrTooLarge, "nested deeper than 32", "feedback/record[1]/x/x")
	t.Logf("100,000 levels refused, %d KiB allocated", alloc>>10)
}

// countingReader counts the bytes read through it.
type countingReader struct {
	r io.Reader
	n int64
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += int64(n)
	return n, err
}

func TestRecordListOverBoundRefused(t *testing.T) {
	const size = 50 << 20
	rec := "<record><row><source_ip>192.0.2.1</source_ip><count>1</count></row></record>\n"
	in := &countingReader{r: newGenReader(rec, size)}
	var err error
	alloc := testenv.Allocated(func() { _, err = Parse(in, Limits{}) })
	wantErr(t, err, ErrTooLarge, "feedback/record[100001]", "more than 100000 records")
	if in.n >= size {
		t.Errorf("read all %d bytes before refusing", in.n)
	}
	t.Logf("50 MB record list refused after %d MB read, %d MiB allocated", in.n>>20, alloc>>20)
}

func TestRecordsBoundExact(t *testing.T) {
	lim := Limits{MaxRecords: 50}
	rep, err := Parse(bytes.NewReader(reportXML(50)), lim)
	if err != nil || len(rep.Records) != 50 {
		t.Fatalf("50 records under a bound of 50: %v", err)
	}
	_, err = Parse(bytes.NewReader(reportXML(51)), lim)
	wantErr(t, err, ErrTooLarge, "feedback/record[51]", "more than 50 records")
}

func TestElementsPerRecordBound(t *testing.T) {
	many := "<record><row><source_ip>192.0.2.1</source_ip><count>1</count></row><auth_results>" +
		strings.Repeat("<dkim/>", 1_000_000) + "</auth_results></record>"
	var err error
	alloc := testenv.Allocated(func() { _, err = parseString(withBody(many), Limits{}) })
	wantErr(t, err, ErrTooLarge, "more than 1000 elements in one record", "feedback/record[1]/auth_results/dkim")
	t.Logf("a million auth_results refused, %d MiB allocated", alloc>>20)
	// Outside records too: an unknown child of feedback is bounded.
	_, err = parseString(withBody("<extension>"+strings.Repeat("<x/>", 2000)+"</extension>"), Limits{})
	wantErr(t, err, ErrTooLarge, "in one extension")
}

func TestElementsBound(t *testing.T) {
	_, err := Parse(bytes.NewReader(reportXML(100)), Limits{MaxElements: 1000})
	wantErr(t, err, ErrTooLarge, "more than 1000 elements", "feedback/record[")
}

func TestDecompressedBound(t *testing.T) {
	comment := "<!--" + strings.Repeat(" ", 1000) + "-->"
	bomb := reporttest.Gzip(t, []byte(head+strings.Repeat(comment, (100<<20)/len(comment))))
	t.Logf("bomb: %d bytes of gzip, 100 MiB of XML", len(bomb))
	var err error
	alloc := testenv.Allocated(func() { _, err = Parse(bytes.NewReader(bomb), Limits{}) })
	wantErr(t, err, ErrTooLarge, "more than 67108864 bytes of XML")
	if alloc > 16<<20 {
		t.Errorf("refusing the bomb allocated %d MiB: the XML was held", alloc>>20)
	}
	// Plain XML is bounded the same way.
	_, err = Parse(bytes.NewReader(reportXML(100)), Limits{MaxDecompressed: 10_000})
	wantErr(t, err, ErrTooLarge, "more than 10000 bytes of XML")
}

func TestTextBound(t *testing.T) {
	bomb := reporttest.Gzip(t, append([]byte(head), bytes.Repeat([]byte(" "), 60<<20)...))
	var err error
	alloc := testenv.Allocated(func() { _, err = Parse(bytes.NewReader(bomb), Limits{}) })
	wantErr(t, err, ErrTooLarge, "more than 1048576 bytes of text without markup", "feedback")
	if alloc > 16<<20 {
		t.Errorf("refusing 60 MiB of text allocated %d MiB: the text was held", alloc>>20)
	}
	t.Logf("60 MiB of text refused, %d MiB allocated", alloc>>20)
	// A long value in a record is refused the same way, with its path.
	_, err = parseString(withBody("<record><row><source_ip>"+strings.Repeat("1", 2<<20)+"</source_ip></row></record>"), Limits{})
	wantErr(t, err, ErrTooLarge, "feedback/record[1]/row/source_ip")
}

func TestInputBound(t *testing.T) {
	_, err := Parse(bytes.NewReader(reportXML(100)), Limits{MaxInput: 10_000})
	wantErr(t, err, ErrTooLarge, "input of more than 10000 bytes")
	// Empty gzip members decompress to nothing: only the input bound
	// stops an endless run of them.
	empty := reporttest.Gzip(t, nil)
	_, err = Parse(bytes.NewReader(bytes.Repeat(empty, 10_000)), Limits{MaxInput: 100_000})
	wantErr(t, err, ErrTooLarge, "input of more than 100000 bytes")
}

func TestZipBounds(t *testing.T) {
	report := string(reportXML(3))
	t.Run("members", func(t *testing.T) {
		var members []string
		for i := range 17 {
			members = append(members, fmt.Sprintf("README%d.txt", i), "hello")
		}
		_, err := Parse(bytes.NewReader(reporttest.Zip(t, members...)), Limits{})
		wantErr(t, err, ErrTooLarge, "zip of 17 members, more than 16")
	})
	t.Run("decompressed", func(t *testing.T) {
		big := head + strings.Repeat(" ", 2<<20) + tail
		_, err := Parse(bytes.NewReader(reporttest.Zip(t, "r.xml", big)), Limits{MaxDecompressed: 1 << 20})
		wantErr(t, err, ErrTooLarge, `"r.xml" declares`, "more than 1048576")
	})
	t.Run("two reports", func(t *testing.T) {
		_, err := Parse(bytes.NewReader(reporttest.Zip(t, "a.xml", report, "b.xml", report)), Limits{})
		wantErr(t, err, nil, "zip holds 2 DMARC reports", `"a.xml"`, "want one")
	})
	t.Run("readme and report", func(t *testing.T) {
		rep, err := Parse(bytes.NewReader(reporttest.Zip(t, "README", "hello", "r.xml", report)), Limits{})
		if err != nil || len(rep.Records) != 3 {
			t.Fatalf("report beside a README not read: %v", err)
		}
	})
	t.Run("no report", func(t *testing.T) {
		_, err := Parse(bytes.NewReader(reporttest.Zip(t, "README", "hello")), Limits{})
		wantErr(t, err, ErrNotDMARC, "zip holds no XML member")
		_, err = Parse(bytes.NewReader(reporttest.Zip(t, "a.xml", "<Types/>", "b.xml", "<w:document/>")), Limits{})
		wantErr(t, err, ErrNotDMARC, "zip holds no XML member with root feedback")
	})
}

package dmarc

import (
	"archive/zip"
	"bufio"
	"bytes"
	"encoding/xml"
	"errors"
	"io"

	"github.com/tlsrpt/tlsrpt/internal/gzmembers"
	"github.com/tlsrpt/tlsrpt/internal/pkgerr"
)

var (
	gzipMagic = []byte{0x1f, 0x8b}
	zipMagic  = []byte("PK\x03\x04")
	utf8BOM   = []byte("\xef\xbb\xbf")
)

// Parse reads one DMARC aggregate report from r: XML, gzip-compressed XML
// (concatenated members, leading line ends and trailing padding
// tolerated) or a zip archive holding one report (XML or gzip; other
// members are passed over). The format is told by the content alone. At
// most lim.MaxInput bytes are read and lim.MaxDecompressed bytes of XML
// decoded (ErrTooLarge beyond, as for the other Limits). Content that is
// no aggregate report gives an error wrapping ErrNotDMARC; XML with a
// DOCTYPE one wrapping ErrDTD. Other errors name the element, as a
// *PathError, where there is one.
func Parse(r io.Reader, lim Limits) (*Report, error) {
	b := newBudget(lim)
	return parse(&inputLimit{r: r, left: b.lim.MaxInput}, b)
}

// parse sniffs the format and reads the report within the budget.
func parse(r io.Reader, b *budget) (*Report, error) {
	br := bufio.NewReaderSize(r, 16<<10)
	head, err := sniffHead(br)
	switch {
	case err != nil:
		return nil, err
	case bytes.HasPrefix(head, gzipMagic):
		return parseGzip(br, b)
	case bytes.HasPrefix(head, zipMagic):
		return parseZip(br, b)
	case len(head) > 0 && head[0] == '<':
		return parseXML(&xmlLimit{r: br, b: b}, b)
	case len(head) == 0:
		return nil, notDMARC("no content")
	}
	return nil, notDMARC("content is neither XML, gzip nor zip")
}

// sniffHead skips white space and a byte order mark and returns the next
// bytes, left unread. Some reporters put line ends before gzip data.
func sniffHead(br *bufio.Reader) ([]byte, error) {
	for {
		c, err := br.ReadByte()
		if err == io.EOF {
			return nil, nil
		}
		if err != nil {
			return nil, readError(err)
		}
		if c == ' ' || c == '\t' || c == '\r' || c == '\n' {
			continue
		}
		_ = br.UnreadByte()
		if bom, _ := br.Peek(len(utf8BOM)); bytes.Equal(bom, utf8BOM) {
			_, _ = br.Discard(len(utf8BOM))
			continue
		}
		head, err := br.Peek(len(zipMagic))
		if err != nil && err != io.EOF && len(head) == 0 {
			return nil, readError(err)
		}
		return head, nil
	}
}

// readError names a failure to read the input, keeping ErrTooLarge.
func readError(err error) error {
	if errors.Is(err, ErrTooLarge) {
		return err
	}
	return pkgerr.Errorf("dmarc", "reading input: %w", err)
}

// inputLimit fails with ErrTooLarge after left bytes.
type inputLimit struct {
	r    io.Reader
	left int64
	max  int64
}

func (l *inputLimit) Read(p []byte) (int, error) {
	if l.max == 0 {
		l.max = l.left
	}
	if int64(len(p)) > l.left+1 {
		p = p[:l.left+1]
	}
	n, err := l.r.Read(p)
	l.left -= int64(n)
	if l.left < 0 {
		return 0, packageTooLarge("input of more than %d bytes", l.max)
	}
	return n, err
}

// xmlLimit charges the bytes of XML read to the budget, and bounds the
// bytes between two '<' (a run of text that encoding/xml would hold
// whole).
type xmlLimit struct {
	r   io.Reader
	b   *budget
	run int // bytes since the last '<'
}

func (l *xmlLimit) Read(p []byte) (int, error) {
	if int64(len(p)) > l.b.bytesLeft+1 {
		p = p[:l.b.bytesLeft+1]
	}
	n, err := l.r.Read(p)
	l.b.bytesLeft -= int64(n)
	if l.b.bytesLeft < 0 {
		return 0, tooLarge("more than %d bytes of XML", l.b.lim.MaxDecompressed)
	}
	if i := bytes.LastIndexByte(p[:n], '<'); i >= 0 {
		l.run = n - i - 1
	} else {
		l.run += n
	}
	if l.run > l.b.lim.MaxText {
		return 0, tooLarge("more than %d bytes of text without markup", l.b.lim.MaxText)
	}
	return n, err
}

// parseGzip decompresses the stream straight into the XML decoder; the
// decompressed report is never held whole. After the report, the rest of
// the stream is read, so that a damaged checksum is noticed.
func parseGzip(br *bufio.Reader, b *budget) (*Report, error) {
	gz, err := newGzipStream(br)
	if err != nil {
		return nil, pkgerr.Errorf("dmarc", "bad gzip: %w", err)
	}
	xr := bufio.NewReaderSize(&xmlLimit{r: gz, b: b}, 16<<10)
	head, err := sniffHead(xr)
	switch {
	case err != nil:
		return nil, gzipError(err)
	case len(head) == 0 || head[0] != '<':
		return nil, notDMARC("gzip content is not XML")
	}
	rep, err := parseXML(xr, b)
	if err != nil {
		return nil, gzipError(err)
	}
	if _, err := io.Copy(io.Discard, xr); err != nil {
		return nil, gzipError(err)
	}
	return rep, nil
}

// gzipError names a decompression error, which the XML decoder passes on.
func gzipError(err error) error {
	var ge gzipErr
	if errors.As(err, &ge) {
		return pkgerr.Errorf("dmarc", "bad gzip: %w", ge.err)
	}
	return err
}

// gzipErr marks an error of the gzip stream.
type gzipErr struct{ err error }

func (g gzipErr) Error() string { return "bad gzip: " + g.err.Error() }
func (g gzipErr) Unwrap() error { return g.err }

// gzipStream reads every gzip member in turn (gzmembers: padding between
// and after members is passed over), marking its errors as the gzip
// stream's unless a bound was passed.
type gzipStream struct{ r *gzmembers.Reader }

func newGzipStream(br *bufio.Reader) (*gzipStream, error) {
	r, err := gzmembers.NewReader(br)
	if err != nil {
		return nil, err
	}
	return &gzipStream{r}, nil
}

func (g *gzipStream) Read(p []byte) (int, error) {
	n, err := g.r.Read(p)
	if err != nil && err != io.EOF && !errors.Is(err, ErrTooLarge) {
		err = gzipErr{err}
	}
	return n, err
}

// parseZip reads a zip archive: it must hold exactly one member that is a
// DMARC report, as XML or gzip; other members (a README) are passed over.
func parseZip(br *bufio.Reader, b *budget) (*Report, error) {
	data, err := io.ReadAll(br)
	if err != nil {
		return nil, readError(err)
	}
	zr, err := zip.NewReader(bytes.NewReader(data), int64(len(data)))
	if err != nil {
		return nil, pkgerr.Errorf("dmarc", "bad zip: %w", err)
	}
	if len(zr.File) > b.lim.MaxZipMembers {
		return nil, packageTooLarge("zip of %d members, more than %d", len(zr.File), b.lim.MaxZipMembers)
	}
	var found []*zip.File
	for _, f := range zr.File {
		if f.FileInfo().IsDir() {
			continue
		}
		ok, err := zipCandidate(f)
		if err != nil {
			return nil, pkgerr.Errorf("dmarc", "zip member %.80q: %w", f.Name, err)
		}
		if ok {
			found = append(found, f)
		}
	}
	switch len(found) {
	case 0:
		return nil, notDMARC("zip holds no XML member with root feedback")
	case 1:
		return parseZipMember(found[0], b)
	}
	return nil, pkgerr.Errorf("dmarc", "zip holds %d DMARC reports (%.80q, %.80q...), want one", len(found), found[0].Name, found[1].Name)
}

// zipCandidate reports whether a member looks like a DMARC report: XML,
// or gzip of XML, whose root element is feedback (an office document is a
// zip of XML files too). Only its first 64 KiB are read.
func zipCandidate(f *zip.File) (bool, error) {
	rc, err := f.Open()
	if err != nil {
		return false, err
	}
	defer rc.Close()
	br := bufio.NewReaderSize(rc, 4096)
	head, err := sniffHead(br)
	if err != nil {
		return false, err
	}
	var r io.Reader = br
	if bytes.HasPrefix(head, gzipMagic) {
		gz, err := newGzipStream(br)
		if err != nil {
			return true, nil // let the reading say what is wrong
		}
		r = gz
	} else if len(head) == 0 || head[0] != '<' {
		return false, nil
	}
	probe := newBudget(Limits{MaxDecompressed: 64 << 10})
	err = findRoot(xml.NewTokenDecoder(newTokenReader(&xmlLimit{r: r, b: probe}, probe)))
	return !errors.Is(err, ErrNotDMARC), nil
}

// parseZipMember reads the report member, charging the budget; a declared
// size over it is refused before anything is decompressed.
func parseZipMember(f *zip.File, b *budget) (*Report, error) {
	if f.UncompressedSize64 > uint64(b.bytesLeft) {
		return nil, packageTooLarge("zip member %.80q declares %d bytes, more than %d", f.Name, f.UncompressedSize64, b.bytesLeft)
	}
	rc, err := f.Open()
	if err != nil {
		return nil, pkgerr.Errorf("dmarc", "zip member %.80q: %w", f.Name, err)
	}
	defer rc.Close()
	br := bufio.NewReaderSize(rc, 16<<10)
	head, err := sniffHead(br)
	if err != nil {
		return nil, err
	}
	if bytes.HasPrefix(head, gzipMagic) {
		return parseGzip(br, b)
	}
	xr := bufio.NewReaderSize(&xmlLimit{r: br, b: b}, 16<<10)
	rep, err := parseXML(xr, b)
	if err != nil {
		return nil, err
	}
	if _, err := io.Copy(io.Discard, xr); err != nil { // the checksum
		return nil, pkgerr.Errorf("dmarc", "zip member %.80q: %w", f.Name, err)
	}
	return rep, nil
}

// parseXML reads the feedback element, from r whose bytes are charged to
// the budget (an xmlLimit under it) and its children, one record at a
// time: a record is decoded into its wire type, converted and checked,
// and appended to the model before the next is read.
func parseXML(r io.Reader, b *budget) (*Report, error) {
	tr := newTokenReader(r, b)
	d := xml.NewTokenDecoder(tr)
	if err := findRoot(d); err != nil {
		return nil, err
	}
	p := &feedbackParser{d: d, tr: tr, b: b, rep: &Report{Records: []Record{}, Policy: PolicyPublished{Pct: -1}}}
	rep, err := p.run()
	if err != nil {
		return nil, err
	}
	if err := afterRoot(d); err != nil {
		return nil, err
	}
	return rep, nil
}

// afterRoot reads what follows the report's root element: white space,
// comments and processing instructions are passed over, and so is junk
// that is no XML (padding some reporters leave); an element (a second
// report in the same file, part or gzip stream) is refused, so that no
// report is dropped unsaid behind the first.
func afterRoot(d *xml.Decoder) error {
	for {
		tok, err := d.Token()
		var ge gzipErr
		switch {
		case err == nil:
		case errors.Is(err, ErrTooLarge), errors.As(err, &ge):
			return err
		default:
			return nil
		}
		if se, ok := tok.(xml.StartElement); ok {
			return pkgerr.Errorf("dmarc", "element %.40q after the end of the report: one report per file or part (split them to import each)", se.Name.Local)
		}
	}
}

// findRoot reads up to the root element, which must be feedback. Errors
// before it mean the content is not a report, except the bounds and a
// DOCTYPE, which are refused as such.
func findRoot(d *xml.Decoder) error {
	for {
		tok, err := d.Token()
		switch {
		case err == io.EOF:
			return notDMARC("no XML element")
		case errors.Is(err, ErrTooLarge) || errors.Is(err, ErrDTD):
			return err
		case err != nil:
			return notDMARC("not XML (%v)", errors.Unwrap(err))
		}
		if se, ok := tok.(xml.StartElement); ok {
			if se.Name.Local != "feedback" {
				return notDMARC("root element is %.40q, not feedback", se.Name.Local)
			}
			return nil
		}
	}
}

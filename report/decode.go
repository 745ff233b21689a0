package report

import (
	"archive/zip"
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"mime"
	"path"
	"strings"

	"github.com/tlsrpt/tlsrpt/internal/gzmembers"
	"github.com/tlsrpt/tlsrpt/internal/oneline"
	"github.com/tlsrpt/tlsrpt/internal/pkgerr"
)

// format is how a report is packed.
type format int

const (
	formatUnknown format = iota
	formatJSON
	formatGzip
	formatZip
)

var (
	gzipMagic = []byte{0x1f, 0x8b}
	zipMagic  = []byte("PK\x03\x04")
)

// sniff tells the format from the first bytes: gzip or zip magic, or a
// '{' after optional white space (and a BOM) for JSON.
func sniff(data []byte) format {
	switch {
	case bytes.HasPrefix(data, gzipMagic):
		return formatGzip
	case bytes.HasPrefix(data, zipMagic):
		return formatZip
	}
	data = bytes.TrimPrefix(data, []byte(utf8BOM))
	data = bytes.TrimLeft(data, jsonSpace)
	if len(data) > 0 && data[0] == '{' {
		return formatJSON
	}
	return formatUnknown
}

// IsReportFile tells from the first bytes of an input (a few dozen are
// enough) whether it is a report file, gzip, zip or JSON, rather than a
// mail message: the filter names tlsrpt import for those.
func IsReportFile(head []byte) bool { return sniff(head) != formatUnknown }

// baseMediaType returns the lower-case type/subtype of a Content-Type
// value, without parameters, even when the parameters do not parse.
func baseMediaType(mediaType string) string {
	mt, _, err := mime.ParseMediaType(mediaType)
	if err != nil {
		mt, _, _ = strings.Cut(mediaType, ";")
	}
	return strings.ToLower(strings.TrimSpace(mt))
}

// formatOfMediaType maps the media types reports are sent with.
func formatOfMediaType(mediaType string) format {
	switch baseMediaType(mediaType) {
	case "application/tlsrpt+gzip", "application/gzip", "application/x-gzip":
		return formatGzip
	case "application/tlsrpt+json", "application/json", "application/tlsrpt":
		return formatJSON
	case "application/zip", "application/x-zip-compressed":
		return formatZip
	}
	return formatUnknown
}

// isReportMediaType reports whether a part with this media type is taken
// as a report candidate.
func isReportMediaType(mediaType string) bool {
	return formatOfMediaType(mediaType) != formatUnknown ||
		baseMediaType(mediaType) == "application/octet-stream"
}

// formatOfName maps file name extensions.
func formatOfName(name string) format {
	switch strings.ToLower(path.Ext(strings.TrimSpace(name))) {
	case ".json":
		return formatJSON
	case ".gz":
		return formatGzip
	case ".zip":
		return formatZip
	}
	return formatUnknown
}

// formatOf decides the format: content first, then media type, then name.
func formatOf(data []byte, name, mediaType string) format {
	if f := sniff(data); f != formatUnknown {
		return f
	}
	if f := formatOfMediaType(mediaType); f != formatUnknown {
		return f
	}
	return formatOfName(name)
}

// budget is how many decompressed bytes may still be produced, and how
// many policies and failure details decoded, while decoding one input,
// across all its members, archive entries and reports.
type budget struct {
	lim          Limits
	left         int64
	detailsLeft  int
	policiesLeft int
}

func newBudget(lim Limits) *budget {
	return &budget{lim: lim, left: lim.MaxDecompressed, detailsLeft: lim.MaxDetails, policiesLeft: lim.MaxPolicies}
}

// Decode reads the reports in one attachment, file or HTTP POST body: a
// JSON report, a gzip-compressed one (concatenated members are read), or a
// zip archive of JSON and .json.gz entries. The format is sniffed from the
// content first, then taken from mediaType and from name's extension. name
// only labels errors and entries. Decompression is bounded by
// lim.MaxDecompressed over the whole input (ErrTooLarge beyond); bytes that
// are no report at all give an error wrapping ErrNoReport. When an archive
// holds readable and unreadable entries, Decode returns the readable
// reports together with an error.
func Decode(data []byte, name, mediaType string, lim Limits) ([]*Report, error) {
	found := decodeFound(data, name, mediaType, newBudget(lim.orDefault()))
	var reps []*Report
	var errs []error
	for _, f := range found {
		if f.Err != nil {
			errs = append(errs, f.Err)
			continue
		}
		reps = append(reps, f.Report)
	}
	return reps, oneline.Join(errs)
}

// decodeFound decodes one input into one Found per report or entry; it
// always returns at least one element.
func decodeFound(data []byte, name, mediaType string, b *budget) []Found {
	one := func(r *Report, err error) []Found {
		return []Found{{Report: r, Name: name, MediaType: baseMediaType(mediaType), Err: err}}
	}
	switch formatOf(data, name, mediaType) {
	case formatJSON:
		return one(decodeJSON(data, name, b))
	case formatGzip:
		return one(decodeGzip(data, name, b))
	case formatZip:
		return decodeZip(data, name, mediaType, b)
	}
	return one(nil, pkgerr.Errorf("report", "%q is not a TLS report (no JSON, gzip or zip content): %w", name, ErrNoReport))
}

// decodeJSON parses plain JSON. Its bytes are either the caller's input
// or already charged to the budget when they were decompressed.
func decodeJSON(data []byte, name string, b *budget) (*Report, error) {
	if int64(len(data)) > b.lim.MaxDecompressed {
		return nil, pkgerr.Errorf("report", "reading JSON report %q: more than %d bytes: %w", name, b.lim.MaxDecompressed, ErrTooLarge)
	}
	r, err := parseJSON(data, b)
	if err != nil {
		return nil, pkgerr.Errorf("report", "parsing JSON report %q: %w", name, err)
	}
	return r, nil
}

// decodeGzip decompresses data twice: once to count the decompressed
// size without keeping the bytes, so that a bomb is refused with constant
// memory (and a damaged stream before anything is decoded), then again
// while the JSON decoder reads it, so that the decompressed report is
// never held whole (8 MB at 50,000 details; inflating costs about 1 ms a
// megabyte, holding it cost 20).
func decodeGzip(data []byte, name string, b *budget) (*Report, error) {
	n, err := gunzip(data, io.Discard, b.left)
	if err != nil {
		return nil, pkgerr.Errorf("report", "decoding gzip report %q: %w", name, gzipError(err))
	}
	b.left -= n
	gz, err := newGzipStream(data)
	if err != nil {
		return nil, pkgerr.Errorf("report", "decoding gzip report %q: %w", name, gzipError(err))
	}
	br := bufio.NewReaderSize(io.LimitReader(gz, n), 32<<10)
	if !skipToObject(br) {
		return nil, pkgerr.Errorf("report", "decoding gzip report %q: content is not JSON: %w", name, ErrNoReport)
	}
	r, err := parseJSONFrom(br, b)
	if err != nil {
		return nil, pkgerr.Errorf("report", "parsing JSON in gzip report %q: %w", name, err)
	}
	return r, nil
}

// skipToObject reads past a byte order mark and white space and reports
// whether a JSON object starts there; the '{' is left unread.
func skipToObject(br *bufio.Reader) bool {
	if bom, err := br.Peek(len(utf8BOM)); err == nil && string(bom) == utf8BOM {
		_, _ = br.Discard(len(utf8BOM))
	}
	for {
		c, err := br.ReadByte()
		if err != nil {
			return false
		}
		if strings.IndexByte(jsonSpace, c) < 0 {
			_ = br.UnreadByte()
			return c == '{'
		}
	}
}

// utf8BOM starts some reporters' JSON: not JSON, but harmless.
const utf8BOM = "\xef\xbb\xbf"

// jsonSpace is JSON's white space (RFC 8259 section 2).
const jsonSpace = " \t\r\n"

// newGzipStream reads the decompressed content of every gzip member of
// data in turn (gzmembers: padding between and after members is passed
// over).
func newGzipStream(data []byte) (*gzmembers.Reader, error) {
	return gzmembers.NewReader(bytes.NewReader(data))
}

// gunzip writes the decompressed content of data to w, reading every
// gzip member, and fails with ErrTooLarge beyond max bytes.
func gunzip(data []byte, w io.Writer, max int64) (int64, error) {
	gz, err := newGzipStream(data)
	if err != nil {
		return 0, err
	}
	n, err := io.Copy(w, io.LimitReader(gz, max+1))
	if err != nil {
		return n, err
	}
	if n > max {
		return n, fmt.Errorf("more than %d bytes decompressed: %w", max, ErrTooLarge)
	}
	return n, nil
}

// decodeZip reads every JSON or .json.gz entry of a zip archive, at most
// lim.MaxReports of them, each bounded by the budget.
func decodeZip(data []byte, name, mediaType string, b *budget) []Found {
	mt := baseMediaType(mediaType)
	zr, err := zip.NewReader(bytes.NewReader(data), int64(len(data)))
	if err != nil {
		return []Found{{Name: name, MediaType: mt, Err: pkgerr.Errorf("report", "opening zip %q: %w", name, err)}}
	}
	var found []Found
	for _, f := range zr.File {
		if f.FileInfo().IsDir() {
			continue
		}
		entry := name + "/" + f.Name
		if len(found) >= b.lim.MaxReports {
			found = append(found, Found{Name: entry, MediaType: mt,
				Err: pkgerr.Errorf("report", "zip %q has more than %d entries: %w", name, b.lim.MaxReports, ErrTooLarge)})
			break
		}
		content, err := readZipEntry(f, b)
		if err != nil {
			found = append(found, Found{Name: entry, MediaType: mt, Err: pkgerr.Errorf("report", "reading zip entry %q: %w", entry, err)})
			continue
		}
		if formatOf(content, f.Name, "") == formatUnknown {
			continue // a README or the like
		}
		for _, inner := range decodeFound(content, entry, "", b) {
			inner.MediaType = mt
			found = append(found, inner)
		}
	}
	if len(found) == 0 {
		return []Found{{Name: name, MediaType: mt, Err: pkgerr.Errorf("report", "zip %q holds no JSON or gzip entry: %w", name, ErrNoReport)}}
	}
	return found
}

// readZipEntry reads one entry within the budget and charges it, so that
// an archive of many entries is bounded as a whole.
func readZipEntry(f *zip.File, b *budget) ([]byte, error) {
	if f.UncompressedSize64 > uint64(b.left) {
		return nil, fmt.Errorf("declared size %d exceeds %d bytes: %w", f.UncompressedSize64, b.left, ErrTooLarge)
	}
	rc, err := f.Open()
	if err != nil {
		return nil, err
	}
	defer rc.Close()
	var buf bytes.Buffer
	buf.Grow(int(f.UncompressedSize64))
	n, err := io.Copy(&buf, io.LimitReader(rc, b.left+1))
	if err != nil {
		return nil, err
	}
	if n > b.left {
		return nil, fmt.Errorf("more than %d bytes: %w", b.left, ErrTooLarge)
	}
	b.left -= n
	return buf.Bytes(), nil
}

// gzipError marks a decompression error as ErrGzip, unless it is the size
// bound (ErrTooLarge), which says more.
func gzipError(err error) error {
	if errors.Is(err, ErrTooLarge) {
		return err
	}
	return pkgerr.Kind(ErrGzip, err)
}

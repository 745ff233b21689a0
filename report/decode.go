package report

import (
	"archive/zip"
	"bytes"
	"compress/gzip"
	"errors"
	"fmt"
	"io"
	"mime"
	"path"
	"strings"
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
	data = bytes.TrimPrefix(data, []byte("\xef\xbb\xbf"))
	data = bytes.TrimLeft(data, " \t\r\n")
	if len(data) > 0 && data[0] == '{' {
		return formatJSON
	}
	return formatUnknown
}

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

// budget is how many decompressed bytes may still be produced while
// decoding one input, across all its members and archive entries.
type budget struct {
	lim  Limits
	left int64
}

func newBudget(lim Limits) *budget {
	return &budget{lim: lim, left: lim.MaxDecompressed}
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
	return reps, join(errs)
}

// joined is errors.Join on one line: its parts are separated by "; " so
// that it fits a log line or a header field.
type joined []error

func (j joined) Error() string {
	texts := make([]string, len(j))
	for i, err := range j {
		texts[i] = err.Error()
	}
	return strings.Join(texts, "; ")
}

func (j joined) Unwrap() []error { return j }

// join returns nil, the only error, or a joined of several.
func join(errs []error) error {
	switch len(errs) {
	case 0:
		return nil
	case 1:
		return errs[0]
	}
	return joined(errs)
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
	return one(nil, fmt.Errorf("report: %q is not a TLS report (no JSON, gzip or zip content): %w", name, ErrNoReport))
}

// decodeJSON parses plain JSON. Its bytes are either the caller's input
// or already charged to the budget when they were decompressed.
func decodeJSON(data []byte, name string, b *budget) (*Report, error) {
	if int64(len(data)) > b.lim.MaxDecompressed {
		return nil, fmt.Errorf("report: reading JSON report %q: more than %d bytes: %w", name, b.lim.MaxDecompressed, ErrTooLarge)
	}
	r, err := parseJSON(data, b.lim)
	if err != nil {
		return nil, fmt.Errorf("report: parsing JSON report %q: %w", name, err)
	}
	return r, nil
}

// decodeGzip decompresses data, then parses it as JSON. It first counts
// the decompressed size without keeping the bytes, so that a bomb is
// refused with constant memory, and only then decompresses for real.
func decodeGzip(data []byte, name string, b *budget) (*Report, error) {
	n, err := gunzip(data, io.Discard, b.left)
	if err != nil {
		return nil, fmt.Errorf("report: decoding gzip report %q: %w", name, gzipError(err))
	}
	var buf bytes.Buffer
	buf.Grow(int(n))
	if _, err := gunzip(data, &buf, n); err != nil {
		return nil, fmt.Errorf("report: decoding gzip report %q: %w", name, gzipError(err))
	}
	b.left -= n
	if sniff(buf.Bytes()) != formatJSON {
		return nil, fmt.Errorf("report: decoding gzip report %q: content is not JSON: %w", name, ErrNoReport)
	}
	r, err := parseJSON(buf.Bytes(), b.lim)
	if err != nil {
		return nil, fmt.Errorf("report: parsing JSON in gzip report %q: %w", name, err)
	}
	return r, nil
}

// gunzip writes the decompressed content of data to w, reading every
// gzip member, and fails with ErrTooLarge beyond max bytes. White space
// or NUL bytes after the last member (a binary part before a MIME
// boundary) are ignored.
func gunzip(data []byte, w io.Writer, max int64) (int64, error) {
	br := bytes.NewReader(data)
	zr, err := gzip.NewReader(br)
	if err != nil {
		return 0, err
	}
	var total int64
	for {
		zr.Multistream(false)
		n, err := io.Copy(w, io.LimitReader(zr, max-total+1))
		total += n
		if err != nil {
			return total, err
		}
		if total > max {
			return total, fmt.Errorf("more than %d bytes decompressed: %w", max, ErrTooLarge)
		}
		if onlyPadding(data[len(data)-br.Len():]) {
			return total, nil
		}
		if err := zr.Reset(br); err != nil {
			return total, fmt.Errorf("gzip member after %d bytes: %w", total, err)
		}
	}
}

// onlyPadding reports whether rest holds nothing but white space or NULs.
func onlyPadding(rest []byte) bool {
	return len(bytes.Trim(rest, " \t\r\n\x00")) == 0
}

// decodeZip reads every JSON or .json.gz entry of a zip archive, at most
// lim.MaxReports of them, each bounded by the budget.
func decodeZip(data []byte, name, mediaType string, b *budget) []Found {
	mt := baseMediaType(mediaType)
	zr, err := zip.NewReader(bytes.NewReader(data), int64(len(data)))
	if err != nil {
		return []Found{{Name: name, MediaType: mt, Err: fmt.Errorf("report: opening zip %q: %w", name, err)}}
	}
	var found []Found
	for _, f := range zr.File {
		if f.FileInfo().IsDir() {
			continue
		}
		entry := name + "/" + f.Name
		if len(found) >= b.lim.MaxReports {
			found = append(found, Found{Name: entry, MediaType: mt,
				Err: fmt.Errorf("report: zip %q has more than %d entries: %w", name, b.lim.MaxReports, ErrTooLarge)})
			break
		}
		content, err := readZipEntry(f, b)
		if err != nil {
			found = append(found, Found{Name: entry, MediaType: mt, Err: fmt.Errorf("report: reading zip entry %q: %w", entry, err)})
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
		return []Found{{Name: name, MediaType: mt, Err: fmt.Errorf("report: zip %q holds no JSON or gzip entry: %w", name, ErrNoReport)}}
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
	return kindError{ErrGzip, err}
}

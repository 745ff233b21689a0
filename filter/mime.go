package filter

import (
	"bytes"
	"mime"
	"strings"
)

// This file locates MIME entities by byte offset. go-message (used by the
// report package to decode reports) reads a message as a stream and does not
// say where each part lies in the input, and a byte-preserving filter must
// know that: it changes one text part and leaves every other byte alone.
// Decoding stays with go-message; this scanner only finds boundaries.

// maxDepth bounds multipart nesting, as real reports nest at most two levels.
const maxDepth = 16

// field is one header field as it appears in the input.
type field struct {
	start, end int    // raw bytes, continuation lines and line end included
	name       string // as written
	value      string // unfolded, trimmed
}

// entity is one MIME entity located in the raw message.
type entity struct {
	start     int // first byte of its header
	bodyStart int // first byte of its body
	bodyEnd   int // end of its body (the line end before a delimiter excluded)
	fields    []field
	mediaType string // lower case; "text/plain" when absent
	params    map[string]string
	children  []*entity
	// headerOnly is set when no empty line ends the header: there is no
	// body to add text to (text put there would be read as header).
	headerOnly bool
}

// get returns the value of the first field named name.
func (e *entity) get(name string) string {
	for _, f := range e.fields {
		if strings.EqualFold(f.name, name) {
			return f.value
		}
	}
	return ""
}

// cte returns the lower-case Content-Transfer-Encoding.
func (e *entity) cte() string {
	return strings.ToLower(strings.TrimSpace(e.get("Content-Transfer-Encoding")))
}

// isAttachment reports whether the entity is declared an attachment or
// carries a file name.
func (e *entity) isAttachment() bool {
	disp, params, _ := mime.ParseMediaType(e.get("Content-Disposition"))
	return disp == "attachment" || params["filename"] != "" || e.params["name"] != ""
}

// scan locates the entity in raw[start:end] and, for multiparts, its parts.
func scan(raw []byte, start, end, depth int) *entity {
	e := &entity{start: start}
	e.fields, e.bodyStart = headerFields(raw, start, end)
	e.bodyEnd = end
	e.headerOnly = !endsWithEmptyLine(raw, start, e.bodyStart)
	e.mediaType, e.params = contentType(e.get("Content-Type"))
	if strings.HasPrefix(e.mediaType, "multipart/") && e.params["boundary"] != "" && depth < maxDepth {
		for _, r := range partRanges(raw, e.bodyStart, end, e.params["boundary"]) {
			e.children = append(e.children, scan(raw, r[0], r[1], depth+1))
		}
	}
	return e
}

// headerFields splits the header block at raw[start:end] into fields and
// returns them with the offset of the body (after the empty line). A header
// without an empty line after it has an empty body. Folded values are
// joined once per field, so the cost is linear in the header's size however
// many continuation lines a field has.
func headerFields(raw []byte, start, end int) ([]field, int) {
	var fs []field
	var val []byte // value of the last field so far
	flush := func() {
		if n := len(fs); n > 0 && fs[n-1].name != "" {
			fs[n-1].value = string(bytes.TrimSpace(val))
		}
	}
	i := start
	for i < end {
		lineEnd := nextLine(raw, i, end)
		line := bytes.TrimRight(raw[i:lineEnd], "\r\n")
		if len(line) == 0 {
			flush()
			return fs, lineEnd
		}
		if (line[0] == ' ' || line[0] == '\t') && len(fs) > 0 {
			fs[len(fs)-1].end = lineEnd
			val = append(append(val, ' '), bytes.TrimSpace(line)...)
		} else if name, value, ok := bytes.Cut(line, []byte(":")); ok {
			flush()
			fs = append(fs, field{start: i, end: lineEnd, name: strings.TrimSpace(string(name))})
			val = append(val[:0], bytes.TrimSpace(value)...)
		} else {
			// Not a field: kept with no name, so that wrap keeps its bytes.
			flush()
			fs = append(fs, field{start: i, end: lineEnd})
			val = val[:0]
		}
		i = lineEnd
	}
	flush()
	return fs, end
}

// endsWithEmptyLine reports whether the header at raw[start:bodyStart]
// ends with an empty line.
func endsWithEmptyLine(raw []byte, start, bodyStart int) bool {
	h := raw[start:bodyStart]
	return bytes.Equal(h, []byte("\n")) || bytes.Equal(h, []byte("\r\n")) ||
		bytes.HasSuffix(h, []byte("\n\n")) || bytes.HasSuffix(h, []byte("\n\r\n"))
}

// nextLine returns the offset just after the line end of the line at i.
func nextLine(raw []byte, i, end int) int {
	if j := bytes.IndexByte(raw[i:end], '\n'); j >= 0 {
		return i + j + 1
	}
	return end
}

// contentType parses a Content-Type value leniently: text/plain when absent,
// the bare media type with a best-effort boundary when the parameters are
// malformed.
func contentType(v string) (string, map[string]string) {
	if v == "" {
		return "text/plain", map[string]string{}
	}
	mt, params, err := mime.ParseMediaType(v)
	if err == nil {
		return mt, params
	}
	mt, rest, _ := strings.Cut(v, ";")
	params = map[string]string{}
	for _, p := range strings.Split(rest, ";") {
		k, val, ok := strings.Cut(p, "=")
		if ok {
			params[strings.ToLower(strings.TrimSpace(k))] = strings.Trim(strings.TrimSpace(val), `"`)
		}
	}
	return strings.ToLower(strings.TrimSpace(mt)), params
}

// partRanges returns the byte ranges of the parts of a multipart body. A
// part ends before the line end that precedes the next delimiter; a missing
// closing delimiter (Mail.ru) ends the last part at the end of the body.
func partRanges(raw []byte, start, end int, boundary string) [][2]int {
	delim := []byte("--" + boundary)
	var ranges [][2]int
	partStart := -1
	for i := start; i < end; i = nextLine(raw, i, end) {
		line := raw[i:nextLine(raw, i, end)]
		if !bytes.HasPrefix(line, delim) {
			continue
		}
		rest := bytes.TrimRight(line[len(delim):], " \t\r\n")
		closing := bytes.Equal(rest, []byte("--"))
		if len(rest) != 0 && !closing {
			continue // a longer boundary that merely starts with ours
		}
		if partStart >= 0 {
			ranges = append(ranges, [2]int{partStart, trimEOL(raw, partStart, i)})
		}
		if closing {
			return ranges
		}
		partStart = nextLine(raw, i, end)
	}
	if partStart >= 0 && partStart < end {
		ranges = append(ranges, [2]int{partStart, end})
	}
	return ranges
}

// trimEOL returns the offset of the line end just before i (which belongs to
// the delimiter), or i when there is none.
func trimEOL(raw []byte, start, i int) int {
	if i > start && raw[i-1] == '\n' {
		i--
		if i > start && raw[i-1] == '\r' {
			i--
		}
	}
	return i
}

// firstDelimiter returns the offset of the first delimiter line of a
// multipart entity, or -1. It follows partRanges: a line that merely
// starts with the delimiter is not one.
func firstDelimiter(raw []byte, e *entity) int {
	delim := []byte("--" + e.params["boundary"])
	for i := e.bodyStart; i < e.bodyEnd; i = nextLine(raw, i, e.bodyEnd) {
		line := raw[i:nextLine(raw, i, e.bodyEnd)]
		if !bytes.HasPrefix(line, delim) {
			continue
		}
		if rest := bytes.TrimRight(line[len(delim):], " \t\r\n"); len(rest) == 0 || bytes.Equal(rest, []byte("--")) {
			return i
		}
	}
	return -1
}

// firstText returns the first text/plain leaf that is not an attachment, in
// depth-first order, or nil.
func firstText(e *entity) *entity {
	if len(e.children) > 0 {
		for _, c := range e.children {
			if t := firstText(c); t != nil {
				return t
			}
		}
		return nil
	}
	if e.mediaType == "text/plain" && !e.isAttachment() {
		return e
	}
	return nil
}

// lineEnding returns "\r\n" when the first line of raw ends so, else "\n".
func lineEnding(raw []byte) string {
	if i := bytes.IndexByte(raw, '\n'); i > 0 && raw[i-1] == '\r' {
		return "\r\n"
	}
	return "\n"
}

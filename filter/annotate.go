package filter

import (
	"bytes"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"strings"
)

// editMode says how the summary was placed; tests check that each mode
// changes only what it should.
type editMode int

const (
	editNone       editMode = iota // message unchanged (header aside)
	editAppend                     // text inserted at the end of a text part
	editBase64                     // a base64 text part decoded, extended, re-encoded
	editInsertPart                 // a new text part before the first part
	editWrap                       // single part wrapped in multipart/mixed
)

// annotate places summary in raw: appended to the first text/plain part
// that is not an attachment nor a report (isReport), else as a new first
// part of the top multipart, else by wrapping a single-part message in
// multipart/mixed.
func annotate(raw []byte, summary string, isReport func([]byte, *entity) bool) ([]byte, editMode) {
	root := scan(raw, 0, len(raw), 0)
	eol := lineEnding(raw)
	if t := firstText(root); t != nil && !t.headerOnly && !isReport(raw, t) {
		body := raw[t.bodyStart:t.bodyEnd]
		nb, err := appendText(body, t.cte(), t.params["charset"], summary, eol)
		if err == nil {
			mode := editAppend
			if t.cte() == "base64" {
				mode = editBase64
			}
			return splice(raw, t.bodyStart, t.bodyEnd, nb), mode
		}
	}
	if len(root.children) > 0 {
		if at := firstDelimiter(raw, root); at >= 0 {
			// The new first part ends its lines as the first delimiter
			// does: readers take the line ending from that line.
			eol := lineEnding(raw[at:nextLine(raw, at, len(raw))])
			part := "--" + root.params["boundary"] + eol + newTextPart(summary, eol) + eol
			return splice(raw, at, at, []byte(part)), editInsertPart
		}
	}
	if strings.HasPrefix(root.mediaType, "multipart/") || root.bodyStart >= len(raw) {
		return raw, editNone // a multipart without parts, or no body: nowhere to put it
	}
	return wrap(raw, root, summary, eol), editWrap
}

// looksJSON reports whether a text part is in fact a report (a reporter
// that labels its JSON text/plain); the summary must not be appended to it.
func looksJSON(raw []byte, e *entity) bool {
	body := bytes.TrimSpace(raw[e.bodyStart:e.bodyEnd])
	if e.cte() == "base64" {
		body = decodedHead(body)
	}
	return bytes.HasPrefix(body, []byte("{"))
}

// decodedHead decodes the first bytes of a base64 body, trimmed.
func decodedHead(body []byte) []byte {
	n := min(len(body), 64) / 4 * 4
	dec, _ := base64.StdEncoding.DecodeString(string(body[:n]))
	return bytes.TrimSpace(dec)
}

// splice replaces raw[start:end] by repl.
func splice(raw []byte, start, end int, repl []byte) []byte {
	out := make([]byte, 0, len(raw)-(end-start)+len(repl))
	out = append(out, raw[:start]...)
	out = append(out, repl...)
	return append(out, raw[end:]...)
}

// newTextPart returns a text/plain entity (header and body, no trailing
// line end) carrying text: 7bit when it is ASCII, else quoted-printable
// UTF-8.
func newTextPart(text, eol string) string {
	if toASCII(text) == text {
		return "Content-Type: text/plain; charset=us-ascii" + eol +
			"Content-Transfer-Encoding: 7bit" + eol + eol +
			strings.TrimRight(strings.ReplaceAll(text, "\n", eol), eol)
	}
	qp := appendQP(nil, charsetBytes(text, "utf-8", false, eol), eol)
	return "Content-Type: text/plain; charset=utf-8" + eol +
		"Content-Transfer-Encoding: quoted-printable" + eol + eol +
		strings.TrimRight(string(qp), eol)
}

// wrap turns a single-part message into multipart/mixed: the summary first,
// then the original content with its own Content-* header fields. The other
// header fields keep their bytes and order.
func wrap(raw []byte, root *entity, summary, eol string) []byte {
	boundary := newBoundary(raw)
	var top, content bytes.Buffer
	hasVersion := false
	for _, f := range root.fields {
		name := strings.ToLower(f.name)
		switch {
		case strings.HasPrefix(name, "content-"):
			content.Write(raw[f.start:f.end])
		default:
			hasVersion = hasVersion || name == "mime-version"
			top.Write(raw[f.start:f.end])
		}
	}
	if n := top.Len(); n > 0 && !bytes.HasSuffix(top.Bytes(), []byte("\n")) {
		top.WriteString(eol)
	}
	if !hasVersion {
		top.WriteString("MIME-Version: 1.0" + eol)
	}
	top.WriteString(`Content-Type: multipart/mixed; boundary="` + boundary + `"` + eol + eol)
	top.WriteString("--" + boundary + eol + newTextPart(summary, eol) + eol)
	top.WriteString("--" + boundary + eol)
	if content.Len() > 0 && !bytes.HasSuffix(content.Bytes(), []byte("\n")) {
		content.WriteString(eol)
	}
	top.Write(content.Bytes())
	top.WriteString(eol)
	// The line end before a delimiter belongs to the delimiter (RFC 2046
	// section 5.1.1), so the body keeps every byte, its own final line
	// ends included.
	top.Write(raw[root.bodyStart:])
	top.WriteString(eol + "--" + boundary + "--" + eol)
	return top.Bytes()
}

// newBoundary derives a boundary that does not occur in raw.
func newBoundary(raw []byte) string {
	sum := sha256.Sum256(raw)
	b := "tlsrpt-" + hex.EncodeToString(sum[:12])
	for bytes.Contains(raw, []byte(b)) {
		b += "x"
	}
	return b
}

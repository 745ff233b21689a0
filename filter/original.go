package filter

import (
	"encoding/base64"
	"fmt"
	"strconv"
	"strings"

	"github.com/tlsrpt/tlsrpt/internal/pkgerr"
)

// AnnotationName is the header field that says how the filter changed the
// message, so that Original can give back the bytes that came: DKIM
// signatures cover the body, and the summary changed it. Import and a
// second run of the filter verify signatures on the original.
//
// Its value is "v=1; at=N; len=M; was=BASE64": in the message without the
// filter's own fields (and without an mbox From_ line), the M bytes at
// offset N were the bytes BASE64 decodes to. It is added only when the
// replaced bytes are at most maxWas long (an appended or inserted summary
// replaces nothing; a re-encoded base64 text part replaces that part).
const AnnotationName = "TLS-Report-Annotation"

// maxWas bounds the original bytes kept in the annotation field.
const maxWas = 4096

// annotation returns the value of the annotation field that undoes the
// change from orig to edited, or "" when the change is too large to keep.
func annotation(orig, edited []byte) string {
	p, s := commonAffixes(orig, edited)
	was := orig[p : len(orig)-s]
	if len(was) > maxWas {
		return ""
	}
	return fmt.Sprintf("v=1; at=%d; len=%d; was=%s", p, len(edited)-p-s, base64.StdEncoding.EncodeToString(was))
}

// commonAffixes returns the lengths of the common prefix and, after it,
// the common suffix of a and b.
func commonAffixes(a, b []byte) (p, s int) {
	for p < len(a) && p < len(b) && a[p] == b[p] {
		p++
	}
	for s < len(a)-p && s < len(b)-p && a[len(a)-1-s] == b[len(b)-1-s] {
		s++
	}
	return p, s
}

// annotationField is the whole field, the base64 folded onto
// continuation lines of 72 characters, so that no line passes 78.
func annotationField(value, eol string) string {
	head, b64, _ := strings.Cut(value, "was=")
	var b strings.Builder
	b.WriteString(AnnotationName + ": " + head + "was=")
	for len(b64) > 0 {
		n := min(72, len(b64))
		b.WriteString(eol + " " + b64[:n])
		b64 = b64[n:]
	}
	b.WriteString(eol)
	return b.String()
}

// ErrNoAnnotation is returned by Original for a message the filter did not
// annotate in a way it can undo.
var ErrNoAnnotation = pkgerr.New("filter", "no annotation to undo")

// Original returns the message as it was before the filter annotated it:
// the filter's TLS-Report-Has-Failures (or DMARC-Report-Has-Failures) and
// annotation fields removed and the edit the annotation records undone.
// The fields count only as the first fields of the message, where the
// filter puts them (an incoming field of any of these names is renamed by
// the filter). An mbox From_ line is kept. A message without an
// annotation gives ErrNoAnnotation.
func Original(msg []byte) ([]byte, error) {
	from, rest := splitFromLine(msg)
	fields, _ := headerFields(rest, 0, len(rest))
	var ours []field
	for i, f := range fields {
		if i < 2 && isOurs(f.name) {
			ours = append(ours, f)
		}
	}
	var note *field
	for i := range ours {
		if strings.EqualFold(ours[i].name, AnnotationName) {
			note = &ours[i]
		}
	}
	if note == nil || (len(ours) == 2 && ours[0].end != ours[1].start) {
		return nil, ErrNoAnnotation
	}
	at, n, was, err := parseAnnotation(note.value)
	if err != nil {
		return nil, err
	}
	base := rest[ours[len(ours)-1].end:]
	if ours[0].start != 0 || at < 0 || n < 0 || at+n > len(base) {
		return nil, fmt.Errorf("%w: offsets out of the message", ErrNoAnnotation)
	}
	out := make([]byte, 0, len(from)+len(base)-n+len(was))
	out = append(append(append(out, from...), base[:at]...), was...)
	return append(out, base[at+n:]...), nil
}

// parseAnnotation reads "v=1; at=N; len=M; was=BASE64" (white space
// anywhere, as folding leaves it).
func parseAnnotation(v string) (at, n int, was []byte, err error) {
	tags := map[string]string{}
	for _, part := range strings.Split(v, ";") {
		k, val, ok := strings.Cut(part, "=")
		if ok {
			tags[strings.TrimSpace(k)] = strings.Join(strings.Fields(val), "")
		}
	}
	if tags["v"] != "1" {
		return 0, 0, nil, fmt.Errorf("%w: version %q", ErrNoAnnotation, tags["v"])
	}
	if at, err = strconv.Atoi(tags["at"]); err != nil {
		return 0, 0, nil, fmt.Errorf("%w: at: %w", ErrNoAnnotation, err)
	}
	if n, err = strconv.Atoi(tags["len"]); err != nil {
		return 0, 0, nil, fmt.Errorf("%w: len: %w", ErrNoAnnotation, err)
	}
	if was, err = base64.StdEncoding.DecodeString(tags["was"]); err != nil {
		return 0, 0, nil, fmt.Errorf("%w: was: %w", ErrNoAnnotation, err)
	}
	return at, n, was, nil
}

// isOurs reports whether a field name is one the filter writes (and so
// renames when it comes with the message).
func isOurs(name string) bool {
	return strings.EqualFold(name, HeaderName) || strings.EqualFold(name, DMARCHeaderName) ||
		strings.EqualFold(name, AnnotationName)
}

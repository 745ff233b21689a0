package report

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"

	"github.com/go-json-experiment/json/jsontext"

	"github.com/emersion/go-message"
	_ "github.com/emersion/go-message/charset" // text parts and headers in any charset
	"github.com/emersion/go-message/mail"

	"github.com/tlsrpt/tlsrpt/internal/mimewalk"
	"github.com/tlsrpt/tlsrpt/internal/oneline"
	"github.com/tlsrpt/tlsrpt/internal/pkgerr"
	"github.com/tlsrpt/tlsrpt/neutral"
)

// maxDepth bounds how deeply multiparts may nest.
const maxDepth = 16

// ReadMessage finds and decodes the TLS reports in a mail message. It
// always returns a non-nil Message holding the headers it could read.
//
// Every MIME part is visited. A part is a report candidate when its media
// type is one reports are sent with (application/tlsrpt+gzip,
// application/tlsrpt+json, application/gzip, application/json,
// application/zip, application/octet-stream and the like), when its file
// name ends in .json, .gz or .zip, or when its content starts with gzip or
// zip magic. A message whose whole body is a report is read too, even as
// text/plain when that text is the JSON of a report. Each candidate
// becomes a Found; a candidate that cannot be read has Found.Err set.
//
// The error is nil when at least one report could be read. Otherwise it
// wraps ErrNoReport when no candidate was found, or joins the candidates'
// errors. A raw message over lim.MaxMessage gives ErrTooLarge (with the
// headers still read). lim.MaxDecompressed bounds the decompressed bytes
// of all parts together, and at most lim.MaxReports are taken (ErrTooLarge
// beyond, with the first ones kept in Found).
func ReadMessage(raw []byte, lim Limits) (*Message, error) {
	lim = lim.orDefault()
	m := &Message{}
	e, err := message.Read(bytes.NewReader(raw))
	if err != nil && !mimewalk.IsLenient(err) {
		return m, pkgerr.Errorf("report", "reading message header: %w: %w", printable{err}, ErrNoReport)
	}
	m.readHeader(mail.Header{Header: e.Header})
	if int64(len(raw)) > lim.MaxMessage {
		return m, pkgerr.Errorf("report", "message of %d bytes exceeds %d: %w", len(raw), lim.MaxMessage, ErrTooLarge)
	}
	w := walker{m: m, b: newBudget(lim)}
	w.problems = append(w.problems, mimewalk.Walk(e, maxDepth, w.leaf)...)
	return m, w.result()
}

// printable wraps an error whose text may hold raw input bytes (go-message
// quotes the offending header line as it is), escaping them so that the
// message can go into a log line or a header field.
type printable struct{ err error }

func (p printable) Error() string { return neutral.Error(p.err) }

func (p printable) Unwrap() error { return p.err }

// readHeader fills in the header fields of m, keeping whatever parses.
func (m *Message) readHeader(h mail.Header) {
	m.Submitter = strings.TrimSpace(h.Get("TLS-Report-Submitter"))
	m.Domain = strings.TrimSpace(h.Get("TLS-Report-Domain"))
	m.Envelope = mimewalk.ReadEnvelope(h)
}

// walker visits the parts of one message.
type walker struct {
	m        *Message
	b        *budget
	problems []error // structure problems: bad multipart, body read errors
	tooMany  bool
}

// leaf is the walk's mimewalk.Leaf: it visits a part, and the walk goes
// on until too many reports were found. whole is true when the part is
// the whole message body.
func (w *walker) leaf(e *message.Entity, path string, whole bool) bool {
	w.visit(e, path, whole)
	return !w.tooMany
}

// visit decodes one non-multipart part when it is a report candidate.
func (w *walker) visit(e *message.Entity, path string, whole bool) {
	ctype := e.Header.Get("Content-Type")
	mt := baseMediaType(ctype)
	if strings.HasPrefix(mt, "multipart/") || mt == "message/rfc822" {
		return
	}
	name := mimewalk.Filename(e)
	label := name
	if label == "" {
		label = path
	}
	isText := strings.HasPrefix(mt, "text/") || mt == ""
	switch {
	case isReportMediaType(ctype) || formatOfName(name) != formatUnknown:
		w.candidate(e.Body, label, mt)
	case whole && isText:
		w.wholeText(e.Body, label, mt)
	case isText:
		// Human-readable text is never a report unless named so.
	default:
		w.byMagic(e.Body, label, mt)
	}
}

// candidate decodes a part whose header says it is a report.
func (w *walker) candidate(body io.Reader, label, mt string) {
	data, err := readBody(body)
	if err != nil {
		w.add(Found{Name: label, MediaType: mt, Err: pkgerr.Errorf("report", "reading part %q: %w", label, err)})
		return
	}
	for _, f := range decodeFound(data, label, mt, w.b) {
		f.MediaType = mt
		w.add(f)
	}
}

// wholeText reads a text/plain message that may be exactly the JSON of a
// report; a human summary, even one that starts with '{', is no
// candidate and gives no error.
func (w *walker) wholeText(body io.Reader, label, mt string) {
	data, err := readBody(body)
	if err != nil {
		w.problems = append(w.problems, fmt.Errorf("reading part %q: %w", label, err))
		return
	}
	if sniff(data) != formatJSON {
		return
	}
	r, err := parseJSON(data, w.b)
	if err != nil && (errors.Is(err, ErrNoReport) || isSyntaxError(err)) {
		return
	}
	w.add(Found{Report: r, Name: label, MediaType: mt, Err: wrapJSONErr(err, label)})
}

// byMagic decodes a part of another type when its content starts with
// gzip or zip magic and turns out to hold a report. Only the first bytes
// are read from other parts.
func (w *walker) byMagic(body io.Reader, label, mt string) {
	br := bufio.NewReaderSize(body, 16)
	head, _ := br.Peek(len(zipMagic))
	if f := sniff(head); f != formatGzip && f != formatZip {
		return
	}
	data, err := readBody(br)
	if err != nil {
		w.problems = append(w.problems, fmt.Errorf("reading part %q: %w", label, err))
		return
	}
	found := decodeFound(data, label, mt, w.b)
	if allNoReport(found) {
		return // a zip-based office document or the like
	}
	for _, f := range found {
		f.MediaType = mt
		w.add(f)
	}
}

// allNoReport reports whether every element failed with ErrNoReport.
func allNoReport(found []Found) bool {
	for _, f := range found {
		if !errors.Is(f.Err, ErrNoReport) {
			return false
		}
	}
	return true
}

// isSyntaxError tells malformed JSON.
func isSyntaxError(err error) bool {
	var se *jsontext.SyntacticError
	return errors.As(err, &se)
}

// wrapJSONErr names the part in a JSON error; nil stays nil.
func wrapJSONErr(err error, label string) error {
	if err == nil {
		return nil
	}
	return pkgerr.Errorf("report", "parsing JSON report %q: %w", label, err)
}

// add records a Found, up to lim.MaxReports of them.
func (w *walker) add(f Found) {
	w.tooMany = w.tooMany || !w.m.Found.Add(f, w.b.lim.MaxReports)
}

// readBody reads a decoded part body. A body cut short by a missing
// closing boundary (Mail.ru) ends with io.ErrUnexpectedEOF: what was read
// is kept.
func readBody(r io.Reader) ([]byte, error) {
	data, err := io.ReadAll(r)
	if errors.Is(err, io.ErrUnexpectedEOF) {
		return data, nil
	}
	return data, err
}

// result is the error ReadMessage returns: nil when a report was read.
func (w *walker) result() error {
	if w.tooMany {
		return pkgerr.Errorf("report", "message has more than %d report parts: %w", w.b.lim.MaxReports, ErrTooLarge)
	}
	if len(w.m.Reports()) > 0 {
		return nil
	}
	if len(w.m.Found) == 0 {
		why := "no report part"
		if len(w.problems) > 0 {
			texts := make([]string, len(w.problems))
			for i, p := range w.problems {
				texts[i] = printable{p}.Error()
			}
			why += " (" + strings.Join(texts, "; ") + ")"
		}
		return pkgerr.Errorf("report", "message %s: %s: %w", w.messageLabel(), why, ErrNoReport)
	}
	return oneline.Join(w.m.Found.Errs())
}

// messageLabel names the message in errors.
func (w *walker) messageLabel() string {
	if w.m.MessageID != "" {
		return strconv.Quote("<" + w.m.MessageID + ">")
	}
	return "without Message-ID"
}

// Failed returns the number of failed sessions over all readable reports
// of the message: the sum of total-failure-session-count over all their
// policies.
func (m *Message) Failed() int64 {
	var n int64
	for _, r := range m.Reports() {
		n += r.TotalFailed()
	}
	return n
}

package dmarc

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/emersion/go-message"
	"github.com/emersion/go-message/mail"

	"github.com/tlsrpt/tlsrpt/internal/mimewalk"
	"github.com/tlsrpt/tlsrpt/internal/oneline"
)

// maxNesting bounds how deeply multiparts may nest.
const maxNesting = 16

// Message is what a mail message tells about the DMARC reports it
// carries.
type Message struct {
	// The fields From (address in From, lower case), FromDomain,
	// Subject, MessageID and Found, every part that holds or starts
	// like a DMARC report in message order (a part that could not be
	// read has Err set and Report nil), and the methods Reports and
	// Errs, as the TLS report parser has them.
	mimewalk.Message[Report]
}

// Found is one report part of a message.
type Found = mimewalk.Found[Report]

// Failed is the number of messages that failed DMARC over all readable
// reports of the message.
func (m *Message) Failed() int64 {
	var n int64
	for _, r := range m.Reports() {
		n += r.Failed()
	}
	return n
}

// FromMessage finds and reads the DMARC reports in a mail message. It
// always returns a non-nil Message holding the headers it could read.
//
// Every leaf MIME part is looked at by its content, whatever its
// Content-Type says (reporters label zip files application/octet-stream,
// XML text/plain): a part that starts, after white space, with '<', gzip
// or zip magic is read with the rules of Parse; one that turns out not to
// be a report (an HTML text, an office document) is passed over.
//
// The error is nil when at least one report was read; it wraps
// ErrNotDMARC when no part holds one, and otherwise joins the parts'
// errors. lim.MaxInput bounds the message; the other Limits bound all its
// reports together, and at most lim.MaxReports parts are taken.
func FromMessage(r io.Reader, lim Limits) (*Message, error) {
	b := newBudget(lim)
	m := &Message{}
	e, err := message.Read(&inputLimit{r: r, left: b.lim.MaxInput})
	if err != nil && !mimewalk.IsLenient(err) {
		if errors.Is(err, ErrTooLarge) {
			return m, err
		}
		return m, notDMARC("reading message header: %s", oneLine(err.Error()))
	}
	m.Envelope = mimewalk.ReadEnvelope(mail.Header{Header: e.Header})
	w := walker{m: m, b: b}
	w.problems = append(w.problems, mimewalk.Walk(e, maxNesting, w.leaf)...)
	return m, w.result()
}

// walker visits the parts of one message.
type walker struct {
	m        *Message
	b        *budget
	problems []error // structure problems: bad multipart, a limit
	tooMany  bool
}

// leaf is the walk's mimewalk.Leaf: it visits a part, and the walk goes
// on until too many reports were found.
func (w *walker) leaf(e *message.Entity, path string, _ bool) bool {
	w.visit(e, path)
	return !w.tooMany
}

// visit reads one non-multipart part when its content starts like a
// report.
func (w *walker) visit(e *message.Entity, path string) {
	mt := mediaType(e)
	label := mimewalk.Filename(e)
	if label == "" {
		label = path
	}
	br := bufio.NewReaderSize(partBody{e.Body}, 16<<10)
	head, err := sniffHead(br)
	switch {
	case err != nil:
		if errors.Is(err, ErrTooLarge) {
			w.problems = append(w.problems, err)
		}
		return // an undecodable part that does not even start like a report
	case !bytes.HasPrefix(head, gzipMagic) && !bytes.HasPrefix(head, zipMagic) &&
		(len(head) == 0 || head[0] != '<'):
		return
	}
	rep, err := parse(br, w.b)
	if errors.Is(err, ErrNotDMARC) {
		return
	}
	if err != nil {
		err = fmt.Errorf("part %.80q: %w", label, err)
	}
	w.add(Found{Report: rep, Name: label, MediaType: mt, Err: err})
}

// partBody ends a part cut short by a missing closing boundary like a
// complete one: what was read is kept.
type partBody struct{ r io.Reader }

func (p partBody) Read(b []byte) (int, error) {
	n, err := p.r.Read(b)
	if errors.Is(err, io.ErrUnexpectedEOF) && !errors.Is(err, ErrTooLarge) {
		err = io.EOF
	}
	return n, err
}

// add records a Found, up to lim.MaxReports of them.
func (w *walker) add(f Found) {
	w.tooMany = w.tooMany || !w.m.Found.Add(f, w.b.lim.MaxReports)
}

// mediaType returns the declared type/subtype, lower case.
func mediaType(e *message.Entity) string {
	if t, _, err := e.Header.ContentType(); err == nil {
		return t
	}
	t, _, _ := strings.Cut(e.Header.Get("Content-Type"), ";")
	return strings.ToLower(strings.TrimSpace(t))
}

// result is the error FromMessage returns: nil when a report was read.
func (w *walker) result() error {
	switch {
	case w.tooMany:
		return packageTooLarge("message has more than %d report parts", w.b.lim.MaxReports)
	case len(w.m.Reports()) > 0:
		return nil
	case len(w.m.Found) > 0:
		return oneline.Join(w.m.Found.Errs())
	}
	for _, p := range w.problems {
		if errors.Is(p, ErrTooLarge) {
			return p
		}
	}
	why := "no part holds a DMARC report"
	if len(w.problems) > 0 {
		why += " (" + oneLine(oneline.Join(w.problems).Error()) + ")"
	}
	return notDMARC("message %s: %s", w.label(), why)
}

// label names the message in errors.
func (w *walker) label() string {
	if w.m.MessageID != "" {
		return fmt.Sprintf("%.200q", "<"+w.m.MessageID+">")
	}
	return "without Message-ID"
}

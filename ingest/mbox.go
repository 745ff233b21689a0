package ingest

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"

	"github.com/tlsrpt/tlsrpt/report"
)

// MboxReader splits an mbox file into its messages, in bounded memory.
//
// A message starts after a line beginning with "From " (the From_ line,
// which is not part of the message) and ends before the next one. Lines
// beginning with one or more '>' followed by "From " are un-escaped by
// removing one '>' (the mboxrd convention, which also undoes mboxo's
// escaping of "From " lines). The empty line that separates a message from
// the next From_ line is removed, and a last message without a final line
// end gets one. Anything before the first From_ line is skipped.
type MboxReader struct {
	br    *bufio.Reader
	max   int64
	line  int   // lines read so far
	start int   // line of the current message's From_ line
	n     int   // messages returned so far, errors included
	read  int64 // bytes read so far
	eof   bool
	begun bool // a From_ line was seen
}

// NewMboxReader returns a reader of the messages in r, each at most max
// bytes (max <= 0: report.DefaultLimits.MaxMessage).
func NewMboxReader(r io.Reader, max int64) *MboxReader {
	if max <= 0 {
		max = report.DefaultLimits.MaxMessage
	}
	return &MboxReader{br: bufio.NewReaderSize(r, 64<<10), max: max}
}

// MessageTooLargeError is the error of a message over the bound; Next
// skips the message and goes on with the next one.
type MessageTooLargeError struct {
	Max int64
}

// Error says the message was skipped.
func (e *MessageTooLargeError) Error() string {
	return fmt.Sprintf("message over %d bytes, skipped", e.Max)
}

// Unwrap makes the error match report.ErrTooLarge.
func (e *MessageTooLargeError) Unwrap() error { return report.ErrTooLarge }

// Next returns the next message, or io.EOF after the last one. A message
// over the bound gives a *MessageTooLargeError, and the reader stays usable;
// any other error is the underlying reader's and final.
// Empty messages (a From_ line right after another) are skipped.
func (m *MboxReader) Next() ([]byte, error) {
	if !m.begun {
		if err := m.skipToFrom(); err != nil {
			return nil, err
		}
	}
	for !m.eof {
		msg, err := m.next()
		if err != nil || len(msg) > 0 {
			m.n++
			return msg, err
		}
	}
	return nil, io.EOF
}

// next reads one message after its From_ line.
func (m *MboxReader) next() ([]byte, error) {
	m.start = m.line
	var buf bytes.Buffer
	tooLarge := false
	atStart := true
	for {
		frag, err := m.fragment()
		if len(frag) > 0 && atStart && bytes.HasPrefix(frag, []byte("From ")) {
			m.line++ // the next From_ line, consumed
			if err := m.skipLineRest(frag); err != nil && !errors.Is(err, io.EOF) {
				return nil, err
			} else if errors.Is(err, io.EOF) {
				m.eof = true
			}
			break
		}
		if len(frag) > 0 {
			if atStart && isEscapedFrom(frag) {
				frag = frag[1:]
			}
			atStart = frag[len(frag)-1] == '\n'
			if atStart {
				m.line++
			}
			if !tooLarge && int64(buf.Len()+len(frag)) > m.max+2 { // +2: the separator
				tooLarge = true
			}
			if !tooLarge {
				buf.Write(frag)
			}
		}
		if errors.Is(err, io.EOF) {
			m.eof = true
			break
		}
		if err != nil {
			return nil, err
		}
	}
	if tooLarge {
		return nil, &MessageTooLargeError{Max: m.max}
	}
	msg := trimSeparator(buf.Bytes())
	if int64(len(msg)) > m.max {
		return nil, &MessageTooLargeError{Max: m.max}
	}
	return msg, nil
}

// fragment reads up to and including the next line end, or a buffer-full
// piece of a longer line.
func (m *MboxReader) fragment() ([]byte, error) {
	frag, err := m.br.ReadSlice('\n')
	m.read += int64(len(frag))
	if errors.Is(err, bufio.ErrBufferFull) {
		err = nil
	}
	return frag, err
}

// skipLineRest consumes the rest of a line of which frag was the start.
func (m *MboxReader) skipLineRest(frag []byte) error {
	for len(frag) == 0 || frag[len(frag)-1] != '\n' {
		var err error
		frag, err = m.fragment()
		if err != nil {
			return err
		}
	}
	return nil
}

// skipToFrom skips what comes before the first From_ line, and that line.
func (m *MboxReader) skipToFrom() error {
	atStart := true
	for {
		frag, err := m.fragment()
		if len(frag) > 0 && atStart && bytes.HasPrefix(frag, []byte("From ")) {
			m.begun = true
			m.line++
			err := m.skipLineRest(frag)
			if errors.Is(err, io.EOF) {
				m.eof = true
				return nil
			}
			return err
		}
		if len(frag) > 0 {
			atStart = frag[len(frag)-1] == '\n'
			if atStart {
				m.line++
			}
		}
		if errors.Is(err, io.EOF) {
			m.begun, m.eof = true, true
			return nil
		}
		if err != nil {
			return err
		}
	}
}

// isEscapedFrom reports whether a line start is ">From ", ">>From " and
// so on.
func isEscapedFrom(line []byte) bool {
	rest := bytes.TrimLeft(line, ">")
	return len(rest) < len(line) && bytes.HasPrefix(rest, []byte("From "))
}

// trimSeparator removes the empty line before the next From_ line and
// makes sure the message ends with a line end.
func trimSeparator(b []byte) []byte {
	switch {
	case bytes.HasSuffix(b, []byte("\r\n\r\n")):
		b = b[:len(b)-2]
	case bytes.HasSuffix(b, []byte("\n\n")):
		b = b[:len(b)-1]
	case string(b) == "\n" || string(b) == "\r\n":
		b = b[:0]
	}
	if len(b) > 0 && b[len(b)-1] != '\n' {
		b = append(b, '\n')
	}
	return b
}

// Line returns the line number of the From_ line of the message Next
// returned last.
func (m *MboxReader) Line() int { return m.start }

// Count returns how many messages Next has returned, errors included.
func (m *MboxReader) Count() int { return m.n }

// Offset returns how many bytes of the input have been read.
func (m *MboxReader) Offset() int64 { return m.read }

// EscapeMboxrd writes msg as one mboxrd entry: a From_ line, the message
// with its "From " lines escaped, and an empty line. It is the inverse of
// MboxReader for messages that end with a line end.
func EscapeMboxrd(w io.Writer, from string, msg []byte) error {
	var buf bytes.Buffer
	buf.WriteString("From " + from + "\n")
	for len(msg) > 0 {
		line := msg
		if i := bytes.IndexByte(msg, '\n'); i >= 0 {
			line = msg[:i+1]
		}
		msg = msg[len(line):]
		if bytes.HasPrefix(bytes.TrimLeft(line, ">"), []byte("From ")) {
			buf.WriteByte('>')
		}
		buf.Write(line)
	}
	buf.WriteString("\n")
	_, err := w.Write(buf.Bytes())
	return err
}

// Package mimewalk visits the leaf parts of a MIME message as real
// reporters send them, for the parsers of TLS reports (report) and DMARC
// reports (dmarc): one walk, so that a quirk of a reporter's MIME (a
// missing closing boundary, an unknown charset) is read the same way by
// both. It is written by hand because go-message gives the parts one
// multipart at a time and leaves nesting, naming and leniency to its user.
// Both parsers return the one message model of found.go: the envelope
// and the parts found, Message[R] for their report type R.
package mimewalk

import (
	"fmt"
	"io"
	"strconv"
	"strings"

	"github.com/emersion/go-message"
	"github.com/emersion/go-message/mail"
)

// Leaf is called for each non-multipart part with its path as IMAP names
// it ("1", "1.2"; "1" for the body of a single-part message) and whole
// true when the part is the whole message body. It returns false to stop
// the walk.
type Leaf func(e *message.Entity, path string, whole bool) (more bool)

// Walk visits the leaves of e depth first, in message order, descending
// at most maxDepth multiparts. A multipart whose closing boundary is
// missing is read as far as it goes (Mail.ru), a part with an unknown
// charset or transfer encoding is visited all the same. It returns the
// structure problems met: a multipart nested too deep or unreadable.
func Walk(e *message.Entity, maxDepth int, leaf Leaf) []error {
	w := walker{maxDepth: maxDepth, leaf: leaf}
	w.walk(e, "", 0)
	return w.problems
}

type walker struct {
	maxDepth int
	leaf     Leaf
	problems []error
	stopped  bool
}

// walk visits e, whose part path is path ("" for the whole message).
func (w *walker) walk(e *message.Entity, path string, depth int) {
	if w.stopped {
		return
	}
	if mr := e.MultipartReader(); mr != nil {
		w.multipart(mr, path, depth)
		return
	}
	if path == "" {
		path = "1" // the body of a single-part message, as IMAP names it
	}
	w.stopped = !w.leaf(e, path, depth == 0)
}

// multipart visits every part of a multipart.
func (w *walker) multipart(mr message.MultipartReader, path string, depth int) {
	if depth >= w.maxDepth {
		w.problems = append(w.problems, fmt.Errorf("multipart %q nested deeper than %d", path, w.maxDepth))
		return
	}
	for i := 1; !w.stopped; i++ {
		p, err := mr.NextPart()
		if err == io.EOF {
			return
		}
		if err != nil && (p == nil || !IsLenient(err)) {
			if !isMissingEnd(err) {
				w.problems = append(w.problems, fmt.Errorf("multipart %q: %w", path, err))
			}
			return
		}
		child := strconv.Itoa(i)
		if path != "" {
			child = path + "." + child
		}
		w.walk(p, child, depth+1)
	}
}

// IsLenient tells the go-message errors that still give a readable
// entity: an unknown charset or Content-Transfer-Encoding.
func IsLenient(err error) bool {
	return message.IsUnknownCharset(err) || message.IsUnknownEncoding(err)
}

// isMissingEnd tells the error NextPart gives after the last part when
// the closing boundary is missing: nothing was lost. go-message formats
// it with %v, so only its text tells.
func isMissingEnd(err error) bool {
	return strings.HasSuffix(err.Error(), "NextPart: EOF") ||
		strings.HasSuffix(err.Error(), io.ErrUnexpectedEOF.Error())
}

// Filename returns the filename parameter of Content-Disposition, else
// the name parameter of Content-Type, else "".
func Filename(e *message.Entity) string {
	ah := mail.AttachmentHeader{Header: e.Header}
	if name, err := ah.Filename(); err == nil && name != "" {
		return name
	}
	if _, params, err := e.Header.ContentType(); err == nil {
		return params["name"]
	}
	return ""
}

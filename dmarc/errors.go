package dmarc

import (
	"fmt"
	"strings"

	"github.com/tlsrpt/tlsrpt/internal/pkgerr"
)

// PathError is a problem at one element of a report: Path names it from
// the root, with the record's position, as in
// "feedback/record[3]/row/source_ip".
type PathError struct {
	Path string
	Err  error
}

func (e *PathError) Error() string { return "dmarc: " + e.Path + ": " + e.Err.Error() }

// Package says that the text starts with the package's name, "dmarc".
func (e *PathError) Package() string { return "dmarc" }

// Unwrap returns the problem.
func (e *PathError) Unwrap() error { return e.Err }

// tooLarge is a bound that was reached, inside an error that names the
// package (a PathError).
func tooLarge(format string, args ...any) error {
	return pkgerr.Kind(ErrTooLarge, fmt.Errorf(format, args...))
}

// packageTooLarge is a bound that was reached, said on its own: "dmarc: "
// and the text.
func packageTooLarge(format string, args ...any) error {
	return pkgerr.Kind(ErrTooLarge, pkgerr.Errorf("dmarc", format, args...))
}

// notDMARC says why the input is not a DMARC report.
func notDMARC(format string, args ...any) error {
	return pkgerr.Kind(ErrNotDMARC, pkgerr.Errorf("dmarc", "not a DMARC aggregate report: "+format, args...))
}

// dtdError is a refused DOCTYPE. When it declares a root other than
// feedback, the content is not a DMARC report either (an HTML page), and
// the error says so.
type dtdError struct{ root string }

func (e dtdError) Error() string {
	s := ErrDTD.Error()
	if e.root != "feedback" {
		s += fmt.Sprintf("; it declares root %.40q: not a DMARC aggregate report", e.root)
	}
	return s
}

// Package says that the text starts with the package's name, "dmarc".
func (e dtdError) Package() string { return "dmarc" }

// Is reports whether target is ErrDTD, or ErrNotDMARC for a DOCTYPE of
// another root.
func (e dtdError) Is(target error) bool {
	return target == ErrDTD || (target == ErrNotDMARC && e.root != "feedback")
}

// oneLine makes an error's text fit a log line or a header field: XML
// syntax errors quote input, which may hold any byte.
func oneLine(s string) string {
	return strings.Map(func(r rune) rune {
		if r < 0x20 || r == 0x7f {
			return ' '
		}
		return r
	}, s)
}

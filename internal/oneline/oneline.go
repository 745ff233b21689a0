// Package oneline joins errors into one line, for the parsers of TLS and
// DMARC reports, whose errors end up in a log line or a header field:
// errors.Join separates its parts with line ends.
package oneline

import "strings"

// joined is errors.Join on one line: its parts are separated by "; ".
type joined []error

func (j joined) Error() string {
	texts := make([]string, len(j))
	for i, err := range j {
		texts[i] = err.Error()
	}
	return strings.Join(texts, "; ")
}

func (j joined) Unwrap() []error { return j }

// Join returns nil, the only error, or the errors joined on one line;
// errors.Is and errors.As see each of them.
func Join(errs []error) error {
	switch len(errs) {
	case 0:
		return nil
	case 1:
		return errs[0]
	}
	return joined(errs)
}

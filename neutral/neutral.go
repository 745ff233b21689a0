// Package neutral makes untrusted text safe where it leaves the program.
//
// Every string that comes from a report, a mail header, a DNS answer or an
// HTTP request is kept as it came inside tlsrpt and passed through exactly
// one function of this package where it is written out. Each function is
// named for where the text goes:
//
//   - HeaderValue: the value of a mail header field we write (ASCII only,
//     one line, never a field of its own);
//   - SummaryLine: a line of the readable summary the filter adds to a
//     message (one line, printable Unicode, never a MIME boundary);
//   - TerminalCell: a cell of a table printed on a terminal (no escape
//     sequences, no tabs or line breaks that would shift a table);
//   - TerminalLine: a free line of terminal output, the same with more
//     room;
//   - LogAttr: an attribute of a log line or an audit record.
//
// All of them return one line: control characters (C0, DEL, C1), line and
// paragraph separators, and invisible format characters such as the
// bidirectional overrides are replaced with a visible escape in Go syntax
// (\n, \x1b, \u202e), invalid UTF-8 with \xNN, and the result is capped at
// a number of bytes, cut on a character boundary, with "..." marking the
// cut. Backslashes are left alone: an escape written by the sender reads the
// same as one we wrote, and neither can do anything.
//
// This package is hand-written because no library offers output-specific
// neutralisation of this kind: html/template covers the web, and is used
// there; strconv.Quote adds quotes and escapes printable Unicode we want to
// keep readable.
package neutral

import (
	"fmt"
	"slices"
	"strings"
	"unicode"
	"unicode/utf8"
)

// Caps in bytes of the escaped text, per output.
const (
	// MaxHeader keeps our header field well under RFC 5322's 998-octet
	// line limit, with room for the field name.
	MaxHeader = 200
	// MaxSummary caps one value in a summary line.
	MaxSummary = 200
	// MaxTerminal caps one cell of a terminal table.
	MaxTerminal = 120
	// MaxTerminalLine caps one free line of terminal output.
	MaxTerminalLine = 1000
	// MaxLog caps one log or audit attribute.
	MaxLog = 500
)

// ellipsis marks a cut; ASCII so that it is safe in every output.
const ellipsis = "..."

// HeaderValue returns s as the value of a mail header field: printable
// ASCII only (other characters escaped), no line break, so it can neither
// end the field nor start another; leading and trailing white space
// removed; at most MaxHeader bytes.
func HeaderValue(s string) string {
	return clean(s, MaxHeader, true)
}

// SummaryLine returns s for one line of the summary the filter writes into a
// text part: printable Unicode kept, everything else escaped, at most
// MaxSummary bytes. A result starting with "--" is prefixed with a space,
// so that it can never be read as a MIME boundary line, even placed at the
// start of a line.
func SummaryLine(s string) string {
	return noBoundary(clean(s, MaxSummary, false))
}

// TerminalCell returns s for a cell of a table printed on a terminal, or a
// line of terminal output: no ESC, BEL, CR, TAB or line break reaches the
// terminal, so a value can neither move the cursor nor forge a row or a
// column; at most MaxTerminal bytes.
func TerminalCell(s string) string {
	return clean(s, MaxTerminal, false)
}

// TerminalLine returns s for a free line of terminal output (a plan's
// step, an audit log entry) as TerminalCell does, with the longer cap
// MaxTerminalLine.
func TerminalLine(s string) string {
	return clean(s, MaxTerminalLine, false)
}

// LogAttr returns s for an attribute of a log line or an audit record: one
// line, at most MaxLog bytes.
func LogAttr(s string) string {
	return clean(s, MaxLog, false)
}

// Error returns err's text as LogAttr does, or "" for a nil error: error
// texts often quote the input that caused them. A text over MaxLog is cut
// in the middle, not at the end: an error reads "what was done to which
// input: ...: cause", and the cause at its end (a database's SQLSTATE,
// ErrTooLarge's words) is what the operator needs when a quoted input
// made the text long.
func Error(err error) string {
	if err == nil {
		return ""
	}
	s := strings.TrimSpace(err.Error())
	if out, used := cleanPrefix(s, MaxLog, false); used == len(s) {
		return out
	}
	head, used := cleanPrefix(s, MaxLog/3, false) // ends with "..."
	return head + cleanTail(s[used:], MaxLog-len(head))
}

// cleanTail escapes the end of s as clean does, keeping at most max bytes
// of it. It reads s backwards and stops once the cap is passed.
func cleanTail(s string, max int) string {
	var pieces []string
	n := 0
	for i := len(s); i > 0; {
		r, size := utf8.DecodeLastRuneInString(s[:i])
		piece := escape(r, s[i-size:i], false)
		if n+len(piece) > max {
			break
		}
		pieces = append(pieces, piece)
		n += len(piece)
		i -= size
	}
	slices.Reverse(pieces)
	return strings.Join(pieces, "")
}

// clean trims s, escapes what must not pass and caps the result at max
// bytes. With asciiOnly, every rune outside printable ASCII is escaped. It
// stops reading once the cap is passed, so its cost is bounded by max, not
// by the length of s.
func clean(s string, max int, asciiOnly bool) string {
	out, _ := cleanPrefix(strings.TrimSpace(s), max, asciiOnly)
	return out
}

// cleanPrefix is clean without the trimming; used is how many bytes of s
// its result shows (len(s) when it is not cut).
func cleanPrefix(s string, max int, asciiOnly bool) (out string, used int) {
	var b strings.Builder
	cut, cutUsed := 0, 0 // length of b, and bytes of s read, at the last piece boundary that leaves room for the ellipsis
	for i := 0; i < len(s); {
		r, size := utf8.DecodeRuneInString(s[i:])
		piece := escape(r, s[i:i+size], asciiOnly)
		if b.Len()+len(piece) > max {
			return b.String()[:cut] + ellipsis, cutUsed
		}
		b.WriteString(piece)
		i += size
		if b.Len() <= max-len(ellipsis) {
			cut, cutUsed = b.Len(), i
		}
	}
	return b.String(), len(s)
}

// escape returns the text one rune becomes. raw is its encoding in the
// input (one byte for invalid UTF-8).
func escape(r rune, raw string, asciiOnly bool) string {
	switch {
	case r == utf8.RuneError && len(raw) == 1:
		return fmt.Sprintf(`\x%02x`, raw[0])
	case r == ' ':
		return raw
	case r == '\n':
		return `\n`
	case r == '\r':
		return `\r`
	case r == '\t':
		return `\t`
	case r < 0x80 && (r < 0x20 || r == 0x7f):
		return fmt.Sprintf(`\x%02x`, r)
	case r < 0x80:
		return raw
	case asciiOnly || !visible(r):
		if r > 0xffff {
			return fmt.Sprintf(`\U%08x`, r)
		}
		return fmt.Sprintf(`\u%04x`, r)
	}
	return raw
}

// visible reports whether a non-ASCII rune may be shown as it is: a
// graphic character that is not a format character (bidirectional
// overrides, zero-width joiners) nor a line or paragraph separator.
func visible(r rune) bool {
	return unicode.IsGraphic(r) && !unicode.Is(unicode.Cf, r) &&
		!unicode.Is(unicode.Zl, r) && !unicode.Is(unicode.Zp, r) && r != utf8.RuneError
}

// noBoundary prefixes a space to text that starts with "--".
func noBoundary(s string) string {
	if strings.HasPrefix(s, "--") {
		return " " + s
	}
	return s
}

// ShellWord returns s as one word for a POSIX shell, for a command shown
// to be copied: as it is when it holds only characters no shell treats
// specially, else in single quotes, each single quote in it closing the
// quotes, escaped with a backslash, and opening them again. Written by
// hand: the standard library has no shell quoting, and these six lines
// are the whole rule.
func ShellWord(s string) string {
	if s != "" && strings.Trim(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789@%+=:,./_-") == "" {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

package filter

import (
	"bytes"
	"encoding/base64"
	"fmt"
	"mime/quotedprintable"
	"strings"
	"unicode/utf8"

	"golang.org/x/text/encoding"
	"golang.org/x/text/encoding/ianaindex"

	"github.com/tlsrpt/tlsrpt/internal/pkgerr"
)

// appendText returns the encoded body of a text/plain part with text added
// at its end, in the part's own charset and transfer encoding, so that the
// existing bytes stay as they are (base64 excepted, which is re-encoded
// whole). eol is the message's line ending.
func appendText(body []byte, cte, charset, text, eol string) ([]byte, error) {
	switch cte {
	case "base64":
		return appendBase64(body, charsetBytes(text, charset, false, eol), eol)
	case "quoted-printable":
		return appendQP(body, charsetBytes(text, charset, false, eol), eol), nil
	case "", "7bit", "8bit", "binary":
		return appendPlain(body, charsetBytes(text, charset, cte == "" || cte == "7bit", eol), eol), nil
	default:
		return nil, fmt.Errorf("text part has unknown transfer encoding %q", cte)
	}
}

// charsetBytes encodes text (UTF-8, "\n" line ends) in charset with eol line
// ends. Characters the charset cannot carry, or any non-ASCII when ascii is
// set (a 7bit part), become '?'. An unknown charset is treated as ASCII.
func charsetBytes(text, charset string, ascii bool, eol string) []byte {
	text = strings.ReplaceAll(text, "\n", eol)
	enc := lookupCharset(charset)
	if ascii || enc == nil {
		return []byte(toASCII(text))
	}
	b, err := encoding.ReplaceUnsupported(enc.NewEncoder()).Bytes([]byte(text))
	if err != nil {
		return []byte(toASCII(text))
	}
	return b
}

// lookupCharset returns the encoding for a MIME charset name, nil for an
// unknown one. UTF-8 and US-ASCII map to the identity (nil means ASCII, so
// UTF-8 is special-cased).
func lookupCharset(name string) encoding.Encoding {
	name = strings.ToLower(strings.TrimSpace(name))
	switch name {
	case "", "us-ascii", "ascii":
		return nil
	case "utf-8", "utf8":
		return encoding.Nop
	}
	enc, err := ianaindex.MIME.Encoding(name)
	if err != nil || enc == nil {
		return nil
	}
	return enc
}

// toASCII replaces every non-ASCII character by '?'.
func toASCII(s string) string {
	var b strings.Builder
	for _, r := range s {
		if r < utf8.RuneSelf {
			b.WriteRune(r)
		} else {
			b.WriteByte('?')
		}
	}
	return b.String()
}

// joinText inserts add at the end of body, before its final line end if it
// has one, after a blank line. It is a pure insertion: no byte of body is
// dropped or changed.
func joinText(body, add []byte, eol string) []byte {
	at := len(body)
	if bytes.HasSuffix(body, []byte("\r\n")) {
		at -= 2
	} else if bytes.HasSuffix(body, []byte("\n")) {
		at--
	}
	ins := make([]byte, 0, len(add)+2*len(eol))
	if at > 0 {
		ins = append(ins, eol+eol...)
	}
	ins = append(ins, bytes.TrimRight(add, "\r\n")...)
	return splice(body, at, at, ins)
}

// appendPlain handles 7bit, 8bit and binary parts.
func appendPlain(body, add []byte, eol string) []byte {
	return joinText(body, add, eol)
}

// appendQP quoted-printable-encodes add and appends it.
func appendQP(body, add []byte, eol string) []byte {
	var buf bytes.Buffer
	w := quotedprintable.NewWriter(&buf)
	w.Write(add) // writes to a bytes.Buffer do not fail
	w.Close()
	enc := strings.ReplaceAll(buf.String(), "\r\n", eol)
	// A soft line break at the end of body joins the blank line joinText
	// puts first, which keeps the text as it was.
	return joinText(body, []byte(enc), eol)
}

// errBadBase64 is returned when a base64 text part cannot be decoded; the
// filter then adds its summary as a part of its own.
var errBadBase64 = pkgerr.New("filter", "text part is not valid base64")

// appendBase64 decodes the part, appends add and encodes it again in lines
// of 76 characters.
func appendBase64(body, add []byte, eol string) ([]byte, error) {
	clean := bytes.Map(func(r rune) rune {
		if r == '\r' || r == '\n' || r == ' ' || r == '\t' {
			return -1
		}
		return r
	}, body)
	dec, err := base64.StdEncoding.DecodeString(string(clean))
	if err != nil {
		return nil, fmt.Errorf("%w: %v", errBadBase64, err)
	}
	text := joinText(dec, add, eol)
	text = append(text, eol...)
	enc := base64.StdEncoding.EncodeToString(text)
	var out bytes.Buffer
	for len(enc) > 76 {
		out.WriteString(enc[:76] + eol)
		enc = enc[76:]
	}
	out.WriteString(enc)
	if bytes.HasSuffix(body, []byte("\n")) {
		out.WriteString(eol)
	}
	return out.Bytes(), nil
}

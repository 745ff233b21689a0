package mimewalk

import (
	"strings"

	"github.com/emersion/go-message/mail"
)

// Envelope is what the header of a report message says of where it comes
// from, read leniently: a field that does not parse gives what can be
// found in its raw text.
type Envelope struct {
	From       string // the first address of From, lower case
	FromDomain string // the part of From after its last @
	Subject    string // decoded, else as it came
	MessageID  string // without the angle brackets
}

// ReadEnvelope reads the envelope fields of h for both parsers, so that a
// From or Message-ID that does not parse is read the same way for TLS and
// DMARC reports.
func ReadEnvelope(h mail.Header) Envelope {
	var e Envelope
	e.From = fromAddress(h)
	if at := strings.LastIndexByte(e.From, '@'); at >= 0 {
		e.FromDomain = e.From[at+1:]
	}
	if s, err := h.Subject(); err == nil {
		e.Subject = s
	} else {
		e.Subject = h.Get("Subject")
	}
	if id, err := h.MessageID(); err == nil && id != "" {
		e.MessageID = id
	} else {
		e.MessageID = strings.Trim(strings.TrimSpace(h.Get("Message-Id")), "<>")
	}
	return e
}

// fromAddress returns the first address of From, lower-cased; when From
// does not parse, the first <...> or word holding an @.
func fromAddress(h mail.Header) string {
	if list, err := h.AddressList("From"); err == nil && len(list) > 0 {
		return strings.ToLower(list[0].Address)
	}
	v := h.Get("From")
	if i := strings.IndexByte(v, '<'); i >= 0 {
		if j := strings.IndexByte(v[i:], '>'); j > 0 {
			return strings.ToLower(strings.TrimSpace(v[i+1 : i+j]))
		}
	}
	for _, f := range strings.Fields(v) {
		if strings.Contains(f, "@") {
			return strings.ToLower(strings.Trim(f, `<>"(),;`))
		}
	}
	return ""
}

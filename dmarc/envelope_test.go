package dmarc

import (
	"os"
	"strings"
	"testing"
)

// TestFromMessageBrokenFrom reads a report whose From does not parse as an
// address list: the sender's address and domain are still found, as the
// TLS report parser finds them (one envelope reader for both).
func TestFromMessageBrokenFrom(t *testing.T) {
	msg := "From: \"DMARC, Aggregate\" noreply-dmarc@Example.NET>\r\n" +
		"Subject: Report Domain: example.com\r\nMessage-ID: not-bracketed@example.net\r\n" +
		"MIME-Version: 1.0\r\nContent-Type: text/xml\r\n\r\n"
	xml, err := os.ReadFile("testdata/corpus/empty_reason.xml")
	if err == nil {
		var m *Message
		m, err = FromMessage(strings.NewReader(msg+string(xml)), Limits{})
		eq(t, "From", m.From, "noreply-dmarc@example.net")
		eq(t, "FromDomain", m.FromDomain, "example.net")
		eq(t, "MessageID", m.MessageID, "not-bracketed@example.net")
	}
	if err != nil {
		t.Fatal(err)
	}
}

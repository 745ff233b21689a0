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
	xml, err := os.ReadFile("testdata/corpus/empty_reason.xml")
	if err != nil {
		t.Fatal(err)
	}
	msg := "From: \"DMARC, Aggregate\" noreply-dmarc@Example.NET>\r\n" +
		"Subject: Report Domain: example.com\r\nMessage-ID: not-bracketed@example.net\r\n" +
		"MIME-Version: 1.0\r\nContent-Type: text/xml\r\n\r\n" + string(xml)
	m, err := FromMessage(strings.NewReader(msg), Limits{})
	if err != nil {
		t.Fatalf("FromMessage: %v", err)
	}
	if m.From != "noreply-dmarc@example.net" || m.FromDomain != "example.net" || m.MessageID != "not-bracketed@example.net" {
		t.Errorf("From %q, FromDomain %q, MessageID %q; want noreply-dmarc@example.net, example.net, not-bracketed@example.net", m.From, m.FromDomain, m.MessageID)
	}
}

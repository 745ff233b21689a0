package mimewalk

import (
	"bufio"
	"strings"
	"testing"

	"github.com/emersion/go-message"
	"github.com/emersion/go-message/mail"
	"github.com/emersion/go-message/textproto"
)

func TestReadEnvelope(t *testing.T) {
	for _, tc := range []struct {
		name, header string
		want         Envelope
	}{
		{"parses", "From: Reporter <NoReply@Example.ORG>\r\nSubject: =?utf-8?q?Report_=C3=A9?=\r\nMessage-ID: <r1@example.org>\r\n",
			Envelope{From: "noreply@example.org", FromDomain: "example.org", Subject: "Report é", MessageID: "r1@example.org"}},
		{"unclosed angle bracket", "From: \"DMARC, Aggregate\" noreply@Example.NET>\r\nMessage-ID: not an id\r\n",
			Envelope{From: "noreply@example.net", FromDomain: "example.net", MessageID: "not an id"}},
		{"angle brackets in a broken display name", "From: a(b <dmarc@example.com>\r\n",
			Envelope{From: "dmarc@example.com", FromDomain: "example.com"}},
		{"nothing", "X-Other: 1\r\n", Envelope{}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h, err := textproto.ReadHeader(bufio.NewReader(strings.NewReader(tc.header + "\r\n")))
			if err != nil {
				t.Fatal(err)
			}
			if got := ReadEnvelope(mail.Header{Header: message.Header{Header: h}}); got != tc.want {
				t.Errorf("ReadEnvelope = %+v, want %+v", got, tc.want)
			}
		})
	}
}

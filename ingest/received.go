package ingest

import (
	"bufio"
	"bytes"
	"net/mail"
	"net/textproto"
	"strconv"
	"strings"
	"time"

	"github.com/tlsrpt/tlsrpt/arrival"
)

// arrivalTime is when a message arrived, from what the message and its file
// say, for the Received time of its reports: a backfill must not make old
// reports look as if they had just come. In order, the first that gives a
// time no later than now plus arrival.ClockSkew (a later one is not
// believed):
//
//   - the Maildir file name (maildirName, "" when the message is not a
//     Maildir file), which starts with the second of delivery;
//   - the date of the top Received header, the one the last MTA added on
//     delivery;
//   - the Date header.
//
// Else now.
func arrivalTime(maildirName string, raw []byte, now time.Time) time.Time {
	limit := now.Add(arrival.ClockSkew)
	believed := func(t time.Time) bool { return t.Unix() > 0 && !t.After(limit) }
	if t, ok := maildirTime(maildirName); ok && believed(t) {
		return t
	}
	h := headerOf(raw)
	if rcv := h.Get("Received"); rcv != "" {
		if i := strings.LastIndexByte(rcv, ';'); i >= 0 {
			if t, err := mail.ParseDate(strings.TrimSpace(rcv[i+1:])); err == nil && believed(t) {
				return t.UTC()
			}
		}
	}
	if t, err := mail.ParseDate(h.Get("Date")); err == nil && believed(t) {
		return t.UTC()
	}
	return now
}

// maildirTime reads the delivery second a Maildir file name starts with
// ("1700000000.M1P2.host:2,S").
func maildirTime(name string) (time.Time, bool) {
	sec, _, ok := strings.Cut(name, ".")
	if !ok || sec == "" || len(sec) > 12 {
		return time.Time{}, false
	}
	n, err := strconv.ParseInt(sec, 10, 64)
	if err != nil {
		return time.Time{}, false
	}
	return time.Unix(n, 0).UTC(), true
}

// headerOf reads the header of a message (its first field of each name
// is the topmost); an unreadable header is empty.
func headerOf(raw []byte) textproto.MIMEHeader {
	end := bytes.Index(raw, []byte("\n\n"))
	if crlf := bytes.Index(raw, []byte("\r\n\r\n")); crlf >= 0 && (end < 0 || crlf < end) {
		end = crlf + 2
	}
	if end >= 0 {
		raw = raw[:end+2]
	}
	h, err := textproto.NewReader(bufio.NewReader(bytes.NewReader(raw))).ReadMIMEHeader()
	if err != nil && len(h) == 0 {
		return textproto.MIMEHeader{}
	}
	return h
}

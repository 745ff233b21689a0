package gzmembers

import (
	"bytes"
	"compress/gzip"
	"errors"
	"io"
	"strings"
	"testing"
)

// member is data as one gzip member.
func member(t *testing.T, data string) string {
	t.Helper()
	var b bytes.Buffer
	w := gzip.NewWriter(&b)
	if _, err := io.WriteString(w, data); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return b.String()
}

func TestMembers(t *testing.T) {
	one, two := member(t, "hello, "), member(t, "world")
	for name, in := range map[string]string{
		"one member":              member(t, "hello, world"),
		"two members":             one + two,
		"padding between them":    one + "\r\n\x00 \t" + two,
		"padding after the last":  one + two + "\r\n\x00\x00",
		"padding before the next": one + "\n" + two + "\n",
	} {
		t.Run(name, func(t *testing.T) {
			r, err := NewReader(strings.NewReader(in))
			if err != nil {
				t.Fatal(err)
			}
			got, err := io.ReadAll(r)
			if err != nil || string(got) != "hello, world" {
				t.Errorf("read %q, %v; want %q", got, err, "hello, world")
			}
		})
	}
}

func TestMemberErrors(t *testing.T) {
	whole := member(t, "hello, world")
	for _, tc := range []struct {
		name, in, want string
		is             error
	}{
		{"junk after the member", whole + "junk that is not gzip", "gzip member after 12 bytes", gzip.ErrHeader},
		{"a broken second header", whole + "\n\x1f\x8b\x08junk", "gzip member after 12 bytes", nil},
		{"truncated", whole[:len(whole)-6], "unexpected EOF", io.ErrUnexpectedEOF},
		{"damaged checksum", whole[:len(whole)-8] + "\x00\x00\x00\x00" + whole[len(whole)-4:], "checksum", gzip.ErrChecksum},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r, err := NewReader(strings.NewReader(tc.in))
			if err != nil {
				t.Fatal(err)
			}
			_, err = io.ReadAll(r)
			if err == nil || !strings.Contains(err.Error(), tc.want) || (tc.is != nil && !errors.Is(err, tc.is)) {
				t.Errorf("error %v, want one saying %q (%v)", err, tc.want, tc.is)
			}
		})
	}
	if _, err := NewReader(strings.NewReader("not gzip at all")); !errors.Is(err, gzip.ErrHeader) {
		t.Errorf("NewReader of no gzip: %v, want gzip.ErrHeader", err)
	}
}

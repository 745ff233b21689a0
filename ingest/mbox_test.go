package ingest

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"reflect"
	"strings"
	"testing"
	"testing/iotest"

	"github.com/tlsrpt/tlsrpt/report"
)

// split reads all messages; a too-large one is returned as "<too large>".
func split(t testing.TB, in []byte, max int64) (msgs []string, lines []int) {
	t.Helper()
	mr := NewMboxReader(bytes.NewReader(in), max)
	for {
		m, err := mr.Next()
		if errors.Is(err, io.EOF) {
			return msgs, lines
		}
		var tl *MessageTooLargeError
		switch {
		case errors.As(err, &tl):
			msgs = append(msgs, "<too large>")
		case err != nil:
			t.Fatalf("Next: %v", err)
		default:
			msgs = append(msgs, string(m))
		}
		lines = append(lines, mr.Line())
	}
}

func TestMboxReader(t *testing.T) {
	tests := []struct {
		name  string
		in    string
		max   int64
		want  []string
		lines []int
	}{
		{"empty", "", 0, nil, nil},
		{"no From line", "Subject: x\n\nbody\n", 0, nil, nil},
		{"one", "From a@b Mon Jan 1 00:00:00 2024\nSubject: x\n\nbody\n", 0, []string{"Subject: x\n\nbody\n"}, []int{1}},
		{"two with separator", "From a\nA: 1\n\none\n\nFrom b\nB: 2\n\ntwo\n\n", 0,
			[]string{"A: 1\n\none\n", "B: 2\n\ntwo\n"}, []int{1, 6}},
		{"junk before", "junk\nmore junk\nFrom a\nA: 1\n", 0, []string{"A: 1\n"}, []int{3}},
		{"escaped From lines", "From a\nA: 1\n\n>From me\n>>From you\nFrom\n> From x\n", 0,
			[]string{"A: 1\n\nFrom me\n>From you\nFrom\n> From x\n"}, []int{1}},
		{"From inside a line", "From a\nA: 1\n\nsee From here\n", 0, []string{"A: 1\n\nsee From here\n"}, []int{1}},
		{"CRLF", "From a\r\nA: 1\r\n\r\nbody\r\n\r\nFrom b\r\nB: 2\r\n", 0,
			[]string{"A: 1\r\n\r\nbody\r\n", "B: 2\r\n"}, []int{1, 6}},
		{"no final line end", "From a\nA: 1\n\nbody", 0, []string{"A: 1\n\nbody\n"}, []int{1}},
		{"empty messages skipped", "From a\nFrom b\n\nFrom c\nC: 3\n", 0, []string{"C: 3\n"}, []int{4}},
		{"From_ line without end", "From a", 0, nil, nil},
		{"too large, then the next", "From a\n" + strings.Repeat("x", 100) + "\n\nFrom b\nB: 2\n", 50,
			[]string{"<too large>", "B: 2\n"}, []int{1, 4}},
		{"long line", "From a\nA: " + strings.Repeat("y", 200<<10) + "\n", 0,
			[]string{"A: " + strings.Repeat("y", 200<<10) + "\n"}, []int{1}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, lines := split(t, []byte(tt.in), tt.max)
			if !reflect.DeepEqual(got, tt.want) || !reflect.DeepEqual(lines, tt.lines) {
				t.Errorf("split:\n got %q lines %v\nwant %q lines %v", got, lines, tt.want, tt.lines)
			}
		})
	}
}

// TestMboxReaderOneByteReads: the result does not depend on how the input
// arrives.
func TestMboxReaderOneByteReads(t *testing.T) {
	in := "From a\nA: 1\n\n>From me\n\nFrom b\r\nB: 2\r\n"
	want, _ := split(t, []byte(in), 0)
	mr := NewMboxReader(iotest.OneByteReader(strings.NewReader(in)), 0)
	var got []string
	for {
		m, err := mr.Next()
		if err != nil {
			break
		}
		got = append(got, string(m))
	}
	if !reflect.DeepEqual(got, want) || len(got) != 2 {
		t.Errorf("got %q, want %q", got, want)
	}
}

// TestMboxReaderReadError: an error of the underlying reader is final.
func TestMboxReaderReadError(t *testing.T) {
	boom := errors.New("boom")
	mr := NewMboxReader(io.MultiReader(strings.NewReader("From a\nA: 1\n"), iotest.ErrReader(boom)), 0)
	if _, err := mr.Next(); !errors.Is(err, boom) {
		t.Errorf("Next: %v, want boom", err)
	}
}

// TestEscapeMboxrdRoundTrip: escaping then splitting gives the messages
// back, whatever "From " lines they hold.
func TestEscapeMboxrdRoundTrip(t *testing.T) {
	msgs := []string{plainMessage, "A: 1\n\nFrom x\n>From y\n>>From z\n\n\n", "B: 2\r\n\r\nbody\r\n"}
	var buf bytes.Buffer
	for _, m := range msgs {
		EscapeMboxrd(&buf, "x", []byte(m))
	}
	got, _ := split(t, buf.Bytes(), 0)
	if !reflect.DeepEqual(got, msgs) {
		t.Errorf("round trip:\n got %q\nwant %q", got, msgs)
	}
}

// FuzzMboxSplit: the splitter never fails on any input, keeps to its
// bound, and splitting is stable: writing the messages back as mboxrd and
// splitting again gives the same messages.
func FuzzMboxSplit(f *testing.F) {
	f.Add([]byte("From a\nA: 1\n\n>From me\n\nFrom b\r\nB: 2\r\n"), int64(0))
	f.Add([]byte("From a\n\n\nFrom b\nFrom c\n>>From\n"), int64(10))
	f.Add([]byte(plainMessage), int64(0))
	f.Add(mboxOf(f, []byte(plainMessage), []byte("X: y\n\nFrom z\n")), int64(30))
	f.Fuzz(func(t *testing.T, data []byte, max int64) {
		if max <= 0 || max > 1<<20 {
			max = 1 << 20
		}
		mr := NewMboxReader(bytes.NewReader(data), max)
		var msgs [][]byte
		for {
			m, err := mr.Next()
			if errors.Is(err, io.EOF) {
				break
			}
			var tl *MessageTooLargeError
			if errors.As(err, &tl) {
				if !errors.Is(err, report.ErrTooLarge) {
					t.Fatalf("too large error does not match report.ErrTooLarge")
				}
				continue
			}
			if err != nil {
				t.Fatalf("Next: %v", err)
			}
			if int64(len(m)) > max || len(m) == 0 || m[len(m)-1] != '\n' {
				t.Fatalf("message %q: empty, over %d bytes or without a line end", m, max)
			}
			msgs = append(msgs, bytes.Clone(m))
		}
		var buf bytes.Buffer
		for _, m := range msgs {
			EscapeMboxrd(&buf, "x", m)
		}
		again := NewMboxReader(&buf, 1<<21)
		for i := 0; ; i++ {
			m, err := again.Next()
			if errors.Is(err, io.EOF) {
				if i != len(msgs) {
					t.Fatalf("%d messages after the round trip, want %d", i, len(msgs))
				}
				break
			}
			if err != nil || i >= len(msgs) || !bytes.Equal(m, msgs[i]) {
				t.Fatalf("round trip message %d: %q, %v; want %s", i, m, err, fmt.Sprintf("%q", msgs))
			}
		}
	})
}

package neutral

import (
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"unicode"
	"unicode/utf8"

	"github.com/tlsrpt/tlsrpt/internal/golden"
)

// hostile are values an attacker can put in a report, a header, a DNS
// answer or a request, each named for the attack.
var hostile = []struct{ name, in string }{
	{"plain", "Google Inc."},
	{"empty", ""},
	{"spaces-around", "  padded\t "},
	{"crlf-header-injection", "Google\r\nTLS-Report-Has-Failures: 0\r\nX-Evil: 1"},
	{"lf-boundary", "x\n--BOUNDARY\nContent-Type: text/html\n\n<script>alert(1)</script>"},
	{"starts-with-boundary", "--BOUNDARY--"},
	{"terminal-clear", "\x1b[2J\x1b[Hok"},
	{"terminal-title", "\x1b]0;pwned\x07name"},
	{"bel", "ding\a"},
	{"backspace-overwrite", "evil\b\b\b\bgood"},
	{"cr-overwrite", "192.0.2.1  no\rtrusted yes"},
	{"tab-column-shift", "a\tyes\tyes"},
	{"forged-row", "org\n203.0.113.9  1  1  Google  starttls  2024  2024  yes  -  trusted"},
	{"c1-csi", "a\u009b31mred"},
	{"nel", "line\u0085next"},
	{"del", "a\x7fb"},
	{"nul", "a\x00b"},
	{"bidi-override", "abc\u202edcba"},
	{"zero-width", "goo\u200bgle.com"},
	{"line-separator", "a\u2028b\u2029c"},
	{"bom", "\ufeffbom"},
	{"invalid-utf8", "bad\xff\xfebytes"},
	{"replacement-char", "r\ufffdr"},
	{"utf8-name", "Почта Mail.ru — Ünïcödé 日本"},
	{"emoji", "mail \U0001F4E7 ok"},
	{"backslash-escape-lookalike", `\x1b[2J`},
	{"long-ascii", strings.Repeat("A", 1000)},
	{"long-multibyte", strings.Repeat("é", 300)},
	{"long-controls", strings.Repeat("\x1b", 300)},
}

// functions are the outputs under test, with their caps.
var functions = []struct {
	name  string
	f     func(string) string
	max   int
	ascii bool
}{
	{"HeaderValue", HeaderValue, MaxHeader, true},
	{"SummaryLine", SummaryLine, MaxSummary + 1, false}, // +1: the space before a leading "--"
	{"TerminalCell", TerminalCell, MaxTerminal, false},
	{"TerminalLine", TerminalLine, MaxTerminalLine, false},
	{"LogAttr", LogAttr, MaxLog, false},
	{"Error", func(s string) string { return Error(errors.New(s)) }, MaxLog, false},
}

// TestGolden writes every hostile value through every function and
// compares with testdata/NAME.golden (rewrite with -update).
func TestGolden(t *testing.T) {
	for _, fn := range functions {
		t.Run(fn.name, func(t *testing.T) {
			var b strings.Builder
			for _, h := range hostile {
				fmt.Fprintf(&b, "%s: %s\n", h.name, fn.f(h.in))
			}
			golden.Compare(t, filepath.Join("testdata", fn.name+".golden"), []byte(b.String()))
		})
	}
}

// TestProperties checks what each output guarantees, on every hostile value.
func TestProperties(t *testing.T) {
	for _, fn := range functions {
		for _, h := range hostile {
			checkOutput(t, fn.name, h.in, fn.f(h.in), fn.max, fn.ascii)
		}
	}
}

func checkOutput(t *testing.T, name, in, out string, max int, ascii bool) {
	t.Helper()
	if len(out) > max {
		t.Errorf("%s(%q): %d bytes, over the cap %d", name, in, len(out), max)
	}
	if !utf8.ValidString(out) {
		t.Errorf("%s(%q) = %q: invalid UTF-8", name, in, out)
	}
	for _, r := range out {
		if r < 0x20 || r == 0x7f || (r >= 0x80 && r < 0xa0) || unicode.Is(unicode.Cf, r) ||
			unicode.Is(unicode.Zl, r) || unicode.Is(unicode.Zp, r) {
			t.Errorf("%s(%q) = %q: holds %U", name, in, out, r)
		}
		if ascii && r >= 0x80 {
			t.Errorf("%s(%q) = %q: non-ASCII %U in a header value", name, in, out, r)
		}
	}
	if name == "SummaryLine" && strings.HasPrefix(out, "--") {
		t.Errorf("SummaryLine(%q) = %q: could be read as a MIME boundary", in, out)
	}
}

// TestKeepsWhatIsSafe checks that safe text comes out unchanged: the
// functions must not make honest names unreadable.
func TestKeepsWhatIsSafe(t *testing.T) {
	for _, s := range []string{"Google Inc.", "smtp-tls-reporting@google.com", "2024-01-01T00:00:00Z_example.com", "Почта Mail.ru"} {
		if got := TerminalCell(s); got != s {
			t.Errorf("TerminalCell(%q) = %q", s, got)
		}
		if got := SummaryLine(s); got != s {
			t.Errorf("SummaryLine(%q) = %q", s, got)
		}
	}
	if got := HeaderValue("bad JSON in report.json"); got != "bad JSON in report.json" {
		t.Errorf("HeaderValue changed safe ASCII: %q", got)
	}
}

func TestError(t *testing.T) {
	if got := Error(nil); got != "" {
		t.Errorf("Error(nil) = %q", got)
	}
	if got := Error(errors.New("bad\nline")); got != `bad\nline` {
		t.Errorf("Error = %q", got)
	}
}

// TestErrorKeepsCause makes an error long with the input it quotes, as a
// 20 KB report-id made the store's: the line is cut in the middle, so
// that it keeps what was done and the cause at its end (the SQLSTATE),
// and never shows the whole input.
func TestErrorKeepsCause(t *testing.T) {
	hostile := strings.Repeat("\x1b[2J<", 4000)
	for _, in := range []string{hostile, strings.Repeat("a", 20000), strings.Repeat("\u202e\x00", 3000)} {
		err := fmt.Errorf("storing report %q: store: adding report %q from \"Org\": %w", in, in,
			errors.New("SQLSTATE 54000: index row requires 20032 bytes, maximum size is 8191"))
		got := Error(err)
		checkOutput(t, "Error", err.Error(), got, MaxLog, false)
		if !strings.HasPrefix(got, "storing report ") || !strings.HasSuffix(got, `from "Org": SQLSTATE 54000: index row requires 20032 bytes, maximum size is 8191`) ||
			!strings.Contains(got, "...") {
			t.Errorf("Error cut the wrong part (%d bytes): %q", len(got), got)
		}
	}
	short := errors.New("store: adding report \"x\" from \"y\": SQLSTATE 23505: duplicate key...")
	if got := Error(short); got != short.Error() {
		t.Errorf("Error changed a short text: %q", got)
	}
	// Just over the cap: the head and the tail never show a byte twice.
	long := strings.Repeat("h", 200) + strings.Repeat("\x01", 80) + strings.Repeat("t", 200)
	if got := Error(errors.New(long)); strings.Count(got, "h")+strings.Count(got, "t") > 400 || len(got) > MaxLog {
		t.Errorf("head and tail overlap: %q", got)
	}
}

// FuzzNeutral checks the guarantees of every function on any input.
func FuzzNeutral(f *testing.F) {
	for _, h := range hostile {
		f.Add(h.in)
	}
	f.Fuzz(func(t *testing.T, in string) {
		for _, fn := range functions {
			checkOutput(t, fn.name, in, fn.f(in), fn.max, fn.ascii)
		}
	})
}

func Example() {
	name := "Google\r\n--BOUNDARY\x1b[2J"
	fmt.Println(HeaderValue(name))
	fmt.Println(TerminalCell(name))
	fmt.Println(SummaryLine("--BOUNDARY--"))
	// Output:
	// Google\r\n--BOUNDARY\x1b[2J
	// Google\r\n--BOUNDARY\x1b[2J
	//  --BOUNDARY--
}

func TestShellWord(t *testing.T) {
	for _, c := range []struct{ in, want string }{
		{"/var/lib/tlsrpt/spool", "/var/lib/tlsrpt/spool"},
		{"", "''"},
		{"a b", "'a b'"},
		{"it's", `'it'\''s'`},
		{"$(rm -rf /)", "'$(rm -rf /)'"},
		{"x;y`z`", "'x;y`z`'"},
	} {
		if got := ShellWord(c.in); got != c.want {
			t.Errorf("ShellWord(%q) = %s, want %s", c.in, got, c.want)
		}
	}
}

package config

import (
	"bytes"
	"errors"
	"reflect"
	"strings"
	"testing"
)

func TestParse(t *testing.T) {
	in := `# tlsrpt.conf
db = /var/lib/tlsrpt/tlsrpt.db
  trust-authserv-id = mx.example.org
trust-authserv-id=mx2.example.org

[filter]
# the spool
spool = "/var/lib/tlsrpt/spool"
no-dkim
syslog = ""

[ allowlist   check ]
resolver = 127.0.0.1:53
`
	f, err := Parse("t.conf", strings.NewReader(in))
	if err != nil {
		t.Fatal(err)
	}
	want := []Setting{
		{"", "db", "/var/lib/tlsrpt/tlsrpt.db", false, 2},
		{"", "trust-authserv-id", "mx.example.org", false, 3},
		{"", "trust-authserv-id", "mx2.example.org", false, 4},
		{"filter", "spool", "/var/lib/tlsrpt/spool", false, 8},
		{"filter", "no-dkim", "", true, 9},
		{"filter", "syslog", "", false, 10},
		{"allowlist check", "resolver", "127.0.0.1:53", false, 13},
	}
	if !reflect.DeepEqual(f.Settings, want) {
		t.Errorf("got %+v\nwant %+v", f.Settings, want)
	}
}

// TestParseRefuses feeds lines that are not settings: each is refused
// naming the file and the line.
func TestParseRefuses(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"db /x", `t.conf:1: "db /x" is not a setting`},
		{"\n--db = /x", `t.conf:2: "--db = /x" is not a setting`},
		{"DB = /x", `t.conf:1: "DB = /x" is not a setting`},
		{"= /x", `t.conf:1: "= /x" is not a setting`},
		{"[filter", `t.conf:1: section "[filter" lacks its closing ]`},
		{"[]", `t.conf:1: empty section name`},
		{"[Filter]", `t.conf:1: section "[Filter]" is not a command name`},
		{`db = "/x`, `t.conf:1: value of db has a stray double quote`},
		{"db = \xff", `t.conf:1: not UTF-8 text`},
		{strings.Repeat("#", MaxSize+1), `t.conf: larger than 1048576 bytes`},
	} {
		_, err := Parse("t.conf", strings.NewReader(tc.in))
		var ce *Error
		if !errors.As(err, &ce) || !strings.HasPrefix(err.Error(), tc.want) {
			t.Errorf("Parse(%.20q) = %v, want %s...", tc.in, err, tc.want)
		}
	}
}

func TestFormatRoundTrip(t *testing.T) {
	f := &File{Path: "x", Settings: []Setting{
		{Key: "a", Value: " spaced "}, {Key: "b", Value: ""}, {Key: "c", Value: `q"uote`},
		{Section: "allowlist check", Key: "d", Bare: true},
	}}
	var buf bytes.Buffer
	if err := f.Format(&buf); err != nil {
		t.Fatal(err)
	}
	g, err := Parse("x", &buf)
	if err != nil {
		t.Fatal(err)
	}
	for i := range g.Settings {
		g.Settings[i].Line = 0
	}
	if !reflect.DeepEqual(f.Settings, g.Settings) {
		t.Errorf("round trip: got %+v, want %+v", g.Settings, f.Settings)
	}
}

// FuzzParse: Parse never panics, refuses with a file:line error, and what
// it accepts formats back to the same settings.
func FuzzParse(f *testing.F) {
	for _, s := range []string{"db = /x\n[filter]\nno-dkim\n", "[allowlist check]\nresolver=\"1.2.3.4:53\"\n", "# c\n\n[a b]\nk = v\r\n"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in string) {
		p, err := Parse("f", strings.NewReader(in))
		if err != nil {
			if !strings.HasPrefix(err.Error(), "f:") {
				t.Fatalf("error does not name the file: %v", err)
			}
			return
		}
		var buf bytes.Buffer
		if err := p.Format(&buf); err != nil {
			t.Fatal(err)
		}
		q, err := Parse("f", &buf)
		if err != nil {
			t.Fatalf("formatted %q does not parse: %v", buf.String(), err)
		}
		if len(p.Settings) != len(q.Settings) {
			t.Fatalf("round trip lost settings: %q", buf.String())
		}
		for i := range p.Settings {
			a, b := p.Settings[i], q.Settings[i]
			a.Line, b.Line = 0, 0
			if a != b {
				t.Fatalf("round trip: %+v became %+v", a, b)
			}
		}
	})
}

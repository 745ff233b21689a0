// Package config reads tlsrpt's configuration file, /etc/tlsrpt/tlsrpt.conf:
// lines "key = value" whose keys are the long names of the command's flags,
// "[command]" sections ("[filter]", "[allowlist check]") for what one
// command alone takes, and "#" comment lines. Settings above the first
// section are global: they apply to every command that has the flag.
//
// The package parses only; which keys exist, what values they take and
// which setting wins over which is the command layer's business
// (internal/cmd/config), which knows the flags.
package config

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"strings"
	"unicode/utf8"
)

// MaxSize bounds what Parse reads: a configuration file is a few
// kilobytes; anything past a mebibyte is not one.
const MaxSize = 1 << 20

// Setting is one "key = value" line.
type Setting struct {
	// Section is the command the setting is for, its words below tlsrpt
	// separated by one space ("filter", "allowlist check"); "" above
	// every section (global).
	Section string
	Key     string
	Value   string
	// Bare is a key given without "= value": a switch such as no-dkim,
	// or a flag's value when given without one.
	Bare bool
	Line int
}

// File is a parsed configuration file, its settings in file order.
type File struct {
	Path     string
	Settings []Setting
	// Sections are the file's section headers and their lines, those
	// without settings too.
	Sections []Setting
}

// Error is a refused line: it names the file and the line.
type Error struct {
	Path string
	Line int // 0 when the error is not one line's
	Msg  string
}

func (e *Error) Error() string {
	if e.Line == 0 {
		return e.Path + ": " + e.Msg
	}
	return fmt.Sprintf("%s:%d: %s", e.Path, e.Line, e.Msg)
}

// Errorf returns an Error naming the setting's line of the file.
func (f *File) Errorf(s Setting, format string, args ...any) error {
	return &Error{Path: f.Path, Line: s.Line, Msg: fmt.Sprintf(format, args...)}
}

// Parse reads a configuration file; path names it in errors. Blank lines
// and lines starting with "#" are skipped; a value may be quoted with
// double quotes (to keep spaces at its ends, or to be empty).
func Parse(path string, r io.Reader) (*File, error) {
	data, err := io.ReadAll(io.LimitReader(r, MaxSize+1))
	if err != nil {
		return nil, &Error{Path: path, Msg: fmt.Sprintf("reading it: %v", err)}
	}
	if len(data) > MaxSize {
		return nil, &Error{Path: path, Msg: fmt.Sprintf("larger than %d bytes: not a configuration file", MaxSize)}
	}
	f := &File{Path: path}
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(nil, MaxSize+1)
	section := ""
	for n := 1; sc.Scan(); n++ {
		s, sec, err := parseLine(sc.Text(), section)
		if err != nil {
			return nil, &Error{Path: path, Line: n, Msg: err.Error()}
		}
		if sec != section {
			f.Sections = append(f.Sections, Setting{Section: sec, Line: n})
		}
		section = sec
		if s != nil {
			s.Line = n
			f.Settings = append(f.Settings, *s)
		}
	}
	if err := sc.Err(); err != nil {
		return nil, &Error{Path: path, Msg: err.Error()}
	}
	return f, nil
}

// parseLine parses one line in the given section: a setting, a new
// section, or nothing.
func parseLine(line, section string) (*Setting, string, error) {
	if !utf8.ValidString(line) {
		return nil, "", errors.New("not UTF-8 text")
	}
	line = strings.TrimSpace(strings.TrimSuffix(line, "\r"))
	switch {
	case line == "" || line[0] == '#':
		return nil, section, nil
	case line[0] == '[':
		sec, err := parseSection(line)
		return nil, sec, err
	}
	key, value, hasValue := strings.Cut(line, "=")
	key = strings.TrimSpace(key)
	if !isName(key) {
		return nil, "", fmt.Errorf("%q is not a setting: want key = value, the key a flag's long name (as in db = /var/lib/tlsrpt/tlsrpt.db)", clip(line))
	}
	value = strings.TrimSpace(value)
	if len(value) >= 2 && value[0] == '"' && value[len(value)-1] == '"' {
		value = value[1 : len(value)-1]
	} else if strings.ContainsRune(value, '"') {
		return nil, "", fmt.Errorf("value of %s has a stray double quote: quote the whole value or none of it", key)
	}
	return &Setting{Section: section, Key: key, Value: value, Bare: !hasValue}, section, nil
}

// parseSection parses "[word word...]".
func parseSection(line string) (string, error) {
	if !strings.HasSuffix(line, "]") {
		return "", fmt.Errorf("section %q lacks its closing ]", clip(line))
	}
	words := strings.Fields(line[1 : len(line)-1])
	if len(words) == 0 {
		return "", errors.New("empty section name: want a command, as in [filter]")
	}
	for _, w := range words {
		if !isName(w) {
			return "", fmt.Errorf("section %q is not a command name: want one, as in [filter] or [allowlist check]", clip(line))
		}
	}
	return strings.Join(words, " "), nil
}

// isName reports whether s is a flag or command name: lower-case letters,
// digits and inner hyphens.
func isName(s string) bool {
	if s == "" || s[0] == '-' || s[len(s)-1] == '-' {
		return false
	}
	for _, r := range s {
		if !(r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r == '-') {
			return false
		}
	}
	return true
}

// clip shortens text quoted in a message.
func clip(s string) string {
	if len(s) > 60 {
		return s[:57] + "..."
	}
	return s
}

// Format writes the settings back as a configuration file: Parse of its
// output gives the same settings (but for the line numbers).
func (f *File) Format(w io.Writer) error {
	section := ""
	bw := bufio.NewWriter(w)
	for _, s := range f.Settings {
		if s.Section != section {
			fmt.Fprintf(bw, "\n[%s]\n", s.Section)
			section = s.Section
		}
		if s.Bare {
			fmt.Fprintln(bw, s.Key)
			continue
		}
		fmt.Fprintf(bw, "%s = %s\n", s.Key, Quote(s.Value))
	}
	return bw.Flush()
}

// Quote returns a value as written in the file: quoted when it is empty
// or has spaces at its ends or a double quote, so that Parse reads it back the same.
func Quote(v string) string {
	if v == "" || strings.TrimSpace(v) != v || strings.ContainsRune(v, '"') {
		return `"` + v + `"`
	}
	return v
}

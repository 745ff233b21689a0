package redeem

import (
	"errors"
	"fmt"
	"net/netip"
	"strings"
)

// maxBannedAnswer bounds what parseBannedAll reads (a million bans of
// IPv6 addresses with quotes and commas is about 50 MB).
const maxBannedAnswer = 64 << 20

// parseBannedAll parses fail2ban-client's answer to "banned" without an
// address: a Python list of one dict per jail, each mapping the jail's
// name to the list of its banned addresses, as Python's repr writes it:
//
//	[{'sshd': ['192.0.2.1', '2001:db8::1']}, {'postfix': []}]
//
// Strings are quoted with ' or " and may hold backslash escapes. Entries
// that are not addresses are skipped; anything that is not this shape is
// an error.
func parseBannedAll(s string) (map[string]map[netip.Addr]bool, error) {
	if len(s) > maxBannedAnswer {
		return nil, fmt.Errorf("answer of %d bytes is too long", len(s))
	}
	p := &pyParser{s: strings.TrimSpace(s)}
	out := map[string]map[netip.Addr]bool{}
	if err := p.expect('['); err != nil {
		return nil, err
	}
	for first := true; ; first = false {
		if p.peek() == ']' {
			p.pos++
			break
		}
		if !first {
			if err := p.expect(','); err != nil {
				return nil, err
			}
		}
		if err := p.jailDict(out); err != nil {
			return nil, err
		}
	}
	if p.skipSpace(); p.pos != len(p.s) {
		return nil, fmt.Errorf("unexpected %q after the list", p.rest())
	}
	return out, nil
}

type pyParser struct {
	s   string
	pos int
}

func (p *pyParser) skipSpace() {
	for p.pos < len(p.s) && strings.IndexByte(" \t\r\n", p.s[p.pos]) >= 0 {
		p.pos++
	}
}

func (p *pyParser) peek() byte {
	p.skipSpace()
	if p.pos >= len(p.s) {
		return 0
	}
	return p.s[p.pos]
}

func (p *pyParser) rest() string {
	r := p.s[p.pos:]
	if len(r) > 20 {
		r = r[:20] + "..."
	}
	return r
}

func (p *pyParser) expect(c byte) error {
	if p.peek() != c {
		if p.pos >= len(p.s) {
			return fmt.Errorf("answer ends where %q was expected", c)
		}
		return fmt.Errorf("expected %q at %q", c, p.rest())
	}
	p.pos++
	return nil
}

// jailDict reads {'jail': [...], ...} into out.
func (p *pyParser) jailDict(out map[string]map[netip.Addr]bool) error {
	if err := p.expect('{'); err != nil {
		return err
	}
	for first := true; ; first = false {
		if p.peek() == '}' {
			p.pos++
			return nil
		}
		if !first {
			if err := p.expect(','); err != nil {
				return err
			}
		}
		jail, err := p.str()
		if err != nil {
			return err
		}
		if err := p.expect(':'); err != nil {
			return err
		}
		addrs, err := p.strList()
		if err != nil {
			return err
		}
		set := out[jail]
		if set == nil {
			set = map[netip.Addr]bool{}
			out[jail] = set
		}
		for _, a := range addrs {
			if ip, err := netip.ParseAddr(a); err == nil && ip.Zone() == "" {
				set[ip.Unmap()] = true
			}
		}
	}
}

func (p *pyParser) strList() ([]string, error) {
	if err := p.expect('['); err != nil {
		return nil, err
	}
	var out []string
	for first := true; ; first = false {
		if p.peek() == ']' {
			p.pos++
			return out, nil
		}
		if !first {
			if err := p.expect(','); err != nil {
				return nil, err
			}
		}
		s, err := p.str()
		if err != nil {
			return nil, err
		}
		out = append(out, s)
	}
}

var errUnterminated = errors.New("unterminated string")

// str reads a Python string literal quoted with ' or ".
func (p *pyParser) str() (string, error) {
	q := p.peek()
	if q != '\'' && q != '"' {
		return "", fmt.Errorf("expected a string at %q", p.rest())
	}
	p.pos++
	var b strings.Builder
	for p.pos < len(p.s) {
		c := p.s[p.pos]
		p.pos++
		switch {
		case c == q:
			return b.String(), nil
		case c == '\\' && p.pos < len(p.s):
			b.WriteByte(p.s[p.pos])
			p.pos++
		case c == '\n':
			return "", errUnterminated
		default:
			b.WriteByte(c)
		}
	}
	return "", errUnterminated
}

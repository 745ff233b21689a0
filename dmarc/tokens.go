package dmarc

import (
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/emersion/go-message/charset"

	"github.com/tlsrpt/tlsrpt/internal/pkgerr"
)

// tokenReader sits between encoding/xml's tokenizer and the decoder that
// fills the wire types, so that every token, also those read inside
// DecodeElement and Skip, passes the bounds: depth, elements in all and
// per child of feedback, DOCTYPE refused. It also lower-cases element
// names (a reporter writing <Record> is still read) and keeps the element
// path for errors.
type tokenReader struct {
	d      *xml.Decoder
	b      *budget
	stack  []string // local names from the root
	child  int      // elements in the current child of the root
	record int      // records started, for paths
	err    error    // sticky
}

func newTokenReader(r io.Reader, b *budget) *tokenReader {
	d := xml.NewDecoder(r)
	d.Strict = true // unknown entities are errors, never text
	d.CharsetReader = charset.Reader
	return &tokenReader{d: d, b: b}
}

// Token returns the next token or an error naming the element path.
func (t *tokenReader) Token() (xml.Token, error) {
	if t.err != nil {
		return nil, t.err
	}
	// RawToken: the decoder above checks nesting and translates
	// namespaces; doing it twice cost a third of the time.
	tok, err := t.d.RawToken()
	if err == nil {
		tok, err = t.check(tok)
	}
	if err != nil {
		if err != io.EOF || len(t.stack) > 0 {
			err = t.pathError(err)
		}
		t.err = err
		return nil, err
	}
	return tok, nil
}

// check applies the bounds to one token.
func (t *tokenReader) check(tok xml.Token) (xml.Token, error) {
	switch v := tok.(type) {
	case xml.StartElement:
		v.Name.Local = lowerName(v.Name.Local)
		t.stack = append(t.stack, v.Name.Local)
		if len(t.stack) == 2 {
			t.child = 0
			if v.Name.Local == "record" {
				t.record++
			}
		}
		t.child++
		t.b.elemLeft--
		switch {
		case len(t.stack) > t.b.lim.MaxDepth:
			return nil, tooLarge("elements nested deeper than %d", t.b.lim.MaxDepth)
		case t.b.elemLeft < 0:
			return nil, tooLarge("more than %d elements", t.b.lim.MaxElements)
		case t.child > t.b.lim.MaxChildElems:
			return nil, tooLarge("more than %d elements in one %s", t.b.lim.MaxChildElems, t.stack[1])
		}
		return v, nil
	case xml.EndElement:
		v.Name.Local = lowerName(v.Name.Local)
		if len(t.stack) == 0 { // RawToken does not check nesting
			return nil, &xml.SyntaxError{Msg: "unexpected end element </" + v.Name.Local + ">"}
		}
		t.stack = t.stack[:len(t.stack)-1]
		return v, nil
	case xml.Directive:
		root, _ := rootName(v)
		return nil, dtdError{root: root}
	}
	return tok, nil
}

// lowerName lower-cases an element name, without allocating when it is
// already lower case.
func lowerName(s string) string {
	for i := 0; i < len(s); i++ {
		if 'A' <= s[i] && s[i] <= 'Z' {
			return strings.ToLower(s)
		}
	}
	return s
}

// path names the current element: "feedback/record[3]/row/count".
func (t *tokenReader) path() string {
	if len(t.stack) == 0 {
		return "(before the root element)"
	}
	parts := make([]string, len(t.stack))
	copy(parts, t.stack)
	if len(parts) > 1 && parts[1] == "record" {
		parts[1] = fmt.Sprintf("record[%d]", t.record)
	}
	return strings.Join(parts, "/")
}

// pathError names the element where err happened.
func (t *tokenReader) pathError(err error) error {
	var pe *PathError
	var dtd dtdError
	if errors.As(err, &pe) || errors.As(err, &dtd) {
		return err
	}
	if err == io.EOF {
		err = io.ErrUnexpectedEOF
	}
	var se *xml.SyntaxError
	if errors.As(err, &se) {
		// The decoder above reports line 0: it reads tokens, not text.
		line, _ := t.d.InputPos()
		err = pkgerr.Kind(errSyntax, fmt.Errorf("XML syntax error on line %d: %s", line, oneLine(se.Msg)))
	}
	return &PathError{Path: t.path(), Err: err}
}

// errSyntax marks XML syntax errors, so that those before the root
// element can tell "not XML" (not a report) from a broken report.
var errSyntax = errors.New("xml syntax")

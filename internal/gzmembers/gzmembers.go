// Package gzmembers reads gzip data of one or more members as reporters
// send it, for the parsers of TLS reports (report) and DMARC reports
// (dmarc): one reader, so that a quirk (members one after the other,
// white space or NUL bytes between or after them, as in a binary part
// padded before its MIME boundary) is read the same way by both.
package gzmembers

import (
	"bufio"
	"compress/gzip"
	"fmt"
	"io"
)

// Reader reads the decompressed content of every member in turn.
type Reader struct {
	br    *bufio.Reader
	zr    *gzip.Reader
	total int64 // bytes decompressed so far
	eof   bool
	err   error // the first error, never io.EOF
}

// NewReader reads the header of the first member from r (a
// *bufio.Reader is read as it is); a header that is not gzip's fails with
// gzip's error.
func NewReader(r io.Reader) (*Reader, error) {
	br, ok := r.(*bufio.Reader)
	if !ok {
		br = bufio.NewReader(r)
	}
	zr, err := gzip.NewReader(br)
	if err != nil {
		return nil, err
	}
	zr.Multistream(false)
	return &Reader{br: br, zr: zr}, nil
}

// Read reads from the current member and moves on to the next one at its
// end. Its errors are gzip's or the input's as they came; a member after
// the first that does not start as gzip fails with "gzip member after N
// bytes" and gzip's error.
func (g *Reader) Read(p []byte) (int, error) {
	for {
		switch {
		case g.err != nil:
			return 0, g.err
		case g.eof:
			return 0, io.EOF
		}
		n, err := g.zr.Read(p)
		g.total += int64(n)
		switch {
		case err == io.EOF:
			g.next()
		case err != nil:
			g.err = err
		}
		if n > 0 || len(p) == 0 {
			return n, nil
		}
	}
}

// next passes over padding and starts the member after the one just
// ended, or ends the stream when only padding is left.
func (g *Reader) next() {
	for {
		c, err := g.br.ReadByte()
		if err == io.EOF {
			g.eof = true
			return
		}
		if err != nil {
			g.err = err
			return
		}
		if c != ' ' && c != '\t' && c != '\r' && c != '\n' && c != 0 {
			_ = g.br.UnreadByte()
			break
		}
	}
	if err := g.zr.Reset(g.br); err != nil {
		g.err = fmt.Errorf("gzip member after %d bytes: %w", g.total, err)
		return
	}
	g.zr.Multistream(false)
}

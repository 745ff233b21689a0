package dmarc

import (
	"bytes"
	"io"

	"github.com/tlsrpt/tlsrpt/internal/reporttest"
)

// The helpers here generate reports for the tests and the benchmark.

// head and tail enclose the records of a generated report.
var head = reporttest.DMARCHead("gen-1")

const tail = reporttest.DMARCTail

// reportXML is a report of n generated records (reporttest.DMARCRecord).
func reportXML(n int) []byte { return reporttest.DMARC("gen-1", n) }

// withBody is a report whose records are body.
func withBody(body string) string { return head + body + tail }

// genReader produces head, then rec repeated until size bytes, then
// tail, without ever holding more than one record: a report too large to
// keep in a test's memory.
type genReader struct {
	rec  []byte
	size int64
	sent int64
	buf  bytes.Buffer
	done bool
}

func newGenReader(rec string, size int64) *genReader {
	g := &genReader{rec: []byte(rec), size: size}
	g.buf.WriteString(head)
	return g
}

func (g *genReader) Read(p []byte) (int, error) {
	for g.buf.Len() < len(p) && !g.done {
		if g.sent+int64(g.buf.Len()) >= g.size {
			g.buf.WriteString(tail)
			g.done = true
			break
		}
		g.buf.Write(g.rec)
	}
	n, _ := g.buf.Read(p)
	g.sent += int64(n)
	if n == 0 && g.done {
		return 0, io.EOF
	}
	return n, nil
}

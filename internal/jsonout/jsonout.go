// Package jsonout writes the indented JSON of tlsrpt's --json outputs
// (diagnose, stats) and of the dashboard's API: encoding/json with a
// two-space indent, buffered, so that a document of many rows reaches
// the writer in a few large writes.
package jsonout

import (
	"bufio"
	"encoding/json"
	"io"
)

// Write writes v to w as indented JSON, ending with a line end.
func Write(w io.Writer, v any) error {
	bw := bufio.NewWriter(w)
	enc := json.NewEncoder(bw)
	enc.SetIndent("", "  ")
	if err := enc.Encode(v); err != nil {
		return err
	}
	return bw.Flush()
}

package jsonout

import (
	"strings"
	"testing"
)

// TestWrite: encoding/json's bytes with a two-space indent and a line
// end, HTML characters escaped as it escapes them, and its error for a
// value it cannot encode.
func TestWrite(t *testing.T) {
	const want = "[\n  {\n    \"a\": 1,\n    \"b\": [\n      \"\\u003cx\\u003e\"\n    ]\n  },\n  {}\n]\n"
	var got strings.Builder
	if err := Write(&got, []map[string]any{{"a": 1, "b": []string{"<x>"}}, {}}); err != nil || got.String() != want {
		t.Errorf("Write = %q, %v; want %q", got.String(), err, want)
	}
	if err := Write(&got, func() {}); err == nil {
		t.Error("a func was encoded")
	}
}

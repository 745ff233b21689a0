// Package storetest gives tests a real SQLite store in a temporary
// directory, closed when the test ends.
package storetest

import (
	"path/filepath"
	"testing"

	"github.com/tlsrpt/tlsrpt/store"
)

// Open opens a new store in a file of tb's temporary directory and closes
// it when tb ends; it fails tb when the store cannot be opened.
func Open(tb testing.TB) *store.Store {
	tb.Helper()
	st, err := store.Open(filepath.Join(tb.TempDir(), "tlsrpt.db"))
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { st.Close() })
	return st
}

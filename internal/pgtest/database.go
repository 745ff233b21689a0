package pgtest

import "testing"

// Database starts a server for t, as Start does, and returns the URL of
// a new database on it, for a test that needs nothing else of the server.
func Database(t testing.TB) string {
	t.Helper()
	return Start(t).NewDatabase()
}

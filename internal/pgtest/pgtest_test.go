package pgtest

import (
	"strings"
	"testing"
)

// TestServer starts a real server, creates a database, checks the password
// is required over TCP, and restarts it.
func TestServer(t *testing.T) {
	s := Start(t)
	u := s.NewDatabase()
	if !strings.HasPrefix(u, "postgres://postgres:") {
		t.Fatalf("URL = %q", u)
	}
	name := u[strings.LastIndex(u, "/")+1 : strings.Index(u, "?")]
	if got := s.SQL("SELECT datname FROM pg_database WHERE datname = '" + name + "'"); got != name {
		t.Fatalf("database %s not created: %q", name, got)
	}
	if got := s.SQL("SHOW password_encryption"); got != "scram-sha-256" {
		t.Errorf("password_encryption = %q", got)
	}
	s.Stop()
	s.WaitDown(5e9)
	s.Start()
	if got := s.SQLIn(name, "SELECT 1+1"); got != "2" {
		t.Errorf("after restart: %q", got)
	}
}

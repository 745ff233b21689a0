// Package pgtest starts a real PostgreSQL server for tests: initdb into a
// fresh folder, pg_ctl start on a free loopback port, and a stop when the
// test ends. It uses Debian's postgresql package (/usr/lib/postgresql/N/bin,
// installed by scripts/test-deps) or the folder named by $TLSRPT_PG_BINDIR.
//
// PostgreSQL refuses to run as root; when the tests run as root, the server
// runs as the postgres user (runuser -u postgres), in a folder that user
// owns.
package pgtest

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net"
	"net/url"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/tlsrpt/tlsrpt/internal/testenv"
)

// Superuser and Password are the server's superuser login; the password is
// required over TCP (scram-sha-256), so a wrong one is refused as on a real
// installation.
const (
	Superuser = "postgres"
	Password  = "tlsrpt-test-password"
)

// Server is a running PostgreSQL server owned by one test.
type Server struct {
	Port   int
	Dir    string // data and socket folder
	bindir string
	owner  *user.User // nil: the current user runs the server
	t      testing.TB
}

// Start runs initdb and starts a server, stopped and removed when the test
// ends. It skips the test when PostgreSQL is not installed (failing it
// under $TLSRPT_TEST_REQUIRE_ALL=1, as testenv does) and fails it when the
// server does not start.
func Start(t testing.TB) *Server {
	t.Helper()
	s := &Server{bindir: testenv.MustHavePostgres(t), t: t}
	if os.Geteuid() == 0 {
		var err error
		if s.owner, err = user.Lookup("postgres"); err != nil {
			testenv.Missing(t, "running PostgreSQL as root needs the postgres user (Debian's postgresql package makes it): %v", err)
		}
	}
	s.Dir = s.makeDir()
	t.Cleanup(func() { os.RemoveAll(s.Dir) })
	s.initdb()
	s.Port = freePort(t)
	s.Start()
	t.Cleanup(s.stopQuietly)
	return s
}

// BinDir finds the folder with initdb and pg_ctl: $TLSRPT_PG_BINDIR, else
// the newest /usr/lib/postgresql/N/bin.
func BinDir() (string, error) { return testenv.PostgresBinDir() }

// makeDir makes the server's folder, owned by the user that runs it.
func (s *Server) makeDir() string {
	dir, err := os.MkdirTemp("", "tlsrpt-pg-")
	if err != nil {
		s.t.Fatalf("pgtest: %v", err)
	}
	if s.owner != nil {
		uid, _ := strconv.Atoi(s.owner.Uid)
		gid, _ := strconv.Atoi(s.owner.Gid)
		if err := os.Chown(dir, uid, gid); err != nil {
			s.t.Fatalf("pgtest: %v", err)
		}
	}
	return dir
}

// command builds a command of the server's bin folder, run as its owner.
func (s *Server) command(name string, args ...string) *exec.Cmd {
	prog := filepath.Join(s.bindir, name)
	if s.owner != nil {
		return exec.Command("runuser", append([]string{"-u", s.owner.Username, "--", prog}, args...)...)
	}
	return exec.Command(prog, args...)
}

func (s *Server) run(name string, args ...string) {
	s.t.Helper()
	cmd := s.command(name, args...)
	cmd.Dir = s.Dir
	if out, err := cmd.CombinedOutput(); err != nil {
		s.t.Fatalf("pgtest: %s %s: %v\n%s", name, strings.Join(args, " "), err, out)
	}
}

func (s *Server) initdb() {
	pwfile := filepath.Join(s.Dir, "pwfile")
	if err := os.WriteFile(pwfile, []byte(Password+"\n"), 0o644); err != nil {
		s.t.Fatalf("pgtest: %v", err)
	}
	s.run("initdb", "-D", s.data(), "-U", Superuser, "--pwfile", pwfile,
		"--auth-local=trust", "--auth-host=scram-sha-256", "-E", "UTF8", "--locale=C.UTF-8", "--no-instructions")
	os.Remove(pwfile)
}

func (s *Server) data() string { return filepath.Join(s.Dir, "data") }

// Start starts the server (again, after Stop) and waits until it accepts
// connections.
func (s *Server) Start() {
	s.t.Helper()
	opts := fmt.Sprintf("-p %d -k %s -c listen_addresses=127.0.0.1 -c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=200", s.Port, s.Dir)
	s.run("pg_ctl", "-D", s.data(), "-o", opts, "-l", filepath.Join(s.Dir, "log"), "-w", "-t", "60", "start")
}

// Stop stops the server (fast shutdown: open sessions are cut).
func (s *Server) Stop() {
	s.t.Helper()
	s.run("pg_ctl", "-D", s.data(), "-m", "fast", "-w", "-t", "60", "stop")
}

func (s *Server) stopQuietly() {
	cmd := s.command("pg_ctl", "-D", s.data(), "-m", "immediate", "-w", "stop")
	cmd.Dir = s.Dir
	cmd.Run()
}

// Log returns what the server logged, for failure messages.
func (s *Server) Log() string {
	b, _ := os.ReadFile(filepath.Join(s.Dir, "log"))
	return string(b)
}

// URL returns a postgres:// URL for database db over TCP, with the
// superuser's password.
func (s *Server) URL(db string) string {
	u := url.URL{Scheme: "postgres", User: url.UserPassword(Superuser, Password),
		Host: net.JoinHostPort("127.0.0.1", strconv.Itoa(s.Port)), Path: "/" + db,
		RawQuery: "sslmode=disable&connect_timeout=5"}
	return u.String()
}

// NewDatabase creates a database with a fresh name and returns its URL.
func (s *Server) NewDatabase() string {
	s.t.Helper()
	b := make([]byte, 6)
	rand.Read(b)
	name := "t_" + hex.EncodeToString(b)
	s.SQL("CREATE DATABASE " + name)
	return s.URL(name)
}

// SQL runs statements with psql as the superuser over the server's socket,
// in database postgres, and returns the output (unaligned, tuples only).
func (s *Server) SQL(sql string) string {
	s.t.Helper()
	return s.SQLIn("postgres", sql)
}

// SQLIn runs statements with psql in database db.
func (s *Server) SQLIn(db, sql string) string {
	s.t.Helper()
	cmd := s.command("psql", "-X", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1",
		"-h", s.Dir, "-p", strconv.Itoa(s.Port), "-U", Superuser, "-d", db, "-c", sql)
	cmd.Dir = s.Dir
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := cmd.Run(); err != nil {
		s.t.Fatalf("pgtest: psql %q: %v\n%s", sql, err, errb.String())
	}
	return strings.TrimSpace(out.String())
}

// freePort asks the kernel for a free loopback port.
func freePort(t testing.TB) int {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("pgtest: %v", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// WaitDown waits until nothing accepts connections on the server's port.
func (s *Server) WaitDown(d time.Duration) {
	deadline := time.Now().Add(d)
	for time.Now().Before(deadline) {
		c, err := net.DialTimeout("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(s.Port)), 100*time.Millisecond)
		if err != nil {
			return
		}
		c.Close()
		time.Sleep(50 * time.Millisecond)
	}
}

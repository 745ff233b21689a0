package main

import (
	"bufio"
	"net"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"

	"github.com/tlsrpt/tlsrpt/internal/pgtest"
)

// The secrets of a database location never show: not in a
// usage error that echoes a stray argument, not in an error naming the
// database, not in a log line. Each path runs the real binary and its
// output is searched for the secrets.

const (
	userSecret = "Us3rSecretPw"
	sslSecret  = "SslKeyPassphr4se"
)

// noSecret fails the test when the output of a run shows a secret.
func noSecret(t *testing.T, r result, args []string, secrets ...string) {
	t.Helper()
	for _, s := range secrets {
		if strings.Contains(r.stdout+r.stderr, s) {
			t.Errorf("tlsrpt %s shows %q:\nstdout: %.300s\nstderr: %s", strings.Join(args, " "), s, r.stdout, r.stderr)
		}
	}
}

// TestSecretsNotShown runs every command path that prints a location or
// an argument with a location full of secrets: a URL as a stray
// argument, as the command name, as a flag's bad value, as --db of every
// command against a server that is away, and a key=value string.
func TestSecretsNotShown(t *testing.T) {
	dir := t.TempDir()
	away := "postgres://tlsrpt:" + userSecret + "@127.0.0.1:9/tlsrpt?sslmode=disable&sslpassword=" + sslSecret + "&connect_timeout=2"
	awaySSL := "postgres://tlsrpt@127.0.0.1:9/tlsrpt?SSLPassword=" + sslSecret + "&connect_timeout=2"
	kv := "host=127.0.0.1 port=9 user=tlsrpt password=" + userSecret + " sslpassword=" + sslSecret
	eml := filepath.Join("..", "..", "testdata", "corpus", "14-tlsrptdigest-google-failure.eml")
	sqlite := filepath.Join(dir, "t.db")
	tlsrptOK(t, nil, nil, "import", "--db", sqlite, eml)
	for _, tc := range []struct {
		args []string
		code int
		want string // a part of stderr that says what happened
	}{
		{[]string{"migrate-db", away}, 2, `unexpected argument "postgres://tlsrpt:xxxxx@127.0.0.1:9/tlsrpt?sslmode=disable&sslpassword=xxxxx&connect_timeout=2"`},
		{[]string{"review", "--no-bans", awaySSL}, 2, "unexpected argument"},
		{[]string{away, "review"}, 2, "unknown command"},
		{[]string{"review", "--since", away}, 2, "--since"},
		{[]string{"review", "--no-bans", "--db", away}, 1, "unavailable"},
		{[]string{"review", "--no-bans", "--db", awaySSL}, 1, "unavailable"},
		{[]string{"review", "--no-bans", "--db", kv}, 1, "key=value connection string is not taken"},
		{[]string{"stats", "--db", away}, 1, "unavailable"},
		{[]string{"prune", "--older-than", "400d", "--db", away}, 1, "unavailable"},
		{[]string{"import", "--db", away, eml}, 1, "unavailable"},
		{[]string{"migrate-db", "--from", sqlite, "--to", away}, 1, "unavailable"},
		{[]string{"migrate-db", "--from", away, "--to", away}, 2, "want a SQLite file"},
		{[]string{"serve", "--db", away, "--listen", "127.0.0.1:0"}, 1, "unavailable"},
		{[]string{"filter", "--db", away, "--resolver", "127.0.0.1:9", eml}, 0, "kept in the spool"},
		{[]string{"filter", "--db", kv, "--resolver", "127.0.0.1:9", eml}, 0, "key=value"},
		{[]string{"--syslog=" + away, "filter", "--db", awaySSL, "--resolver", "127.0.0.1:9", eml}, 0, "syslog"},
	} {
		r := tlsrpt(t, nil, nil, tc.args...)
		noSecret(t, r, tc.args, userSecret, sslSecret)
		if r.code != tc.code || !strings.Contains(r.stderr, tc.want) {
			t.Errorf("tlsrpt %s: exit %d, want %d with %q:\n%s", strings.Join(tc.args, " "), r.code, tc.code, tc.want, r.stderr)
		}
	}
}

// TestServeListeningRedacted starts serve on a real PostgreSQL whose URL
// carries the password and an sslpassword: the "listening" line, in text
// and in JSON, names the database without either.
func TestServeListeningRedacted(t *testing.T) {
	srv := pgtest.Start(t)
	db := srv.NewDatabase() + "&sslpassword=" + sslSecret
	for _, format := range [][]string{nil, {"--log-json"}} {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		addr := l.Addr().String()
		l.Close()
		args := append([]string{"serve", "--db", db, "--listen", addr}, format...)
		cmd := exec.Command(tlsrptBinary(t), args...)
		cmd.Env = append(cmd.Environ(), "XDG_STATE_HOME="+t.TempDir(), "TLSRPT_DB=")
		stderr, err := cmd.StderrPipe()
		if err != nil {
			t.Fatal(err)
		}
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		sc := bufio.NewScanner(stderr)
		var lines []string
		for sc.Scan() {
			lines = append(lines, sc.Text())
			if strings.Contains(sc.Text(), "listening") {
				cmd.Process.Signal(syscall.SIGTERM)
			}
		}
		err = cmd.Wait()
		out := strings.Join(lines, "\n")
		if err != nil || !strings.Contains(out, "listening") || !strings.Contains(out, "127.0.0.1:"+strconv.Itoa(srv.Port)) {
			t.Errorf("serve %v: %v, want a listening line naming the server:\n%s", format, err, out)
		}
		for _, s := range []string{pgtest.Password, sslSecret} {
			if strings.Contains(out, s) {
				t.Errorf("serve %v shows %q:\n%s", format, s, out)
			}
		}
	}
}

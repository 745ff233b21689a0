package dashboard

import (
	"context"
	"html"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"

	"github.com/tlsrpt/tlsrpt/internal/cmd/cmdtest"
	"github.com/tlsrpt/tlsrpt/metrics"
	"github.com/tlsrpt/tlsrpt/store"
)

// newStore makes a SQLite store at path holding the report of
// cmdtest.Seed as of now, which names a failing address, 198.51.100.7,
// and sets the count of addresses waiting for redeem on host (none when
// host is empty).
func newStore(t *testing.T, path, host string) {
	t.Helper()
	cmdtest.SeedAt(t, path, time.Now())
	if host != "" {
		cmdtest.FillDB(t, path, func(st *store.Store) {
			if err := st.SetSetting(context.Background(), metrics.WaitingKey(host), "3"); err != nil {
				t.Fatal(err)
			}
		})
	}
}

// parse parses dashboard's flags into Options over a factory with the
// real clock for the store at db, without running.
func parse(t *testing.T, db string, args ...string) *Options {
	t.Helper()
	e := cmdtest.New(t)
	e.F.DB, e.F.Now = db, time.Now
	o, err := cmdtest.Parse(e.F, NewCmdDashboard, append(args, "--no-bans")...)
	if err != nil {
		t.Fatalf("dashboard %v: %v", args, err)
	}
	return o
}

// start runs the dashboard with o until the test ends and returns its
// address.
func start(t *testing.T, o *Options) string {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	addr := make(chan string, 1)
	o.Ready = func(a string) { addr <- a }
	done := make(chan error, 1)
	go func() { done <- Run(ctx, o) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("dashboard: %v", err)
		}
	})
	select {
	case a := <-addr:
		return a
	case err := <-done:
		t.Fatalf("dashboard did not start: %v", err)
	}
	return ""
}

// TestHostDefault: without --host, /metrics shows the redeem count kept
// under this host's name (os.Hostname), as redeem writes it.
func TestHostDefault(t *testing.T) {
	host, err := os.Hostname()
	if err != nil {
		t.Fatal(err)
	}
	db := filepath.Join(t.TempDir(), "tlsrpt.db")
	newStore(t, db, host)
	addr := start(t, parse(t, db, "--listen", "127.0.0.1:0"))
	code, body := cmdtest.Get(t, "http://"+addr+"/metrics", "")
	if code != 200 || !regexp.MustCompile(`(?m)^tlsrpt_redeem_waiting_addresses 3$`).MatchString(body) {
		t.Errorf("/metrics: %d, lacks tlsrpt_redeem_waiting_addresses 3:\n%s", code, body)
	}
}

// TestRedeemCommandCarriesOptions: the redeem commands on the page carry
// the dashboard's --db and --allowlist (made absolute), quoted so that sh
// reads back exactly those values, however hostile the file names.
func TestRedeemCommandCarriesOptions(t *testing.T) {
	dir := t.TempDir()
	db := filepath.Join(dir, "my db's $(touch pwned).db")
	newStore(t, db, "")
	allow := filepath.Join(dir, "allow `id`; list.txt")
	if err := os.WriteFile(allow, []byte("example.com ip:192.0.2.0/24\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	o := parse(t, db, "--listen", "127.0.0.1:0")
	o.F.Trust.Allowlists = []string{allow}
	addr := start(t, o)
	code, body := cmdtest.Get(t, "http://"+addr+"/", "")
	m := regexp.MustCompile(`data-copy="([^"]*--ip 198\.51\.100\.7)"`).FindStringSubmatch(body)
	if code != 200 || m == nil {
		t.Fatalf("page: %d, no copy button for 198.51.100.7", code)
	}
	line := html.UnescapeString(m[1])
	work := t.TempDir()
	cmd := exec.Command("sh", "-c", "printf '%s\\0' "+strings.TrimPrefix(line, "tlsrpt "))
	cmd.Dir = work
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("sh -c %q: %v", line, err)
	}
	want := []string{"redeem", "--db", db, "--allowlist", allow, "--ip", "198.51.100.7"}
	if got := strings.Split(strings.TrimSuffix(string(out), "\x00"), "\x00"); !slices.Equal(got, want) {
		t.Errorf("sh reads %q as\n%q\nwant\n%q", line, got, want)
	}
	if entries, _ := os.ReadDir(work); len(entries) != 0 {
		t.Errorf("the command ran something: %v", entries)
	}
}

// TestRedeemArgs: relative paths become absolute; a PostgreSQL password
// never reaches the page, and is left out rather than masked, so the
// copied command logs in with ~/.pgpass or PGPASSWORD, not "xxxxx".
func TestRedeemArgs(t *testing.T) {
	o := parse(t, "postgres://tlsrpt:s3cret@db.example/tlsrpt?sslmode=require", "--listen", "127.0.0.1:0")
	o.F.Trust.Allowlists = []string{"rel/allow.txt"}
	o.F.Backends.Fail2banSocket = "run/f2b.sock"
	args, err := o.redeemArgs()
	if err != nil {
		t.Fatal(err)
	}
	line := strings.Join(args, " ")
	if strings.Contains(line, "s3cret") || !slices.Contains(args, "postgres://tlsrpt@db.example/tlsrpt?sslmode=require") {
		t.Errorf("args %q: the password shows, or the URL without it is not there", line)
	}
	wd, _ := os.Getwd()
	for _, p := range []string{filepath.Join(wd, "rel/allow.txt"), filepath.Join(wd, "run/f2b.sock")} {
		if !slices.Contains(args, p) {
			t.Errorf("args %q lack %s", line, p)
		}
	}
}

// TestRedeemDBWithoutPassword: every form of a PostgreSQL location loses
// its passwords, and nothing else.
func TestRedeemDBWithoutPassword(t *testing.T) {
	for in, want := range map[string]string{
		"postgres://tlsrpt:s3cret@db.example:5432/tlsrpt":                            "postgres://tlsrpt@db.example:5432/tlsrpt",
		"postgres://:s3cret@db.example/tlsrpt":                                       "postgres://db.example/tlsrpt",
		"postgresql://db.example/tlsrpt?Password=s3cret&sslmode=require":             "postgresql://db.example/tlsrpt?sslmode=require",
		"postgres://u@db.example/t?sslmode=verify-full&sslpassword=s3cret&password=": "postgres://u@db.example/t?sslmode=verify-full",
		"host=db.example password='s3 cret' user=tlsrpt":                             "host=db.example user=tlsrpt",
		"password=s3cret host=db.example":                                            "host=db.example",
		"/var/lib/tlsrpt/tlsrpt.db":                                                  "/var/lib/tlsrpt/tlsrpt.db",
	} {
		if got := withoutPassword(in); got != want {
			t.Errorf("withoutPassword(%q) = %q, want %q", in, got, want)
		}
	}
}

// TestHostsThroughTheCommand: the command answers its own names and
// --allow-host names, and refuses a rebound one.
func TestHostsThroughTheCommand(t *testing.T) {
	db := filepath.Join(t.TempDir(), "tlsrpt.db")
	newStore(t, db, "")
	addr := start(t, parse(t, db, "--listen", "127.0.0.1:0", "--allow-host", "dash.example.com", "--allow-host", "mx1.example.net"))
	for host, want := range map[string]int{"": 200, "localhost": 200, "dash.example.com": 200, "MX1.example.net:8443": 200,
		"rebind.attacker.example": 421, "dash.example.com.attacker.example": 421} {
		if code, _ := cmdtest.Get(t, "http://"+addr+"/api/v1/review", host); code != want {
			t.Errorf("Host %q: %d, want %d", host, code, want)
		}
	}
	o, err := cmdtest.Parse(cmdtest.New(t).F, NewCmdDashboard, "--allow-host", "*.example.com", "--listen", "127.0.0.1:0", "--no-bans")
	if err == nil {
		err = Run(context.Background(), o)
	}
	cmdtest.Refused(t, err, "--allow-host")
}

// passwordStore makes a new store and a password file of alice:s3cret,
// and returns their paths.
func passwordStore(t *testing.T) (db, auth string) {
	t.Helper()
	dir := t.TempDir()
	db = filepath.Join(dir, "tlsrpt.db")
	newStore(t, db, "")
	hash, err := bcrypt.GenerateFromPassword([]byte("s3cret"), bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	auth = filepath.Join(dir, "htpasswd")
	if err := os.WriteFile(auth, []byte("alice:"+string(hash)+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	return db, auth
}

// TestAuthInClear: a password file off loopback over plain HTTP is
// refused at start with the reason; --behind-tls-proxy allows it.
func TestAuthInClear(t *testing.T) {
	db, auth := passwordStore(t)
	o := parse(t, db, "--listen", "0.0.0.0:0", "--auth", auth)
	ctx, cancel := context.WithCancel(context.Background())
	o.Ready = func(addr string) {
		t.Errorf("--auth on 0.0.0.0 over HTTP: listening on %s", addr)
		cancel()
	}
	err := Run(ctx, o)
	cancel()
	cmdtest.Refused(t, err, "--behind-tls-proxy")
	addr := start(t, parse(t, db, "--listen", "0.0.0.0:0", "--auth", auth, "--behind-tls-proxy"))
	_, port, _ := strings.Cut(addr, "]:")
	if port == "" {
		_, port, _ = strings.Cut(addr, ":")
	}
	if code, _ := cmdtest.Get(t, "http://127.0.0.1:"+port+"/healthz", ""); code != 401 {
		t.Errorf("behind a TLS proxy, without a password: %d, want 401", code)
	}
}

// TestTrustProxyThroughTheCommand: with --trust-proxy naming the proxy
// (here loopback, where the test's requests come from), client A's wrong
// passwords in X-Forwarded-For use up A's tries only: client B's right
// password gets in. A range trusting everyone is refused.
func TestTrustProxyThroughTheCommand(t *testing.T) {
	db, auth := passwordStore(t)
	addr := start(t, parse(t, db, "--listen", "127.0.0.1:0", "--auth", auth, "--trust-proxy", "127.0.0.0/8"))
	try := func(client, pass string) int {
		req, _ := http.NewRequest("GET", "http://"+addr+"/healthz", nil)
		req.Header.Set("X-Forwarded-For", client)
		req.SetBasicAuth("alice", pass)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	for range 12 {
		try("198.51.100.66", "guess")
	}
	if code := try("198.51.100.66", "s3cret"); code != 429 {
		t.Errorf("client A after 12 wrong passwords: %d, want 429", code)
	}
	if code := try("2001:db8:7::1", "s3cret"); code != 200 {
		t.Errorf("client B's right password after A's wrong ones: %d, want 200", code)
	}
	o := parse(t, db, "--listen", "127.0.0.1:0", "--auth", auth, "--trust-proxy", "0.0.0.0/0")
	o.Ready = func(string) { t.Error("--trust-proxy 0.0.0.0/0: listening") }
	cmdtest.Refused(t, Run(context.Background(), o), "--trust-proxy")
}

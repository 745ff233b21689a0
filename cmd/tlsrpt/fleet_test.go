package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tlsrpt/tlsrpt/internal/f2btest"
	"github.com/tlsrpt/tlsrpt/internal/pgtest"
	"github.com/tlsrpt/tlsrpt/internal/testenv"
)

// The fleet: several MX hosts sharing one store on a real PostgreSQL
// server (docs/fleet.md), through the real binary.

// TestFleetFilterConcurrent runs 32 filter processes at once into one
// PostgreSQL store: every report is stored once.
func TestFleetFilterConcurrent(t *testing.T) {
	db := pgtest.Database(t)
	bin := tlsrptBinary(t)
	const n = 32
	var wg sync.WaitGroup
	errs := make([]error, n)
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			msg := reportMessage("google.com", fmt.Sprintf("fleet-%d", i), []failure{{fmt.Sprintf("192.0.2.%d", i+1), 1 + i, "certificate-expired"}})
			cmd := exec.Command(bin, "filter", "--db", db, "--resolver", "127.0.0.1:9")
			cmd.Env = append(os.Environ(), "XDG_STATE_HOME="+t.TempDir())
			cmd.Stdin = bytes.NewReader(msg)
			out, err := cmd.Output()
			if err == nil && !bytes.HasPrefix(out, []byte(fmt.Sprintf("TLS-Report-Has-Failures: %d", 1+i))) {
				err = fmt.Errorf("header: %.60q", out)
			}
			errs[i] = err
		}()
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Errorf("filter %d: %v", i, err)
		}
	}
	rows := reviewJSON(t, nil, "--db", db, "--no-bans", "--resolver", "127.0.0.1:9")
	if len(rows) != n {
		t.Errorf("review lists %d addresses, want %d", len(rows), n)
	}
	for _, r := range rows {
		if r.Reports != 1 {
			t.Errorf("%s: %d reports, want 1", r.IP, r.Reports)
		}
	}
}

// TestFleetSpool stops the server mid-run: the filter still delivers,
// keeps the report in its spool and says so in one line naming the server,
// never the password; after the restart the next filter run drains the
// spool, and nothing is lost or doubled. A wrong password is the same.
func TestFleetSpool(t *testing.T) {
	srv := pgtest.Start(t)
	db := srv.NewDatabase()
	state := filepath.Join(t.TempDir(), "state")
	env := []string{"XDG_STATE_HOME=" + state}
	msg := func(id, ip string) []byte {
		return reportMessage("google.com", id, []failure{{ip, 2, "starttls-not-supported"}})
	}
	filter := func(m []byte, dbURL string) result {
		t.Helper()
		r := tlsrpt(t, env, m, "filter", "--db", dbURL, "--resolver", "127.0.0.1:9")
		if r.code != 0 || !bytes.HasSuffix([]byte(r.stdout), m[len(m)-200:]) {
			t.Fatalf("filter: exit %d, the message was not delivered whole\nstderr: %s", r.code, r.stderr)
		}
		return r
	}
	filter(msg("before", "192.0.2.1"), db)

	srv.Stop()
	srv.WaitDown(10 * time.Second)
	r := filter(msg("while-down", "192.0.2.2"), db)
	// The filter goes on at the refusal, not at the end of its connect
	// time-out: the line gives the refusal as the cause.
	if !strings.Contains(r.stderr, "connection refused") || strings.Contains(r.stderr, "timeout") {
		t.Errorf("stderr while down, want the refusal as the cause, no time-out:\n%s", r.stderr)
	}
	if !strings.HasPrefix(r.stdout, "TLS-Report-Has-Failures: 2\r\n") {
		t.Errorf("header while down: %.80q", r.stdout)
	}
	u, _ := url.Parse(db)
	if strings.Count(strings.TrimSpace(r.stderr), "\n") != 0 || !strings.Contains(r.stderr, "unavailable") ||
		!strings.Contains(r.stderr, u.Host) || !strings.Contains(r.stderr, "kept in the spool") || strings.Contains(r.stderr, pgtest.Password) {
		t.Errorf("stderr while down, want one line naming the server and the spool, no password:\n%s", r.stderr)
	}
	spooled, _ := filepath.Glob(filepath.Join(state, "tlsrpt", "spool", "*.tlsrpt-spool.json"))
	if len(spooled) != 1 {
		t.Fatalf("%d spooled reports, want 1", len(spooled))
	}

	// A wrong password: the same, and the password is never shown.
	bad := *u
	bad.User = url.UserPassword("postgres", "Wr0ngPassw0rdZebra")
	srv.Start()
	r = filter(msg("wrong-password", "192.0.2.3"), bad.String())
	if strings.Contains(r.stderr, "Wr0ngPassw0rdZebra") || !strings.Contains(r.stderr, "password authentication failed") ||
		strings.Count(strings.TrimSpace(r.stderr), "\n") != 0 {
		t.Errorf("stderr with a wrong password:\n%s", r.stderr)
	}

	// Back: the next run drains the spool; a second copy of a spooled
	// report counts once.
	r = filter(msg("after", "192.0.2.4"), db)
	if !strings.Contains(r.stderr, "stored 2 reports from the spool") {
		t.Errorf("stderr after the restart: %s", r.stderr)
	}
	filter(msg("while-down", "192.0.2.2"), db)
	rows := reviewJSON(t, env, "--db", db, "--no-bans", "--resolver", "127.0.0.1:9")
	for _, ip := range []string{"192.0.2.1", "192.0.2.2", "192.0.2.3", "192.0.2.4"} {
		if rows[ip].Reports != 1 {
			t.Errorf("%s: %d reports after the restart, want 1", ip, rows[ip].Reports)
		}
	}
	if len(rows) != 4 {
		t.Errorf("%d addresses, want 4", len(rows))
	}
	if left, _ := filepath.Glob(filepath.Join(state, "tlsrpt", "spool", "*.json")); len(left) != 0 {
		t.Errorf("spool not drained: %v", left)
	}

	// import --spool drains too.
	srv.Stop()
	srv.WaitDown(10 * time.Second)
	filter(msg("down-again", "192.0.2.5"), db)
	srv.Start()
	r = tlsrptOK(t, env, nil, "import", "--db", db, "--spool")
	if !strings.Contains(r.stdout, "stored 1,") {
		t.Errorf("import --spool: %s", r.stdout)
	}
}

// TestFleetRedeemTwoHosts stands for two MX hosts with a fail2ban-server
// each, both banning Google's address: redeem --apply on each host, from
// the one PostgreSQL store, unbans it on that host only, and the shared
// audit log names both hosts.
func TestFleetRedeemTwoHosts(t *testing.T) {
	testenv.MustHaveExec(t, "dnsmasq", "dnsmasq-base")
	db := pgtest.Database(t)
	w := newChainWorld(t) // reports filed into a SQLite store, signed and forged
	tlsrptOK(t, nil, nil, "migrate-db", "--from", w.db, "--to", db)
	mx := map[string]*f2btest.Server{"mx1": startF2B(t, nil), "mx2": startF2B(t, nil)}
	for _, s := range mx {
		s.Client("set", mailJail, "banip", googleIP)
		s.Client("set", mailJail, "banip", forgedIP)
	}
	for _, host := range []string{"mx1", "mx2"} {
		s := mx[host]
		f2b := []string{"--backend", "fail2ban", "--fail2ban-socket", s.Socket, "--fail2ban-jaild", filepath.Join(s.Dir, "jail.d")}
		rows := reviewJSON(t, nil, append([]string{"--db", db, "--resolver", w.dns}, f2b...)...)
		if b := rows[googleIP].Banned; !rows[googleIP].Trusted || len(b) != 1 || b[0].Where != mailJail {
			t.Fatalf("%s: review of %s: %+v", host, googleIP, rows[googleIP])
		}
		tlsrptOK(t, nil, nil, append([]string{"redeem", "--apply", "--host", host, "--db", db, "--resolver", w.dns}, f2b...)...)
		if got := s.Banned(mailJail); !sameSet(got, forgedIP) {
			t.Errorf("%s after redeem: banned %v, want only %s", host, got, forgedIP)
		}
		if host == "mx1" {
			if got := mx["mx2"].Banned(mailJail); !sameSet(got, googleIP, forgedIP) {
				t.Errorf("mx2 changed by mx1's redeem: banned %v", got)
			}
		}
	}
	log := tlsrptOK(t, nil, nil, "redeem", "log", "--db", db).stdout
	for _, host := range []string{"mx1", "mx2"} {
		if !strings.Contains(log, " applied ok     "+host+" ") {
			t.Errorf("the audit log lacks %s's steps:\n%s", host, log)
		}
	}
}

// TestFleetMigrateDB copies a SQLite store built from the corpus into
// PostgreSQL: review gives the same rows on both.
func TestFleetMigrateDB(t *testing.T) {
	dst := pgtest.Database(t)
	src := filepath.Join(t.TempDir(), "t.db")
	tlsrptOK(t, nil, nil, "import", "--db", src, "../../testdata/corpus")
	r := tlsrptOK(t, nil, nil, "migrate-db", "--from", src, "--to", dst)
	if !strings.Contains(r.stdout, "failure_details") || !strings.Contains(r.stdout, "as many as the source") || strings.Contains(r.stdout, pgtest.Password) {
		t.Errorf("migrate-db said:\n%s", r.stdout)
	}
	review := func(db string) []map[string]any {
		out := tlsrptOK(t, nil, nil, "review", "--json", "--no-bans", "--db", db, "--resolver", "127.0.0.1:9").stdout
		var rows []map[string]any
		if err := json.Unmarshal([]byte(out), &rows); err != nil {
			t.Fatal(err)
		}
		return rows
	}
	a, b := review(src), review(dst)
	if len(a) == 0 || !reflect.DeepEqual(a, b) {
		t.Errorf("review differs after migrate-db:\nSQLite:     %v\nPostgreSQL: %v", a, b)
	}
	if r := tlsrpt(t, nil, nil, "migrate-db", "--from", src, "--to", dst); r.code == 0 || !strings.Contains(r.stderr, "copy into a new database") {
		t.Errorf("a second migrate-db into a full store: exit %d, %s", r.code, r.stderr)
	}
	if r := tlsrpt(t, nil, nil, "migrate-db", "--from", dst, "--to", src); r.code != 2 {
		t.Errorf("migrate-db --from a URL: exit %d, %s", r.code, r.stderr)
	}
}

// TestFleetAllowlistCheckServerDown: fail2ban's ignorecommand never waits
// on the database server. --db names a "server" that accepts connections
// and never answers (the worst case: a server hung, not refusing): check
// answers from the allowlist and its local cache without connecting to
// it at all. Counted, not timed: a loaded machine makes any time bound lie.
func TestFleetAllowlistCheckServerDown(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var accepted atomic.Int32
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			accepted.Add(1)
			t.Cleanup(func() { c.Close() })
		}
	}()
	t.Cleanup(func() { ln.Close() })
	db := "postgres://tlsrpt:secret@" + ln.Addr().String() + "/tlsrpt?connect_timeout=30"
	state := filepath.Join(t.TempDir(), "state")
	r := tlsrpt(t, []string{"XDG_STATE_HOME=" + state}, nil, "allowlist", "check", "--db", db, "--resolver", deadResolver(t), "192.0.2.9")
	if r.code == 0 || !strings.Contains(r.stdout, "not trusted") {
		t.Errorf("allowlist check: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	if n := accepted.Load(); n != 0 {
		t.Errorf("allowlist check connected %d times to the database server", n)
	}
	if _, err := os.Stat(filepath.Join(state, "tlsrpt", "check-cache.db")); err != nil {
		t.Errorf("no local cache: %v", err)
	}
}

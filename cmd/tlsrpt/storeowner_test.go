package main

import (
	"bytes"
	"compress/gzip"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/tlsrpt/tlsrpt/internal/reporttest"
	"github.com/tlsrpt/tlsrpt/internal/storetest"
	"github.com/tlsrpt/tlsrpt/internal/testenv"
	"github.com/tlsrpt/tlsrpt/internal/usertest"
)

// asNobody runs commands of a copy of the tlsrpt binary as root and as the
// unprivileged user nobody, as a Debian host does (fail2ban and the
// timers as root, maildrop as a mail user), in a folder both can read.
type asNobody struct {
	t        *testing.T
	dir      string // 0755, root's
	bin      string
	uid, gid int
}

func newAsNobody(t *testing.T) *asNobody {
	t.Helper()
	testenv.MustBeRoot(t) // to run commands as root and as nobody
	testenv.MustHaveExec(t, "runuser", "util-linux")
	nobody := usertest.Lookup(t, "nobody")
	dir := usertest.SharedDir(t)
	bin := filepath.Join(dir, "tlsrpt")
	installBinary(t, bin)
	return &asNobody{t: t, dir: dir, bin: bin, uid: nobody.UID, gid: nobody.GID}
}

// mkdir makes a folder under the test's folder, owned by nobody when
// nobodys is true, else by root, with mode.
func (a *asNobody) mkdir(name string, nobodys bool, mode os.FileMode) string {
	a.t.Helper()
	p := filepath.Join(a.dir, name)
	if err := os.MkdirAll(p, mode); err != nil {
		a.t.Fatal(err)
	}
	os.Chmod(p, mode)
	if nobodys {
		os.Chown(p, a.uid, a.gid)
	}
	return p
}

// run runs tlsrpt as root, or as nobody, with env added to a small
// environment (no resolver answers: port 9 on loopback refuses).
func (a *asNobody) run(nobody bool, env []string, stdin []byte, args ...string) result {
	a.t.Helper()
	name, argv := a.bin, args
	if nobody {
		name, argv = "runuser", append([]string{"-u", "nobody", "--", a.bin}, args...)
	}
	cmd := exec.Command(name, argv...)
	cmd.Env = append([]string{"PATH=/usr/sbin:/usr/bin:/sbin:/bin", "HOME=/nonexistent", "TLSRPT_RESOLVER=127.0.0.1:9"}, env...)
	return runResult(a.t, cmd, stdin)
}

// files lists the names in dir, none when it cannot be read.
func files(dir string) []string {
	f, err := os.Open(dir)
	if err != nil {
		return nil
	}
	defer f.Close()
	names, _ := f.Readdirnames(-1)
	return names
}

// TestRootNeverCreatesStore runs, as root and before any report came,
// every command that only reads (and digest, prune and redeem, which write
// only beside their reading) on the shared store's path: none creates the
// file, so that the filter, run as the mail user afterwards, creates it as
// its own and records. allowlist check still answers from the allowlist.
func TestRootNeverCreatesStore(t *testing.T) {
	a := newAsNobody(t)
	shared := a.mkdir("shared", true, 0o755)
	db := filepath.Join(shared, "tlsrpt.db")
	rootState := a.mkdir("root-state", false, 0o700)
	env := []string{"TLSRPT_DB=" + db, "XDG_STATE_HOME=" + rootState}
	for _, c := range []struct {
		args []string
		code int
		out  string
	}{
		{[]string{"allowlist", "check", "17.58.1.1"}, 0, "trusted"}, // icloud.com ip:17.0.0.0/8
		{[]string{"allowlist", "check", "192.0.2.1"}, 3, "not trusted"},
		{[]string{"digest", "--no-plan"}, 0, ""},
		{[]string{"digest", "--no-plan", "--always"}, 0, "no reports recorded yet"},
		{[]string{"review", "--no-bans"}, 1, ""},
		{[]string{"stats"}, 1, ""},
		{[]string{"dashboard", "--listen", "127.0.0.1:0"}, 1, ""},
		{[]string{"prune", "--older-than", "400d"}, 0, "nothing to prune"},
		{[]string{"prune", "--older-than", "400d", "--apply"}, 0, "nothing to prune"},
		{[]string{"redeem", "log"}, 0, "the audit log is empty"},
		{[]string{"redeem", "--backend", "iptables", "--ip", "192.0.2.1"}, 1, ""},
	} {
		r := a.run(false, env, nil, c.args...)
		if r.code != c.code || !strings.Contains(r.stdout, c.out) {
			t.Errorf("as root: tlsrpt %s: exit %d, want %d with %q\nstdout:\n%s\nstderr:\n%s",
				strings.Join(c.args, " "), r.code, c.code, c.out, r.stdout, r.stderr)
		}
		if c.code == 1 && !strings.Contains(r.stderr, "nothing is recorded yet") {
			t.Errorf("as root: tlsrpt %s: stderr %q, want it to say nothing is recorded yet", strings.Join(c.args, " "), r.stderr)
		}
		if left := files(shared); len(left) != 0 {
			t.Fatalf("as root: tlsrpt %s created %v in the shared folder", strings.Join(c.args, " "), left)
		}
	}
	if _, err := os.Stat(filepath.Join(rootState, "tlsrpt", "check-cache.db")); err != nil {
		t.Errorf("allowlist check kept no cache of its own: %v", err)
	}
	// A database named where check keeps its cache is never taken for it.
	clash := filepath.Join(rootState, "clash")
	clashDB := filepath.Join(clash, "tlsrpt", "check-cache.db")
	r := a.run(false, []string{"TLSRPT_DB=" + clashDB, "XDG_STATE_HOME=" + clash}, nil, "allowlist", "check", "17.58.1.1")
	if r.code != 0 {
		t.Errorf("allowlist check with the database where its cache would be: exit %d\n%s", r.code, r.stderr)
	}
	if _, err := os.Stat(clashDB); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("allowlist check wrote its cache into the database's file: %v", err)
	}
	// The filter, as the mail user, creates the store as its own and records.
	msg, _ := os.ReadFile("../../testdata/corpus/14-tlsrptdigest-google-failure.eml")
	nobodyEnv := []string{"TLSRPT_DB=" + db, "XDG_STATE_HOME=" + a.mkdir("nobody-state", true, 0o700)}
	r = a.run(true, nobodyEnv, msg, "filter")
	if r.code != 0 || r.stderr != "" {
		t.Fatalf("filter as nobody: exit %d\n%s", r.code, r.stderr)
	}
	fi, err := os.Stat(db)
	if err != nil || fi.Sys().(*syscall.Stat_t).Uid != uint32(a.uid) {
		t.Fatalf("the store after the filter: %v, %v; want nobody's", fi, err)
	}
	// Root's digest writes into the existing store (its record), and the
	// filter still writes afterwards: root's writes leave nothing only root
	// may open.
	if r := a.run(false, env, nil, "digest", "--no-plan", "--host", "mx1"); r.code != 0 || !strings.Contains(r.stdout, "192.0.2.1") {
		t.Errorf("digest as root on the filter's store: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	msg2 := bytes.Replace(msg, []byte("Message-ID: <"), []byte("Message-ID: <again-"), 1)
	if r := a.run(true, nobodyEnv, msg2, "filter"); r.code != 0 || r.stderr != "" {
		t.Errorf("filter as nobody after root's digest: exit %d\n%s", r.code, r.stderr)
	}
	for _, name := range files(shared) {
		fi, _ := os.Stat(filepath.Join(shared, name))
		if fi.Sys().(*syscall.Stat_t).Uid != uint32(a.uid) {
			t.Errorf("%s in the shared folder is not nobody's after root's digest", name)
		}
	}
}

// TestFilterSpoolsUnwritableStore gives the filter, run as nobody, a store
// it cannot write: a file root created (root:root 0600), then a file of
// its own in a folder it cannot write (WAL needs its -wal and -shm
// files). Each time the report is spooled, and the log says so; root's
// import --spool then stores them all.
func TestFilterSpoolsUnwritableStore(t *testing.T) {
	a := newAsNobody(t)
	msg, _ := os.ReadFile("../../testdata/corpus/14-tlsrptdigest-google-failure.eml")
	state := a.mkdir("nobody-state", true, 0o700)
	spoolDir := filepath.Join(state, "tlsrpt", "spool")

	rootOnly := a.mkdir("root-only", false, 0o755)
	db := filepath.Join(rootOnly, "tlsrpt.db")
	storetest.Create(t, db) // as root: root:root 0600
	readOnlyDir := a.mkdir("read-only", false, 0o755)
	db2 := filepath.Join(readOnlyDir, "tlsrpt.db")
	storetest.Create(t, db2)
	os.Chown(db2, a.uid, a.gid)
	for i, loc := range []string{db, db2} {
		env := []string{"TLSRPT_DB=" + loc, "XDG_STATE_HOME=" + state}
		m := bytes.Replace(msg, []byte("Message-ID: <"), []byte(fmt.Sprintf("Message-ID: <n%d-", i)), 1)
		r := a.run(true, env, m, "filter")
		if r.code != 0 || !strings.Contains(r.stdout, "TLS-Report-Has-Failures: 2") {
			t.Errorf("filter as nobody, store %s: exit %d, want 0 and the message annotated\n%s", loc, r.code, r.stderr)
		}
		if !strings.Contains(r.stderr, "kept in the spool "+spoolDir) {
			t.Errorf("filter as nobody, store %s: the log does not say the report is spooled:\n%s", loc, r.stderr)
		}
	}
	spooled := 0
	for _, name := range files(spoolDir) {
		if strings.HasSuffix(name, ".tlsrpt-spool.json") {
			spooled++
		}
	}
	if spooled != 2 {
		t.Fatalf("%d reports in nobody's spool %s, want 2: %v", spooled, spoolDir, files(spoolDir))
	}
	// Root, who may write the first store, drains nobody's spool into it.
	r := a.run(false, []string{"TLSRPT_DB=" + db}, nil, "import", "--spool", "--spool-dir", spoolDir)
	if r.code != 0 || !strings.Contains(r.stdout, "stored 1, duplicates 1, unreadable 0, refused 0") {
		t.Errorf("import --spool as root: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	if left := files(spoolDir); len(left) != 0 {
		t.Errorf("spool not drained: %v", left)
	}
}

// hostileMessage is a report message of about 21 KB whose gzip attachment
// decompresses to a report holding n bytes of '<' in a failure detail.
func hostileMessage(t *testing.T, n int) []byte {
	t.Helper()
	rep := `{"organization-name":"Hostile","date-range":{"start-datetime":"2026-11-01T00:00:00Z","end-datetime":"2026-11-01T23:59:59Z"},` +
		`"contact-info":"tlsrpt@hostile.example","report-id":"lt-1","policies":[{"policy":{"policy-type":"no-policy-found","policy-domain":"example.com"},` +
		`"summary":{"total-successful-session-count":0,"total-failure-session-count":1},"failure-details":[{"result-type":"certificate-expired",` +
		`"sending-mta-ip":"192.0.2.9","failed-session-count":1,"additional-information":"` + strings.Repeat("<", n) + `"}]}]}`
	var gz bytes.Buffer
	w, _ := gzip.NewWriterLevel(&gz, gzip.BestCompression)
	w.Write([]byte(rep))
	w.Close()
	var m bytes.Buffer
	fmt.Fprintf(&m, "From: tlsrpt@hostile.example\r\nTo: tlsrpt@example.com\r\nSubject: Report Domain: example.com Submitter: hostile.example Report-ID: <lt-1>\r\n"+
		"TLS-Report-Domain: example.com\r\nTLS-Report-Submitter: hostile.example\r\nMessage-ID: <lt-1@hostile.example>\r\n"+
		"MIME-Version: 1.0\r\nContent-Type: multipart/report; report-type=tlsrpt; boundary=b\r\n\r\n"+
		"--b\r\nContent-Type: text/plain\r\n\r\nreport\r\n--b\r\nContent-Type: application/tlsrpt+gzip\r\n"+
		"Content-Transfer-Encoding: base64\r\nContent-Disposition: attachment; filename=r.json.gz\r\n\r\n")
	m.WriteString(reporttest.Base64Lines(gz.Bytes(), "\r\n") + "--b--\r\n")
	return m.Bytes()
}

// TestFilterHostileSpool feeds the filter a 21 KB message whose report
// holds 15 MiB of '<' while the store cannot take it: the spool file is
// compact (about 15 MiB, not 94 MB of \u003c), the process's peak memory
// stays a small multiple of it (measured, not timed), and the drain stores
// the report. With --spool-max below it, the report is not spooled, the log
// says so, and the delivered message still gives it to tlsrpt import.
func TestFilterHostileSpool(t *testing.T) {
	const n = 15 << 20
	msg := hostileMessage(t, n)
	t.Logf("hostile message: %d bytes", len(msg))
	dir := t.TempDir()
	state := filepath.Join(dir, "state")
	away := filepath.Join(dir, "folder") // a folder is no database
	os.Mkdir(away, 0o700)
	env := []string{"XDG_STATE_HOME=" + state}
	cmd := exec.Command(tlsrptBinary(t), "filter", "--db", away)
	cmd.Env = append(os.Environ(), "TLSRPT_RESOLVER=127.0.0.1:9", "XDG_STATE_HOME="+state, "TLSRPT_DB=")
	cmd.Stdin = bytes.NewReader(msg)
	var errOut bytes.Buffer
	cmd.Stderr = &errOut
	if err := cmd.Run(); err != nil || !strings.Contains(errOut.String(), "kept in the spool") {
		t.Fatalf("filter: %v\n%s", err, errOut.String())
	}
	peak := cmd.ProcessState.SysUsage().(*syscall.Rusage).Maxrss << 10
	spoolDir := filepath.Join(state, "tlsrpt", "spool")
	names := files(spoolDir)
	if len(names) != 1 {
		t.Fatalf("spool holds %v, want one file", names)
	}
	fi, _ := os.Stat(filepath.Join(spoolDir, names[0]))
	t.Logf("spool file %d bytes; the filter's peak resident memory %d bytes", fi.Size(), peak)
	if fi.Size() > n+8192 {
		t.Errorf("spool file of %d bytes for %d bytes of '<': not compact", fi.Size(), n)
	}
	if peak > 12*n {
		t.Errorf("the filter's peak memory %d bytes, want under %d", peak, 12*n)
	}
	db := filepath.Join(dir, "t.db")
	if r := tlsrptOK(t, env, nil, "import", "--db", db, "--spool", "--spool-dir", spoolDir); !strings.Contains(r.stdout, "stored 1,") {
		t.Errorf("drain: %s", r.stdout)
	}
	// Past the spool's bound: not kept, the log says so and how to recover.
	r := tlsrptOK(t, env, msg, "filter", "--db", away, "--spool-max", "1048576")
	if !strings.Contains(r.stderr, "spool full") || !strings.Contains(r.stderr, "tlsrpt import recovers it") {
		t.Errorf("filter past --spool-max: the log does not say so:\n%s", r.stderr)
	}
	if left := files(spoolDir); len(left) != 0 {
		t.Errorf("spooled past the bound: %v", left)
	}
	delivered := filepath.Join(dir, "delivered.eml")
	os.WriteFile(delivered, []byte(r.stdout), 0o600)
	db2 := filepath.Join(dir, "t2.db")
	if r := tlsrptOK(t, env, nil, "import", "--db", db2, delivered); !strings.Contains(r.stdout, "stored 1,") {
		t.Errorf("import of the delivered message: %s", r.stdout)
	}
}

// TestDigestReadOnlyAsNobody runs digest as a user who may read the store
// but not write it: the digest is printed, and one line says it was not
// recorded as the last one, instead of failing.
func TestDigestReadOnlyAsNobody(t *testing.T) {
	a := newAsNobody(t)
	db := filepath.Join(a.mkdir("root-store", false, 0o755), "tlsrpt.db")
	if r := a.run(false, []string{"TLSRPT_DB=" + db}, nil, "import", "../../testdata/corpus"); r.code != 0 {
		t.Fatalf("import as root: %s", r.stderr)
	}
	os.Chmod(db, 0o644)
	r := a.run(true, []string{"TLSRPT_DB=" + db}, nil, "digest", "--no-plan", "--host", "mx1")
	if r.code != 0 || !strings.Contains(r.stdout, "192.0.2.1") || !strings.Contains(r.stderr, "not recorded as the last digest") {
		t.Errorf("digest as nobody on root's store: exit %d\nstdout:\n%s\nstderr:\n%s", r.code, r.stdout, r.stderr)
	}
}

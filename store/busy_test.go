package store

import (
	"bufio"
	"database/sql"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/mattn/go-sqlite3"

	"github.com/tlsrpt/tlsrpt/arrival"
	"github.com/tlsrpt/tlsrpt/internal/testenv"
)

// lockEnv holds "DBPATH" in a child process of holdWriteLock.
const lockEnv = "TLSRPT_STORE_LOCK"

// runLocker is the child of holdWriteLock: it takes the database's write
// lock (BEGIN IMMEDIATE and a write), says "locked" on stdout, and holds
// the lock until its stdin closes.
func runLocker(path string) error {
	db, err := sql.Open("sqlite3", dsn(path))
	if err != nil {
		return err
	}
	defer db.Close()
	tx, err := db.Begin() // _txlock=immediate
	if err != nil {
		return err
	}
	if _, err := tx.Exec(`INSERT INTO dns_cache (key, value, expires) VALUES ('locker', x'', 0)
		ON CONFLICT (key) DO UPDATE SET expires = expires + 1`); err != nil {
		return err
	}
	fmt.Println("locked")
	io.Copy(io.Discard, os.Stdin)
	return tx.Rollback()
}

// holdWriteLock has another process take the write lock of the database
// at path and hold it until release is called.
func holdWriteLock(t *testing.T, path string) (release func()) {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), lockEnv+"="+path)
	cmd.Stderr = os.Stderr
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	line, err := bufio.NewReader(stdout).ReadString('\n')
	if err != nil || line != "locked\n" {
		stdin.Close()
		cmd.Wait()
		t.Fatalf("locker said %q, %v", line, err)
	}
	var once sync.Once // released from a goroutine and again at cleanup
	release = func() {
		once.Do(func() {
			stdin.Close()
			if err := cmd.Wait(); err != nil {
				t.Errorf("locker: %v", err)
			}
		})
	}
	t.Cleanup(release)
	return release
}

// countAttempts shortens the write budget to budget and records each
// attempt's wait until the test ends.
func countAttempts(t *testing.T, budget time.Duration) *[]time.Duration {
	var waits []time.Duration
	writeBudget = budget
	attemptHook = func(_ int, wait time.Duration) { waits = append(waits, wait) }
	t.Cleanup(func() { writeBudget, attemptHook = WriteBudget, nil })
	return &waits
}

// TestBusy: while another process holds the write lock, every write gives
// up within the budget, in a bounded number of attempts whose waits add up
// to the budget, with ErrBusy; once the lock is released writes succeed.
func TestBusy(t *testing.T) {
	sqliteOnly(t, "SQLite's file lock, held by another process (TestPostgresBusy covers the advisory lock)")
	s := openTemp(t)
	ctx := t.Context()
	release := holdWriteLock(t, s.File())
	const budget = 600 * time.Millisecond
	waits := countAttempts(t, budget)

	for _, w := range []struct {
		name string
		do   func() error
	}{
		{"AddReport", func() error {
			_, _, err := s.AddReport(ctx, mkReport("Org", "busy", 1, detail("192.0.2.1", "validation-failure", 1)), arrival.Source{})
			return err
		}},
		{"LogAction", func() error { _, err := s.LogAction(ctx, Action{Kind: "unban"}); return err }},
		{"CachePut", func() error { return s.CachePut(ctx, "TXT example.com.", []byte("x"), time.Hour) }},
	} {
		*waits = nil
		err := w.do()
		if !errors.Is(err, ErrBusy) {
			t.Fatalf("%s while locked: %v, want ErrBusy", w.name, err)
		}
		msg := err.Error()
		if !strings.Contains(msg, "database is busy") || strings.Count(msg, "store:") != 1 {
			t.Errorf("%s: error %q should say the database is busy, with one store: prefix", w.name, msg)
		}
		if n := len(*waits); n < 1 || n > retries {
			t.Errorf("%s: %d attempts, want 1 to %d", w.name, n, retries)
		}
		for i, wait := range *waits {
			if wait > budget {
				t.Errorf("%s: attempt %d may wait %v, more than the budget", w.name, i+1, wait)
			}
			if i > 0 && wait > (*waits)[i-1] {
				t.Errorf("%s: attempt %d may wait %v, more than what was left before (%v)", w.name, i+1, wait, (*waits)[i-1])
			}
		}
		t.Logf("%s: ErrBusy in %d attempts: %v", w.name, len(*waits), err)
	}

	// A database that needs migrating cannot be opened while locked.
	path := filepath.Join(t.TempDir(), "v1.db")
	v1Database(t, path).Close()
	releaseV1 := holdWriteLock(t, path)
	if _, err := Open(path); !errors.Is(err, ErrBusy) {
		t.Errorf("Open(v1 database, locked) = %v, want ErrBusy", err)
	}
	releaseV1()

	release()
	if _, _, err := s.AddReport(ctx, mkReport("Org", "after", 1), arrival.Source{}); err != nil {
		t.Errorf("AddReport after the lock is released: %v", err)
	}
}

// TestBusyRetriesBounded: when SQLite reports the database busy at once
// (as it may without calling its busy handler), a write tries again with
// backoff, a bounded number of times within the budget.
func TestBusyRetriesBounded(t *testing.T) {
	sqliteOnly(t, "SQLite's busy errors")
	s := openTemp(t)
	for _, budget := range []time.Duration{5 * time.Second, 30 * time.Millisecond} {
		waits := countAttempts(t, budget)
		calls := 0
		err := s.write(t.Context(), func(*sql.Tx) error {
			calls++
			return sqlite3.Error{Code: sqlite3.ErrBusy}
		})
		if !errors.Is(err, ErrBusy) {
			t.Fatalf("budget %v: %v, want ErrBusy", budget, err)
		}
		if calls != len(*waits) || calls < 1 || calls > retries {
			t.Errorf("budget %v: %d attempts (%d hooked), want 1 to %d", budget, calls, len(*waits), retries)
		}
		if budget > time.Second && calls != retries {
			t.Errorf("budget %v: %d attempts, want all %d", budget, calls, retries)
		}
		t.Logf("budget %v: %d attempts", budget, calls)
	}
	// Other errors are not retried.
	calls := 0
	boom := errors.New("boom")
	if err := s.write(t.Context(), func(*sql.Tx) error { calls++; return boom }); !errors.Is(err, boom) || calls != 1 {
		t.Errorf("write with a non-busy error: %v after %d calls", err, calls)
	}
}

// TestBusyWaitsWithinBudget: a write that meets a lock released within
// the budget waits for it and succeeds, in one attempt. The other process
// lets the lock go only once the write is seen waiting inside SQLite; the
// budget is an hour, so only that release can end the wait.
func TestBusyWaitsWithinBudget(t *testing.T) {
	sqliteOnly(t, "SQLite's file lock, held by another process (TestPostgresBusy covers the advisory lock)")
	s := openTemp(t)
	release := holdWriteLock(t, s.File())
	released := releaseWhenWaiting(t, time.Hour, waitInSQLite, release)
	var err error
	testenv.Returns(t, "AddReport waiting for the lock", func() {
		_, _, err = s.AddReport(t.Context(), mkReport("Org", "waited", 1), arrival.Source{})
	})
	if err != nil {
		t.Fatalf("AddReport: %v", err)
	}
	if !released.Load() {
		t.Errorf("AddReport succeeded while the lock was held")
	}
}

// releaseWhenWaiting sets the write budget and, once the first attempt of
// a write has begun and waiting returns (it sees the write wait for the
// lock), calls release. The result turns true just before release is
// called. At the end of the test it checks that there was exactly one
// attempt: the write waited for the lock within that attempt rather than
// failing and trying again.
func releaseWhenWaiting(t *testing.T, budget time.Duration, waiting func(*testing.T), release func()) *atomic.Bool {
	t.Helper()
	var attempts atomic.Int32
	var released atomic.Bool
	writeBudget = budget
	attemptHook = func(int, time.Duration) {
		if attempts.Add(1) == 1 {
			go func() {
				waiting(t)
				released.Store(true)
				release()
			}()
		}
	}
	t.Cleanup(func() {
		writeBudget, attemptHook = WriteBudget, nil
		if n := attempts.Load(); n != 1 {
			t.Errorf("%d attempts, want 1: the busy timeout waits", n)
		}
	})
	return &released
}

// waitInSQLite polls the goroutines' stacks until one is inside a call
// into SQLite (a cgo call, shown as a system call): the writer waiting for
// the lock, as no other goroutine of these tests calls SQLite meanwhile;
// SQLite's busy handler gives no other sign. It gives up after
// testenv.Patience.
func waitInSQLite(t *testing.T) {
	buf := make([]byte, 1<<20)
	for deadline := time.Now().Add(testenv.Patience); time.Now().Before(deadline); time.Sleep(time.Millisecond) {
		n := runtime.Stack(buf, true)
		for _, g := range strings.Split(string(buf[:n]), "\n\n") {
			if strings.Contains(g, " [syscall") && strings.Contains(g, "go-sqlite3._Cfunc_") {
				return
			}
		}
	}
	t.Errorf("no goroutine inside SQLite after %v", testenv.Patience)
}

// TestWriteBudget: the budget is within the 10 s the filter may be held.
func TestWriteBudget(t *testing.T) {
	if WriteBudget > 10*time.Second || BusyTimeout < WriteBudget {
		t.Errorf("WriteBudget %v, BusyTimeout %v: want a budget of at most 10 s that one attempt may use whole", WriteBudget, BusyTimeout)
	}
}

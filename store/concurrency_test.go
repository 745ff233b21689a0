package store

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tlsrpt/tlsrpt/arrival"
)

// childEnv holds "CHILD,N,DBPATH" in a child process of
// TestConcurrentProcesses.
const childEnv = "TLSRPT_STORE_CHILD"

func TestMain(m *testing.M) {
	if v := os.Getenv(lockEnv); v != "" {
		if err := runLocker(v); err != nil {
			fmt.Fprintln(os.Stderr, "locker:", err)
			os.Exit(1)
		}
		os.Exit(0)
	}
	if v := os.Getenv(childEnv); v != "" {
		if err := runChild(v); err != nil {
			fmt.Fprintln(os.Stderr, "child:", err)
			os.Exit(1)
		}
		os.Exit(0)
	}
	code := m.Run()
	removeFixtures()
	os.Exit(code)
}

// runChild acts as one `tlsrpt filter` process: wait for the barrier (the
// end of its standard input, which the test closes for all children at
// once), open the store (perhaps creating it), add n distinct reports and
// the shared one, close.
func runChild(v string) error {
	f := strings.SplitN(v, ",", 3)
	if len(f) != 3 {
		return fmt.Errorf("bad %s=%q", childEnv, v)
	}
	child, err := strconv.Atoi(f[0])
	if err != nil {
		return err
	}
	n, err := strconv.Atoi(f[1])
	if err != nil {
		return err
	}
	path := f[2]
	if _, err := io.Copy(io.Discard, os.Stdin); err != nil {
		return fmt.Errorf("waiting for the barrier: %w", err)
	}
	s, err := Open(path)
	if err != nil {
		return err
	}
	defer s.Close()
	ctx := context.Background()
	src := arrival.Source{Transport: "mail", Submitter: fmt.Sprintf("child%d.example", child)}
	for i := range n {
		ip := netip.AddrFrom4([4]byte{10, byte(child), byte(i >> 8), byte(i)})
		r := mkReport(fmt.Sprintf("Child %d", child), fmt.Sprintf("r-%d", i), 1+i%20,
			detail(ip.String(), "validation-failure", 1))
		if _, dup, err := s.AddReport(ctx, r, src); err != nil {
			return err
		} else if dup {
			return fmt.Errorf("report %d of child %d seen as duplicate", i, child)
		}
		if i == n/2 {
			// The shared report, in the middle of the run; odd children
			// deliver an authenticated copy.
			shared := src
			if child%2 == 1 {
				shared.Auth = arrival.Auth{Authenticated: true, Method: "dkim", Domain: "shared.example",
					Detail: fmt.Sprintf("child %d", child)}
			}
			r := mkReport("Shared Org", "shared-1", 5, detail("203.0.113.1", "certificate-expired", 7))
			if _, _, err := s.AddReport(ctx, r, shared); err != nil {
				return err
			}
		}
	}
	_, err = s.LogAction(ctx, Action{Backend: "test", Kind: "child", Target: strconv.Itoa(child)})
	return err
}

func TestConcurrentProcesses(t *testing.T) {
	const (
		children = 32
		perChild = 25
	)
	dir := t.TempDir()
	path := filepath.Join(dir, "state", "tlsrpt.db") // created by the children
	if onPostgres() {
		path = newPostgresDB(t) // an empty database: the children migrate it
	}
	cmds := make([]*exec.Cmd, children)
	outs := make([]bytes.Buffer, children)
	barrier := make([]io.Closer, children)
	for i := range cmds {
		cmd := exec.Command(os.Args[0], "-test.run=^$")
		cmd.Env = append(os.Environ(), fmt.Sprintf("%s=%d,%d,%s", childEnv, i, perChild, path))
		cmd.Stdout, cmd.Stderr = &outs[i], &outs[i]
		stdin, err := cmd.StdinPipe()
		if err != nil {
			t.Fatal(err)
		}
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		cmds[i], barrier[i] = cmd, stdin
	}
	start := time.Now()
	for _, b := range barrier {
		b.Close()
	}
	var wg sync.WaitGroup
	errs := make([]error, children)
	for i, cmd := range cmds {
		wg.Go(func() { errs[i] = cmd.Wait() })
	}
	wg.Wait()
	t.Logf("%d processes × %d reports: %v", children, perChild+1, time.Since(start))
	for i, err := range errs {
		if err != nil {
			t.Errorf("child %d: %v\n%s", i, err, outs[i].String())
		}
	}

	s := openAt(t, path)
	ctx := t.Context()
	st, err := s.Stats(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if want := int64(children*perChild + 1); st.Reports != want || st.Details != want || st.Addresses != want {
		t.Errorf("stored %d reports, %d details, %d addresses; want %d each", st.Reports, st.Details, st.Addresses, want)
	}
	var copies int
	if err := s.db.QueryRow(`SELECT COUNT(*) FROM reports WHERE org = 'Shared Org' AND report_id = 'shared-1'`).Scan(&copies); err != nil {
		t.Fatal(err)
	}
	if copies != 1 {
		t.Errorf("shared report stored %d times, want once", copies)
	}
	es, err := s.Evidence(ctx, netip.MustParseAddr("203.0.113.1"))
	if err != nil {
		t.Fatal(err)
	}
	if len(es) != 1 || es[0].FailedSessions != 7 || !es[0].Auth.Authenticated {
		t.Errorf("shared report evidence = %+v; want one authenticated detail of 7 sessions", es)
	}
	for c := range children {
		var n int
		s.db.QueryRow(`SELECT COUNT(*) FROM reports WHERE org = ?`, fmt.Sprintf("Child %d", c)).Scan(&n)
		if n != perChild {
			t.Errorf("child %d: %d reports stored, want %d", c, n, perChild)
		}
	}
	as, err := s.Actions(ctx, 0)
	if err != nil || len(as) != children {
		t.Errorf("audit log has %d entries (%v), want %d", len(as), err, children)
	}
}

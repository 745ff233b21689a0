package web

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tlsrpt/tlsrpt/assess"
	"github.com/tlsrpt/tlsrpt/internal/f2btest"
	"github.com/tlsrpt/tlsrpt/internal/storetest"
	"github.com/tlsrpt/tlsrpt/internal/testenv"
	"github.com/tlsrpt/tlsrpt/redeem"
)

// countingClient writes a fail2ban-client that records each run in a
// file and then runs the real one, and returns its path and a function
// counting the runs so far.
func countingClient(t *testing.T) (string, func() int) {
	t.Helper()
	real := testenv.MustHaveExec(t, "fail2ban-client", "fail2ban")
	dir := t.TempDir()
	runs := filepath.Join(dir, "runs")
	script := filepath.Join(dir, "fail2ban-client")
	body := "#!/bin/sh\necho run >> '" + runs + "'\nexec '" + real + "' \"$@\"\n"
	if err := os.WriteFile(script, []byte(body), 0o755); err != nil {
		t.Fatal(err)
	}
	return script, func() int {
		b, _ := os.ReadFile(runs)
		return strings.Count(string(b), "run\n")
	}
}

// TestBanCacheOneProbe runs the dashboard against a real fail2ban-server
// and counts the runs of fail2ban-client: 20 concurrent requests for the
// review, with the cache empty or stale, run the backend's programs as
// often as one request does (one probe, the others wait for it); within
// the TTL nothing runs; past it, one probe again.
func TestBanCacheOneProbe(t *testing.T) {
	f2b := f2btest.Start(t, f2btest.Options{})
	f2b.Client("set", "testjail", "banip", "198.51.100.7")
	client, runs := countingClient(t)
	backend := redeem.NewFail2ban(redeem.Fail2banOptions{Client: client, Socket: f2b.Socket, Config: f2b.Dir})
	var mu sync.Mutex
	clock := now
	tick := func(d time.Duration) { mu.Lock(); clock = clock.Add(d); mu.Unlock() }
	cache := NewBanCache([]redeem.Backend{backend}, 30*time.Second, func() time.Time { mu.Lock(); defer mu.Unlock(); return clock })
	st := storetest.Open(t)
	fillMonth(t, st)
	srv := serveDashboard(t, Options{Store: st,
		Review: func(ctx context.Context, since time.Time) ([]ReviewRow, error) {
			rows, err := assess.Review(ctx, st, assess.Options{Since: since})
			if err == nil {
				err = cache.Add(ctx, rows)
			}
			return assess.Records(rows), err
		}})

	review := func() []ReviewRow {
		code, body := do(t, srv, "", "/api/v1/review")
		var rows []ReviewRow
		if err := json.Unmarshal([]byte(body), &rows); code != 200 || err != nil {
			t.Errorf("review: %d %v %s", code, err, body)
		}
		return rows
	}
	// One request: the cost of one probe.
	rows := review()
	one := runs()
	if one == 0 {
		t.Fatal("no fail2ban-client run for the review")
	}
	t.Logf("one probe: %d runs of fail2ban-client", one)
	checkBanned(t, rows)
	concurrently := func(n int) {
		var wg sync.WaitGroup
		start := make(chan struct{})
		for range n {
			wg.Add(1)
			go func() { defer wg.Done(); <-start; checkBanned(t, review()) }()
		}
		close(start)
		wg.Wait()
	}
	concurrently(20)
	if got := runs(); got != one {
		t.Errorf("20 requests within the TTL ran fail2ban-client %d times, want none (%d before)", got-one, one)
	}
	tick(31 * time.Second)
	concurrently(20)
	if got := runs(); got != 2*one {
		t.Errorf("20 concurrent requests past the TTL ran fail2ban-client %d times, want %d (one probe)", got-one, one)
	}
	// The page's addresses (the span's) are among the review's: cached.
	if code, body := do(t, srv, "", "/"); code != 200 || !strings.Contains(body, "fail2ban:testjail") {
		t.Errorf("page: %d, lacks the ban", code)
	}
	if got := runs(); got != 2*one {
		t.Errorf("the page ran fail2ban-client %d more times within the TTL", got-2*one)
	}
}

func checkBanned(t *testing.T, rows []ReviewRow) {
	t.Helper()
	for _, r := range rows {
		if r.IP == "198.51.100.7" && (r.Banned == nil || len(*r.Banned) != 1 || (*r.Banned)[0].Where != "testjail") {
			t.Errorf("198.51.100.7: banned %v, want in testjail", r.Banned)
		}
	}
}

package main

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/tlsrpt/tlsrpt/internal/storetest"
	"github.com/tlsrpt/tlsrpt/store"
)

// TestPruneDNSCaches fills the database's DNS cache and allowlist check's
// own with an entry expired a month ago, one expired an hour ago (served
// stale while DNS is down) and a fresh one: prune --apply removes the
// first from both files and keeps the others.
func TestPruneDNSCaches(t *testing.T) {
	dir := t.TempDir()
	state := filepath.Join(dir, "state")
	db := filepath.Join(dir, "t.db")
	checkCache := filepath.Join(state, "tlsrpt", "check-cache.db")
	fill := func(path string) {
		st := storetest.OpenAt(t, path)
		defer st.Close()
		ctx := context.Background()
		for key, ago := range map[string]time.Duration{"old": 30 * 24 * time.Hour, "stale": 2 * time.Hour, "fresh": 0} {
			st.SetClock(func() time.Time { return time.Now().Add(-ago) })
			if err := st.CachePut(ctx, key, []byte("v"), time.Hour); err != nil {
				t.Fatal(err)
			}
		}
	}
	fill(db)
	os.MkdirAll(filepath.Dir(checkCache), 0o700)
	fill(checkCache)
	r := tlsrptOK(t, []string{"XDG_STATE_HOME=" + state}, nil, "prune", "--db", db, "--older-than", "400d", "--apply")
	if !strings.Contains(r.stdout, "removed 1 entry expired before") || !strings.Contains(r.stdout, "DNS cache of allowlist check "+checkCache) {
		t.Errorf("prune --apply:\n%s", r.stdout)
	}
	for _, path := range []string{db, checkCache} {
		st, err := store.OpenReadOnly(path)
		if err != nil {
			t.Fatal(err)
		}
		for key, want := range map[string]bool{"old": false, "stale": true, "fresh": true} {
			if _, _, ok, _ := st.CacheGet(context.Background(), key); ok != want {
				t.Errorf("%s: after prune, %q kept %v, want %v", path, key, ok, want)
			}
		}
		st.Close()
	}
}

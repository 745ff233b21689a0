package store

import (
	"fmt"
	"testing"
	"time"
)

// fakeClock makes the package clock read *clock, set to 2026-11-23 19:00
// UTC, until t ends: a test moves time by setting *clock.
func fakeClock(t *testing.T) *time.Time {
	clock := time.Date(2026, 11, 23, 19, 0, 0, 0, time.UTC)
	now = func() time.Time { return clock }
	t.Cleanup(func() { now = time.Now })
	return &clock
}

// TestCache stores, reads, replaces and expires entries by the clock.
func TestCache(t *testing.T) {
	s := openTemp(t)
	ctx := t.Context()
	clock := fakeClock(t)

	if v, _, ok, err := s.CacheGet(ctx, "TXT example.com."); err != nil || ok || v != nil {
		t.Fatalf("CacheGet(missing) = %q, ok %v, err %v; want nothing", v, ok, err)
	}
	if err := s.CachePut(ctx, "TXT example.com.", []byte("v=spf1 -all"), time.Hour); err != nil {
		t.Fatal(err)
	}
	if err := s.CachePut(ctx, "A example.com.", []byte{}, 90*time.Second); err != nil {
		t.Fatal(err)
	}
	v, exp, ok, err := s.CacheGet(ctx, "TXT example.com.")
	if err != nil || !ok || string(v) != "v=spf1 -all" || !exp.Equal(clock.Add(time.Hour)) {
		t.Fatalf("CacheGet = %q, %v, ok %v, err %v; want the value expiring at %v", v, exp, ok, err, clock.Add(time.Hour))
	}
	v, exp, ok, err = s.CacheGet(ctx, "A example.com.")
	if err != nil || !ok || v == nil || len(v) != 0 || !exp.Equal(clock.Add(90*time.Second)) {
		t.Fatalf("CacheGet(empty value) = %q, %v, ok %v, err %v", v, exp, ok, err)
	}
	// Replace with a shorter TTL; later the entry is stale but still there.
	if err := s.CachePut(ctx, "TXT example.com.", []byte("v=spf1 ip4:192.0.2.0/24 -all"), 10*time.Second); err != nil {
		t.Fatal(err)
	}
	*clock = clock.Add(time.Minute)
	v, exp, ok, err = s.CacheGet(ctx, "TXT example.com.")
	if err != nil || !ok || string(v) != "v=spf1 ip4:192.0.2.0/24 -all" {
		t.Fatalf("CacheGet(replaced) = %q, ok %v, err %v", v, ok, err)
	}
	if !exp.Before(*clock) {
		t.Errorf("replaced entry expires %v, want before %v (stale)", exp, clock)
	}
	// Sub-second TTLs round up, so a positive TTL is never already expired.
	if err := s.CachePut(ctx, "TXT short.example.", []byte("x"), 300*time.Millisecond); err != nil {
		t.Fatal(err)
	}
	if _, exp, _, _ := s.CacheGet(ctx, "TXT short.example."); !exp.After(*clock) {
		t.Errorf("300ms TTL expires %v, want after %v", exp, clock)
	}
}

// TestCacheBound puts more entries than the bound: the cache keeps the
// bound, and the entries that expire last.
func TestCacheBound(t *testing.T) {
	s := openTemp(t)
	ctx := t.Context()
	maxCacheEntries = 5
	t.Cleanup(func() { maxCacheEntries = MaxCacheEntries })
	for i := range 12 {
		// Later keys live longer: the first ones are evicted.
		if err := s.CachePut(ctx, fmt.Sprintf("TXT n%02d.example.", i), []byte("v"), time.Duration(i+1)*time.Hour); err != nil {
			t.Fatal(err)
		}
	}
	if n, err := s.CacheLen(ctx); err != nil || n != 5 {
		t.Errorf("cache holds %d entries (%v), want the bound 5", n, err)
	}
	for i := range 12 {
		_, _, ok, err := s.CacheGet(ctx, fmt.Sprintf("TXT n%02d.example.", i))
		if err != nil || ok != (i >= 7) {
			t.Errorf("entry %d: kept %v (%v), want kept only for the 5 that expire last", i, ok, err)
		}
	}
}

// TestPruneCache removes entries expired before the cut-off, and keeps
// later ones, stale or fresh.
func TestPruneCache(t *testing.T) {
	s := openTemp(t)
	ctx := t.Context()
	clock := fakeClock(t)
	s.CachePut(ctx, "old", []byte("v"), time.Hour)
	*clock = clock.Add(10 * 24 * time.Hour)
	s.CachePut(ctx, "stale", []byte("v"), time.Hour)
	*clock = clock.Add(2 * time.Hour)
	s.CachePut(ctx, "fresh", []byte("v"), time.Hour)
	n, err := s.PruneCache(ctx, clock.Add(-7*24*time.Hour))
	if err != nil || n != 1 {
		t.Errorf("PruneCache = %d, %v; want 1 entry removed", n, err)
	}
	for key, want := range map[string]bool{"old": false, "stale": true, "fresh": true} {
		if _, _, ok, _ := s.CacheGet(ctx, key); ok != want {
			t.Errorf("after PruneCache, %q kept %v, want %v", key, ok, want)
		}
	}
}

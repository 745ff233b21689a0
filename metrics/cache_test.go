package metrics

import (
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/tlsrpt/tlsrpt/internal/storetest"
)

// counted counts the collections of the collector it wraps: each is one
// round of store queries.
type counted struct {
	prometheus.Collector
	n atomic.Int64
}

func (c *counted) Collect(ch chan<- prometheus.Metric) {
	c.n.Add(1)
	c.Collector.Collect(ch)
}

// storeUp gathers reg and returns tlsrpt_store_up.
func storeUp(t *testing.T, reg *prometheus.Registry) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() == "tlsrpt_store_up" {
			return mf.Metric[0].GetGauge().GetValue()
		}
	}
	t.Fatal("no tlsrpt_store_up")
	return 0
}

// TestCacheOneQueryPerWindow: 50 scrapes within the window, 25 of them at
// once, cost one collection of the real store collector; the answer is
// renewed once the window has passed, and not before (the store closed
// within the window still shows up until the window ends). Without the
// cache every scrape is a collection: the test counts them.
func TestCacheOneQueryPerWindow(t *testing.T) {
	st := storetest.Open(t)
	inner := &counted{Collector: NewCollector(st, "")}
	c := NewCache(inner, 5*time.Second)
	var mu sync.Mutex
	clock := time.Date(2026, 12, 1, 13, 0, 0, 0, time.UTC)
	c.now = func() time.Time { mu.Lock(); defer mu.Unlock(); return clock }
	advance := func(d time.Duration) { mu.Lock(); clock = clock.Add(d); mu.Unlock() }
	reg := prometheus.NewRegistry()
	reg.MustRegister(c)

	for range 25 {
		if up := storeUp(t, reg); up != 1 {
			t.Fatalf("tlsrpt_store_up %v, want 1", up)
		}
	}
	var wg sync.WaitGroup
	for range 25 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if _, err := reg.Gather(); err != nil {
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	if n := inner.n.Load(); n != 1 {
		t.Fatalf("50 scrapes within the window: %d collections, want 1", n)
	}

	st.Close() // the store goes away: the cached answer still says up
	advance(5*time.Second - time.Nanosecond)
	if up := storeUp(t, reg); up != 1 || inner.n.Load() != 1 {
		t.Fatalf("within the window: up %v after %d collections, want 1 after 1", up, inner.n.Load())
	}
	advance(time.Nanosecond)
	if up := storeUp(t, reg); up != 0 || inner.n.Load() != 2 {
		t.Fatalf("after the window: up %v after %d collections, want 0 after 2", up, inner.n.Load())
	}
	advance(-time.Hour) // a clock set back renews too
	storeUp(t, reg)
	if n := inner.n.Load(); n != 3 {
		t.Fatalf("clock set back: %d collections, want 3", n)
	}
}

// TestCacheDescribe: the cache describes what it wraps, so a registry
// checks its metrics as it would the collector's own.
func TestCacheDescribe(t *testing.T) {
	st := storetest.Open(t)
	reg := prometheus.NewPedanticRegistry()
	reg.MustRegister(NewCache(NewCollector(st, ""), 0))
	if _, err := reg.Gather(); err != nil {
		t.Fatalf("pedantic gather: %v", err)
	}
}

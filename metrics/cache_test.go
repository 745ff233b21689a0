package metrics

import (
	"reflect"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tlsrpt/tlsrpt/internal/promtext"
	"github.com/tlsrpt/tlsrpt/internal/storetest"
)

// counted counts the collections of the collector it wraps: each is one
// round of store queries.
type counted struct {
	promtext.Collector
	n atomic.Int64
}

func (c *counted) Collect() []promtext.Sample {
	c.n.Add(1)
	return c.Collector.Collect()
}

// storeUp gathers reg and returns tlsrpt_store_up.
func storeUp(t *testing.T, reg *promtext.Registry) float64 {
	t.Helper()
	fams, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range fams {
		if f.Desc.Name == "tlsrpt_store_up" {
			return f.Samples[0].Value
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
	reg := promtext.NewRegistry()
	reg.Register(c)

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

// TestCacheSameAnswer: what the cache answers is what the collector it
// wraps gives, and the registry checks it as it would the collector's
// own (no duplicate series, valid values).
func TestCacheSameAnswer(t *testing.T) {
	st := storetest.Open(t)
	c := NewCollector(st, "")
	own, cached := promtext.NewRegistry(), promtext.NewRegistry()
	own.Register(c)
	cached.Register(NewCache(c, 0))
	want, err := own.Gather()
	if err != nil {
		t.Fatal(err)
	}
	got, err := cached.Gather()
	if err != nil || !reflect.DeepEqual(got, want) {
		t.Fatalf("cached gather %v (%v), want %v", got, err, want)
	}
}

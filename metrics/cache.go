package metrics

import (
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// DefaultCacheTTL is how long a Cache answers from what its collector
// last gave: scrapes within it cost the store nothing.
const DefaultCacheTTL = 5 * time.Second

// Cache is a prometheus.Collector that answers from what the collector it
// wraps gave at most TTL ago, so that the store is queried at most once per
// TTL however often /metrics is scraped. Scrapes that arrive while the
// collector runs wait for its answer and share it: one collection runs at a
// time. The metrics kept must not change once made (constant metrics, as
// Collector and serve's store statistics make), since they are sent again.
type Cache struct {
	c   prometheus.Collector
	ttl time.Duration
	now func() time.Time

	mu   sync.Mutex
	at   time.Time
	kept []prometheus.Metric
	ok   bool // kept holds a collection
}

// NewCache wraps c; ttl <= 0 means DefaultCacheTTL.
func NewCache(c prometheus.Collector, ttl time.Duration) *Cache {
	if ttl <= 0 {
		ttl = DefaultCacheTTL
	}
	return &Cache{c: c, ttl: ttl, now: time.Now}
}

// Describe sends the descriptions of the wrapped collector.
func (c *Cache) Describe(ch chan<- *prometheus.Desc) { c.c.Describe(ch) }

// Collect sends the metrics of the last collection, collecting anew when
// there is none or it is TTL old.
func (c *Cache) Collect(ch chan<- prometheus.Metric) {
	for _, m := range c.metrics() {
		ch <- m
	}
}

// metrics returns the kept collection, renewed when stale.
func (c *Cache) metrics() []prometheus.Metric {
	c.mu.Lock()
	defer c.mu.Unlock()
	if t := c.now(); !c.ok || t.Sub(c.at) >= c.ttl || t.Before(c.at) {
		c.kept, c.at, c.ok = collectAll(c.c), t, true
	}
	return c.kept
}

// collectAll runs c.Collect and gathers what it sends.
func collectAll(c prometheus.Collector) []prometheus.Metric {
	ch := make(chan prometheus.Metric, 64)
	go func() {
		defer close(ch)
		c.Collect(ch)
	}()
	var ms []prometheus.Metric
	for m := range ch {
		ms = append(ms, m)
	}
	return ms
}

package metrics

import (
	"sync"
	"time"

	"github.com/tlsrpt/tlsrpt/internal/promtext"
)

// DefaultCacheTTL is how long a Cache answers from what its collector
// last gave: scrapes within it cost the store nothing.
const DefaultCacheTTL = 5 * time.Second

// Cache is a promtext.Collector that answers from what the collector it
// wraps gave at most TTL ago, so that the store is queried at most once per
// TTL however often /metrics is scraped. Scrapes that arrive while the
// collector runs wait for its answer and share it: one collection runs at a
// time. The samples kept are handed out again, unchanged.
type Cache struct {
	c   promtext.Collector
	ttl time.Duration
	now func() time.Time

	mu   sync.Mutex
	at   time.Time
	kept []promtext.Sample
	ok   bool // kept holds a collection
}

// NewCache wraps c; ttl <= 0 means DefaultCacheTTL.
func NewCache(c promtext.Collector, ttl time.Duration) *Cache {
	if ttl <= 0 {
		ttl = DefaultCacheTTL
	}
	return &Cache{c: c, ttl: ttl, now: time.Now}
}

// Collect returns the samples of the last collection, collecting anew
// when there is none or it is TTL old.
func (c *Cache) Collect() []promtext.Sample {
	c.mu.Lock()
	defer c.mu.Unlock()
	if t := c.now(); !c.ok || t.Sub(c.at) >= c.ttl || t.Before(c.at) {
		c.kept, c.at, c.ok = c.c.Collect(), t, true
	}
	return c.kept
}

package web

import (
	"sync"
	"time"
)

// Password tries: a client has authBurst of them, and gets one back every
// authEvery; a right password gives its try back.
const (
	authBurst  = 10
	authEvery  = 6 * time.Second
	maxClients = 4096     // buckets kept; past it, new clients share one
	overflow   = "(many)" // the bucket they share
)

// limiter is a token bucket per client.
type limiter struct {
	mu      sync.Mutex
	now     func() time.Time
	buckets map[string]*bucket
}

type bucket struct {
	tokens float64
	at     time.Time
}

func newLimiter(now func() time.Time) *limiter {
	return &limiter{now: now, buckets: map[string]*bucket{}}
}

// take takes one try of client and returns 0, or, when it has none left,
// how long until its next one. A try is taken before the password is
// checked, so concurrent requests cannot check more than the tries.
func (l *limiter) take(client string) time.Duration {
	l.mu.Lock()
	defer l.mu.Unlock()
	now := l.now()
	b := l.bucket(client, now)
	if b.tokens < 1 {
		return time.Duration((1 - b.tokens) * float64(authEvery))
	}
	b.tokens--
	return 0
}

// give gives client its try back (the password was right).
func (l *limiter) give(client string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if b := l.buckets[client]; b != nil {
		b.tokens = min(b.tokens+1, authBurst)
	}
}

// bucket returns client's bucket, refilled to now; a new one is full.
func (l *limiter) bucket(client string, now time.Time) *bucket {
	b := l.buckets[client]
	if b == nil {
		if len(l.buckets) >= maxClients {
			l.prune(now)
		}
		if len(l.buckets) >= maxClients {
			if b = l.buckets[overflow]; b != nil {
				b.refill(now)
				return b
			}
			client = overflow
		}
		b = &bucket{tokens: authBurst, at: now}
		l.buckets[client] = b
		return b
	}
	b.refill(now)
	return b
}

// prune forgets the clients whose buckets are full again.
func (l *limiter) prune(now time.Time) {
	for k, b := range l.buckets {
		if b.refill(now); b.tokens >= authBurst {
			delete(l.buckets, k)
		}
	}
}

func (b *bucket) refill(now time.Time) {
	if d := now.Sub(b.at); d > 0 {
		b.tokens = min(authBurst, b.tokens+float64(d)/float64(authEvery))
		b.at = now
	}
}

package serve

import (
	"context"
	"io"
	"math"
	"sync"
	"time"

	"github.com/tlsrpt/tlsrpt/internal/pkgerr"
)

// errBudget is returned by budget.readAll when the bytes in flight across
// requests would pass the bound.
var errBudget = pkgerr.New("serve", "bytes in flight over the bound")

// firstRead is the buffer a body is first read into.
const firstRead = 16 << 10

// budget counts bytes held in memory by all requests together.
type budget struct {
	mu       sync.Mutex
	max, cur int64
}

// reserve takes n bytes if they fit.
func (b *budget) reserve(n int64) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.cur+n > b.max {
		return false
	}
	b.cur += n
	return true
}

// release gives n bytes back.
func (b *budget) release(n int64) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.cur -= n
}

// used is the bytes held now.
func (b *budget) used() int64 {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.cur
}

// readAll reads r to the end, reserving each growth of the buffer first:
// a body holds budget only for what has arrived, so a slow client costs
// next to nothing. The caller releases cap of the result, error or not.
func (b *budget) readAll(r io.Reader) ([]byte, error) {
	const first = firstRead
	if !b.reserve(first) {
		return make([]byte, 0), errBudget
	}
	buf := make([]byte, 0, first)
	for {
		if len(buf) == cap(buf) {
			grow := int64(cap(buf)) // double, as append would
			if !b.reserve(grow) {
				return buf, errBudget
			}
			nb := make([]byte, len(buf), cap(buf)*2)
			copy(nb, buf)
			buf = nb
		}
		n, err := r.Read(buf[len(buf):cap(buf)])
		buf = buf[:len(buf)+n]
		if err == io.EOF {
			return buf, nil
		}
		if err != nil {
			return buf, err
		}
	}
}

// clientLimit bounds the requests of each client at once. A request over
// the bound waits for one of its client's requests to end, so that a
// client whose bodies arrive quickly is served in turn; a client whose
// bodies trickle keeps its requests and no more. At most maxWaiting
// requests wait at once, across all clients.
type clientLimit struct {
	mu         sync.Mutex
	max        int
	maxWaiting int
	waiting    int
	c          map[string]*clientSlots
}

// clientSlots are one client's slots, with the number of requests that
// hold or wait for one; the entry goes when that number is 0.
type clientSlots struct {
	sem  chan struct{}
	refs int
}

// take gets one of client's slots, waiting up to wait (or until ctx is
// done) when they are all taken; false when none came.
func (c *clientLimit) take(ctx context.Context, client string, wait time.Duration) bool {
	s := c.enter(client)
	select {
	case s.sem <- struct{}{}:
		return true
	default:
	}
	if !c.startWaiting() {
		c.leave(client, s)
		return false
	}
	defer c.stopWaiting()
	t := time.NewTimer(wait)
	defer t.Stop()
	select {
	case s.sem <- struct{}{}:
		return true
	case <-t.C:
	case <-ctx.Done():
	}
	c.leave(client, s)
	return false
}

// give ends one request of client that had a slot.
func (c *clientLimit) give(client string) {
	c.mu.Lock()
	s := c.c[client]
	c.mu.Unlock()
	<-s.sem
	c.leave(client, s)
}

// enter counts a request of client and returns its slots.
func (c *clientLimit) enter(client string) *clientSlots {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.c == nil {
		c.c = make(map[string]*clientSlots)
	}
	s := c.c[client]
	if s == nil {
		s = &clientSlots{sem: make(chan struct{}, c.max)}
		c.c[client] = s
	}
	s.refs++
	return s
}

// leave counts a request of client gone.
func (c *clientLimit) leave(client string, s *clientSlots) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if s.refs--; s.refs == 0 {
		delete(c.c, client)
	}
}

func (c *clientLimit) startWaiting() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.waiting >= c.maxWaiting {
		return false
	}
	c.waiting++
	return true
}

func (c *clientLimit) stopWaiting() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.waiting--
}

// waiters is the number of requests waiting for their client's slot.
func (c *clientLimit) waiters() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.waiting
}

// BodyBudget is the budget (Options.MaxInFlightBytes) that reading one
// body of up to maxBody bytes can hold: the buffer grows by doubling from
// 16 KiB, and grows once more when full to see the end of the body.
func BodyBudget(maxBody int64) int64 {
	n := int64(firstRead)
	for n <= maxBody {
		if n > math.MaxInt64/2 {
			return math.MaxInt64
		}
		n *= 2
	}
	return n
}

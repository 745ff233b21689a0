package serve

import (
	"errors"
	"io"
	"net"
	"net/http"
	"sync"
)

// errBudget is returned by budget.readAll when the bytes in flight across
// requests would pass the bound.
var errBudget = errors.New("serve: bytes in flight over the bound")

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
	const first = 16 << 10
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

// clientLimit counts the requests of each client address.
type clientLimit struct {
	mu  sync.Mutex
	max int
	n   map[string]int
}

// take counts one more request of client if it is within the limit.
func (c *clientLimit) take(client string) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.n[client] >= c.max {
		return false
	}
	c.n[client]++
	return true
}

// give counts one request of client done.
func (c *clientLimit) give(client string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.n[client]--; c.n[client] <= 0 {
		delete(c.n, client)
	}
}

// clientOf is the client's address (never X-Forwarded-For, which anyone
// can write).
func clientOf(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}

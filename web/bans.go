package web

import (
	"context"
	"net/netip"
	"time"

	"github.com/tlsrpt/tlsrpt/assess"
	"github.com/tlsrpt/tlsrpt/redeem"
)

// DefaultBanTTL is how long BanCache keeps an answer of the backends.
const DefaultBanTTL = 30 * time.Second

// BanCache asks the ban backends where failing addresses are banned, at
// most once per TTL and one probe at a time, whatever the number of
// requests: every page view or API call would otherwise run the
// backends' programs (fail2ban-client, the ipqbdb tools, iptables).
type BanCache struct {
	backends []redeem.Backend
	ttl      time.Duration
	now      func() time.Time
	turn     chan struct{} // held by the one request probing or reading

	at     time.Time // when the status was probed
	status map[netip.Addr]redeem.Status
}

// NewBanCache returns a cache over backends keeping answers for ttl (0
// means DefaultBanTTL), by the clock now (nil means time.Now).
func NewBanCache(backends []redeem.Backend, ttl time.Duration, now func() time.Time) *BanCache {
	if ttl <= 0 {
		ttl = DefaultBanTTL
	}
	if now == nil {
		now = time.Now
	}
	return &BanCache{backends: backends, ttl: ttl, now: now, turn: make(chan struct{}, 1)}
}

// Add fills in the ban status of rows, as assess.AddBans does: from the
// cache for the addresses probed less than the TTL ago, by one probe of
// the backends for the others. A request arriving during a probe waits
// for it (or for its own context to end) and takes its answer.
func (c *BanCache) Add(ctx context.Context, rows []assess.Row) error {
	select {
	case c.turn <- struct{}{}:
	case <-ctx.Done():
		return ctx.Err()
	}
	defer func() { <-c.turn }()
	now := c.now()
	if c.status == nil || now.Before(c.at) || now.Sub(c.at) >= c.ttl {
		c.status, c.at = map[netip.Addr]redeem.Status{}, now
	}
	var missing []netip.Addr
	for _, r := range rows {
		if _, ok := c.status[r.IP.Unmap()]; !ok {
			missing = append(missing, r.IP)
		}
	}
	var got map[netip.Addr]redeem.Status
	if len(missing) > 0 {
		var err error
		if got, err = redeem.BanStatusAll(ctx, c.backends, missing); err != nil {
			return err
		}
		if ctx.Err() == nil { // an answer cut short is not kept
			for ip, s := range got {
				c.status[ip] = s
			}
		}
	}
	for i := range rows {
		s, ok := got[rows[i].IP.Unmap()]
		if !ok {
			s = c.status[rows[i].IP.Unmap()]
		}
		rows[i].Bans = append([]redeem.Ban{}, s.Bans...)
		rows[i].Unknown = s.Unknown
	}
	return nil
}

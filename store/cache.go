package store

import (
	"context"
	"database/sql"
	"errors"
	"time"

	"github.com/tlsrpt/tlsrpt/internal/pkgerr"
)

// CacheGet returns the cached value under key (e.g. "TXT example.com.") and
// when it expires. ok is false when nothing is cached. An expired entry is
// still returned, with its past expiry, so that callers can fall back on
// stale data when offline: compare expires with the clock.
func (s *Store) CacheGet(ctx context.Context, key string) (value []byte, expires time.Time, ok bool, err error) {
	var exp int64
	err = s.db.QueryRowContext(ctx, `SELECT value, expires FROM dns_cache WHERE key = ?`, key).Scan(&value, &exp)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, time.Time{}, false, nil
	}
	if err != nil {
		return nil, time.Time{}, false, pkgerr.Errorf("store", "reading cache entry %q: %w", key, err)
	}
	if value == nil {
		value = []byte{}
	}
	return value, time.Unix(exp, 0).UTC(), true, nil
}

// MaxCacheEntries bounds the DNS cache: past it, CachePut evicts the
// entries that expire first. A check or a filter looks up a few dozen
// names; reports naming ever new hosts must not grow the file for ever.
const MaxCacheEntries = 10000

// maxCacheEntries is MaxCacheEntries; tests lower it.
var maxCacheEntries = MaxCacheEntries

// CachePut stores value under key, replacing any previous entry, to expire
// ttl from now (rounded up to whole seconds). When the cache then holds
// more than MaxCacheEntries entries, those that expire first are removed.
func (s *Store) CachePut(ctx context.Context, key string, value []byte, ttl time.Duration) error {
	if value == nil {
		value = []byte{}
	}
	exp := s.now().Add(ttl + time.Second - 1).Unix()
	err := s.write(ctx, func(tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, `INSERT INTO dns_cache (key, value, expires) VALUES (?, ?, ?)
			ON CONFLICT (key) DO UPDATE SET value = excluded.value, expires = excluded.expires`,
			key, value, exp)
		if err != nil {
			return err
		}
		return evictCache(ctx, tx, maxCacheEntries)
	})
	if err != nil {
		return pkgerr.Errorf("store", "writing cache entry %q: %w", key, err)
	}
	return nil
}

// evictCache removes the entries that expire first while the cache holds
// more than max.
func evictCache(ctx context.Context, tx *sql.Tx, max int) error {
	var n int
	if err := tx.QueryRowContext(ctx, `SELECT count(*) FROM dns_cache`).Scan(&n); err != nil {
		return err
	}
	if n <= max {
		return nil
	}
	_, err := tx.ExecContext(ctx, `DELETE FROM dns_cache WHERE key IN
		(SELECT key FROM dns_cache ORDER BY expires, key LIMIT ?)`, n-max)
	return err
}

// PruneCache removes the cache entries that expired before before and
// returns how many. Entries expired since then stay: the resolver serves
// them stale while DNS does not answer.
func (s *Store) PruneCache(ctx context.Context, before time.Time) (int64, error) {
	var n int64
	err := s.write(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `DELETE FROM dns_cache WHERE expires < ?`, before.Unix())
		if err != nil {
			return err
		}
		n, err = res.RowsAffected()
		return err
	})
	if err != nil {
		return 0, pkgerr.Errorf("store", "removing DNS cache entries expired before %s: %w", before.Format(time.DateOnly), err)
	}
	return n, nil
}

// CacheLen returns the number of entries in the DNS cache.
func (s *Store) CacheLen(ctx context.Context) (int64, error) {
	var n int64
	if err := s.db.QueryRowContext(ctx, `SELECT count(*) FROM dns_cache`).Scan(&n); err != nil {
		return 0, pkgerr.Errorf("store", "counting DNS cache entries: %w", s.classify(err))
	}
	return n, nil
}

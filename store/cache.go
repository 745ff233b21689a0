package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"
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
		return nil, time.Time{}, false, fmt.Errorf("store: reading cache entry %q: %w", key, err)
	}
	if value == nil {
		value = []byte{}
	}
	return value, time.Unix(exp, 0).UTC(), true, nil
}

// CachePut stores value under key, replacing any previous entry, to expire
// ttl from now (rounded up to whole seconds).
func (s *Store) CachePut(ctx context.Context, key string, value []byte, ttl time.Duration) error {
	if value == nil {
		value = []byte{}
	}
	exp := s.now().Add(ttl + time.Second - 1).Unix()
	err := s.write(ctx, func(tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, `INSERT INTO dns_cache (key, value, expires) VALUES (?, ?, ?)
			ON CONFLICT (key) DO UPDATE SET value = excluded.value, expires = excluded.expires`,
			key, value, exp)
		return err
	})
	if err != nil {
		return fmt.Errorf("store: writing cache entry %q: %w", key, err)
	}
	return nil
}

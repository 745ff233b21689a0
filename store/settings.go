package store

import (
	"context"
	"database/sql"
	"errors"
	"time"

	"github.com/tlsrpt/tlsrpt/internal/pkgerr"
)

// Setting returns the value stored under name, when it was set, and
// whether there is one. Settings keep small state between runs: when the
// last digest was sent, how many trusted addresses wait for redeem.
func (s *Store) Setting(ctx context.Context, name string) (value string, updated time.Time, ok bool, err error) {
	var t int64
	err = s.db.QueryRowContext(ctx, `SELECT value, updated FROM settings WHERE name = ?`, name).Scan(&value, &t)
	if errors.Is(err, sql.ErrNoRows) {
		return "", time.Time{}, false, nil
	}
	if err != nil {
		return "", time.Time{}, false, pkgerr.Errorf("store", "reading setting %q: %w", name, s.classify(err))
	}
	return value, time.Unix(t, 0).UTC(), true, nil
}

// SetSetting stores value under name, replacing what was there.
func (s *Store) SetSetting(ctx context.Context, name, value string) error {
	err := s.write(ctx, func(tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, `INSERT INTO settings (name, value, updated) VALUES (?, ?, ?)
			ON CONFLICT (name) DO UPDATE SET value = excluded.value, updated = excluded.updated`,
			name, value, s.now().Unix())
		return err
	})
	if err != nil {
		return pkgerr.Errorf("store", "writing setting %q: %w", name, err)
	}
	return nil
}

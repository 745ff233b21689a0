package store

import (
	"context"
	"database/sql"
	"math"
	"net/netip"
	"time"

	"github.com/tlsrpt/tlsrpt/internal/pkgerr"
)

// Action is one entry of the redeem audit log.
type Action struct {
	ID      int64 // assigned by LogAction
	Time    time.Time
	IP      netip.Addr
	Host    string // the MX host that planned or applied it (redeem --host)
	Backend string // "fail2ban", "ipqbdb", "iptables"
	Kind    string // "unban", "keep", ...
	Target  string // jail, chain, file...
	Command string // human-readable command line (never executed through a shell)
	Applied bool   // false for a planned-only entry
	OK      bool
	Result  string // output or error text, one line
}

// LogAction appends a to the audit log and returns its ID. A zero a.Time is
// the current time.
func (s *Store) LogAction(ctx context.Context, a Action) (int64, error) {
	if a.Time.IsZero() {
		a.Time = s.now()
	}
	var id int64
	err := s.write(ctx, func(tx *sql.Tx) error {
		return tx.QueryRowContext(ctx, `INSERT INTO actions
			(time, ip, host, backend, kind, target, command, applied, ok, result)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING id`,
			a.Time.Unix(), nullIP(a.IP), a.Host, a.Backend, a.Kind, a.Target, a.Command, a.Applied, a.OK, a.Result).Scan(&id)
	})
	if err != nil {
		return 0, pkgerr.Errorf("store", "logging %s action on %s: %w", a.Kind, a.IP, err)
	}
	return id, nil
}

// Actions returns the audit log, newest first, at most limit entries
// (limit <= 0: all).
func (s *Store) Actions(ctx context.Context, limit int) ([]Action, error) {
	as, err := s.actions(ctx, limit)
	if err != nil {
		return nil, pkgerr.Errorf("store", "reading the audit log: %w", err)
	}
	return as, nil
}

func (s *Store) actions(ctx context.Context, limit int) ([]Action, error) {
	if limit <= 0 {
		limit = math.MaxInt64 // no limit, in words both engines take
	}
	return queryAll(ctx, s.db, scanAction, `SELECT id, time, ip, host, backend, kind, target, command, applied, ok, result
		FROM actions ORDER BY time DESC, id DESC LIMIT ?`, limit)
}

// scanAction reads a row of actions.
func scanAction(rows *sql.Rows) (a Action, err error) {
	var (
		t  sql.NullInt64
		ip sql.NullString
	)
	if err := rows.Scan(&a.ID, &t, &ip, &a.Host, &a.Backend, &a.Kind, &a.Target, &a.Command, &a.Applied, &a.OK, &a.Result); err != nil {
		return a, err
	}
	a.Time = fromUnix(t)
	if a.IP, err = parseIP(ip); err != nil {
		return a, err
	}
	return a, nil
}

package store

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"net"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/tlsrpt/tlsrpt/internal/pkgerr"
)

// ErrUnavailable is returned when the database server cannot be reached or
// refuses the login: the filter then keeps the report in its spool, serve
// answers 503, and allowlist check answers from its cache.
var ErrUnavailable = pkgerr.New("store", "database server unavailable")

// ConnectTimeout bounds a connection attempt to a PostgreSQL server when
// the URL gives no connect_timeout.
const ConnectTimeout = 5 * time.Second

// lockKey is the PostgreSQL advisory lock every write transaction takes:
// writers run one at a time, as on SQLite, so that deduplication, the
// replacement of unsigned copies and the per-address aggregate see each
// other's work whole (READ COMMITTED alone would let two writers insert the
// same report). The number is "tlsrpt" in ASCII.
const lockKey = 0x746c73727074

// OpenPostgres opens the PostgreSQL database of a postgres:// URL,
// checks that the server answers (within the URL's connect_timeout, else
// ConnectTimeout), and migrates its schema. A server that cannot be reached
// or refuses the login gives ErrUnavailable; no error text holds the
// password.
func OpenPostgres(ctx context.Context, url string) (*Store, error) {
	name := Redact(url)
	cfg, err := pgx.ParseConfig(url)
	if err != nil {
		return nil, pkgerr.Errorf("store", "reading database URL %s: %w", name, redactErr(err, url))
	}
	if cfg.ConnectTimeout == 0 {
		cfg.ConnectTimeout = ConnectTimeout
	}
	db := sql.OpenDB(newPGConnector(cfg))
	db.SetMaxOpenConns(16)
	db.SetConnMaxIdleTime(time.Minute)
	s := &Store{db: db, path: name, engine: PostgreSQL}
	pctx, cancel := context.WithTimeout(ctx, cfg.ConnectTimeout+time.Second)
	defer cancel()
	if err := db.PingContext(pctx); err != nil {
		db.Close()
		if err := s.classify(err); errors.Is(err, ErrUnavailable) {
			return nil, pkgerr.Errorf("store", "%w", err) // names the server
		}
		return nil, pkgerr.Errorf("store", "opening database %s: %w", name, err)
	}
	if err := s.migrate(ctx, migrations); err != nil {
		db.Close()
		return nil, pkgerr.Errorf("store", "opening database %s: %w", name, err)
	}
	return s, nil
}

// redactErr removes a password that an error text might quote.
func redactErr(err error, url string) error {
	cfg, perr := pgx.ParseConfig(url)
	if perr != nil || cfg.Password == "" || !strings.Contains(err.Error(), cfg.Password) {
		return err
	}
	return errors.New(strings.ReplaceAll(err.Error(), cfg.Password, "xxxxx"))
}

// tryWritePG is one attempt of writeConn on PostgreSQL: a transaction that
// first takes the store's advisory lock, waiting at most wait for it.
func (s *Store) tryWritePG(ctx context.Context, wait time.Duration, fn func(tx *sql.Tx) error) error {
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	// SET takes no parameters; the value is a number we computed.
	if _, err := tx.ExecContext(ctx, fmt.Sprintf("SET LOCAL lock_timeout = %d", max(wait.Milliseconds(), 1))); err != nil {
		tx.Rollback()
		return err
	}
	if _, err := tx.ExecContext(ctx, "SELECT pg_advisory_xact_lock(?)", int64(lockKey)); err != nil {
		tx.Rollback()
		return err
	}
	if err := fn(tx); err != nil {
		tx.Rollback()
		return err
	}
	return tx.Commit()
}

// isBusyPG reports whether err is PostgreSQL's lock time-out (55P03), a
// serialization failure (40001) or a deadlock (40P01).
func isBusyPG(err error) bool {
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		switch pe.Code {
		case "55P03", "40001", "40P01":
			return true
		}
	}
	return false
}

// classify marks the errors of a PostgreSQL server that is away or
// refuses us as ErrUnavailable; a statement the server refused is told
// with its SQLSTATE first (statementError); other errors pass unchanged.
func (s *Store) classify(err error) error {
	if err == nil || s.engine != PostgreSQL {
		return err
	}
	if !unavailable(err) {
		return statementText(err)
	}
	return &kindError{kind: ErrUnavailable,
		text: fmt.Sprintf("database server %s unavailable: %s", serverOf(s.path), oneLineCause(err)), err: err}
}

// unavailable reports whether err says the server cannot be reached, went
// away or refused the login, rather than that a statement failed.
func unavailable(err error) bool {
	var (
		ce *pgconn.ConnectError
		pe *pgconn.PgError
		ne net.Error
	)
	switch {
	case errors.As(err, &ce), errors.As(err, &ne), errors.Is(err, driver.ErrBadConn),
		errors.Is(err, context.DeadlineExceeded):
		return true
	case errors.As(err, &pe):
		// 08: connection exception; 28: invalid authorization; 3D000: no
		// such database; 57P01-57P03: shutdown, cannot connect now.
		return strings.HasPrefix(pe.Code, "08") || strings.HasPrefix(pe.Code, "28") ||
			pe.Code == "3D000" || pe.Code == "57P01" || pe.Code == "57P02" || pe.Code == "57P03"
	}
	return pgconn.SafeToRetry(err) || strings.Contains(err.Error(), "conn closed")
}

// serverOf names the server of a redacted URL: host:port, or the URL.
func serverOf(redacted string) string {
	cfg, err := pgx.ParseConfig(redacted)
	if err != nil {
		return redacted
	}
	return fmt.Sprintf("%s:%d", cfg.Host, cfg.Port)
}

// oneLineCause is the innermost useful text of a connection error.
func oneLineCause(err error) string {
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		return fmt.Sprintf("%s (SQLSTATE %s)", pe.Message, pe.Code)
	}
	var ce *pgconn.ConnectError
	if errors.As(err, &ce) && ce.Unwrap() != nil {
		err = ce.Unwrap()
	}
	// pgx joins the errors of every attempt (sslmode=prefer tries TLS,
	// then plain), one a line: the first says it.
	first, _, _ := strings.Cut(err.Error(), "\n")
	return strings.Join(strings.Fields(first), " ")
}

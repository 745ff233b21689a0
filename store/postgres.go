package store

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"net"
	"strings"
	"sync"
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

// postgresDialect is the store on PostgreSQL, for a fleet of MX hosts
// sharing one store: a server at a postgres:// URL, its schema version in
// the tlsrpt_schema table, writers one at a time through an advisory lock
// (lockKey), its errors told apart (unavailable server, busy, refused
// statement) by SQLSTATE.
type postgresDialect struct {
	server string // host:port, for messages; set when the store opens
}

// postgresSteps is the schema history in PostgreSQL's words, read when
// first needed.
var postgresSteps = sync.OnceValue(func() []migration { return mustLoadSteps("postgres") })

func (postgresDialect) engine() Engine     { return PostgreSQL }
func (postgresDialect) steps() []migration { return postgresSteps() }

// open opens the database of a postgres:// URL as OpenPostgres does,
// whatever mode asks: the server's rights decide what the user may do,
// and a database at the current schema is not written to.
func (postgresDialect) open(ctx context.Context, url string, _ openMode) (*Store, error) {
	return OpenPostgres(ctx, url)
}

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
	s := &Store{db: db, path: name, dialect: postgresDialect{server: serverOf(name)}}
	pctx, cancel := context.WithTimeout(ctx, cfg.ConnectTimeout+time.Second)
	defer cancel()
	if err := db.PingContext(pctx); err != nil {
		db.Close()
		if err := s.classify(err); errors.Is(err, ErrUnavailable) {
			return nil, pkgerr.Errorf("store", "%w", err) // names the server
		}
		return nil, pkgerr.Errorf("store", "opening database %s: %w", name, err)
	}
	if err := s.migrateAll(ctx); err != nil {
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

// tryWrite is one attempt of writeConn on PostgreSQL: a transaction that
// first takes the store's advisory lock, waiting at most wait for it.
// Foreign keys are always enforced: PostgreSQL changes tables in place,
// no step rebuilds one.
func (postgresDialect) tryWrite(ctx context.Context, db *sql.DB, wait time.Duration, _ bool, fn func(tx *sql.Tx) error) error {
	tx, err := db.BeginTx(ctx, nil)
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

// busy reports whether err is PostgreSQL's lock time-out (55P03), a
// serialization failure (40001) or a deadlock (40P01).
func (postgresDialect) busy(err error) bool {
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
func (d postgresDialect) classify(err error) error {
	if err == nil {
		return err
	}
	if !unavailable(err) {
		return statementText(err)
	}
	return pkgerr.Mark(fmt.Sprintf("database server %s unavailable: %s", d.server, oneLineCause(err)), err, ErrUnavailable)
}

// refused: 22, a data exception (a value too long, bad encoding); 23, an
// integrity constraint violation; 54, a program limit exceeded ("index
// row requires 20032 bytes, maximum size is 8191").
func (postgresDialect) refused(err error) bool {
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		return strings.HasPrefix(pe.Code, "22") || strings.HasPrefix(pe.Code, "23") || strings.HasPrefix(pe.Code, "54")
	}
	return false
}

// beginRead starts a read-only transaction on one snapshot.
func (postgresDialect) beginRead() string {
	return "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY"
}

// vacuum makes the space of removed rows reusable and refreshes the
// planner's statistics.
func (postgresDialect) vacuum() string { return "VACUUM ANALYZE" }

// size is pg_database_size of the store's database.
func (postgresDialect) size(ctx context.Context, db *sql.DB) (int64, error) {
	var n int64
	err := db.QueryRowContext(ctx, `SELECT pg_database_size(current_database())`).Scan(&n)
	return n, err
}

// prepareVersion makes the schema version table, under the write lock,
// if it is not there.
func (postgresDialect) prepareVersion(ctx context.Context, s *Store) error {
	var exists bool
	if err := s.db.QueryRowContext(ctx, "SELECT to_regclass('tlsrpt_schema') IS NOT NULL").Scan(&exists); err != nil {
		return fmt.Errorf("reading schema version: %w", s.classify(err))
	}
	if exists {
		return nil
	}
	return s.write(ctx, func(tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, "CREATE TABLE IF NOT EXISTS tlsrpt_schema (version BIGINT NOT NULL)")
		return err
	})
}

func (postgresDialect) versionQuery() string {
	return "SELECT COALESCE(MAX(version), 0) FROM tlsrpt_schema"
}

func (postgresDialect) setVersion(ctx context.Context, tx *sql.Tx, v int) error {
	_, err := tx.ExecContext(ctx, "DELETE FROM tlsrpt_schema")
	if err == nil {
		_, err = tx.ExecContext(ctx, "INSERT INTO tlsrpt_schema (version) VALUES (?)", v)
	}
	return err
}

// foreignKeysBroken: PostgreSQL enforces foreign keys in every step.
func (postgresDialect) foreignKeysBroken(context.Context, *sql.Tx) (bool, error) {
	return false, nil
}

// resetKeys moves the identity sequences past the copied keys.
func (postgresDialect) resetKeys(ctx context.Context, tx *sql.Tx) error {
	for _, table := range []string{"reports", "policies", "failure_details", "actions", "dmarc_reports", "dmarc_records"} {
		// table is one of our own names, never input.
		q := "SELECT setval(pg_get_serial_sequence('" + table + "', 'id'), COALESCE((SELECT MAX(id) FROM " + table + "), 0) + 1, false)"
		if _, err := tx.ExecContext(ctx, q); err != nil {
			return fmt.Errorf("resetting the key sequence of %s: %w", table, err)
		}
	}
	return nil
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

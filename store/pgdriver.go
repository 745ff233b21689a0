package store

import (
	"context"
	"database/sql/driver"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/stdlib"
)

// The store keeps one set of queries for both engines, written with "?"
// placeholders as SQLite takes them. On PostgreSQL, pgConnector wraps
// pgx's database/sql driver and, at the driver boundary, rewrites each
// query's placeholders to PostgreSQL's $1, $2, ... and each argument to
// what the schema stores: booleans as 0/1 integers (the schema's flags
// are INTEGER columns on both engines), text without NUL bytes or invalid
// UTF-8 (which PostgreSQL's text type refuses; they become U+FFFD, as a
// UTF-8 decoder would show them). Rewriting here, rather than at every call
// site, keeps the store's code and tests engine-blind. sqlx's Rebind does
// the same for callers, not for a driver, so it is written by hand.

// pgConnector connects through pgx and wraps each connection.
type pgConnector struct {
	inner driver.Connector
}

func newPGConnector(cfg *pgx.ConnConfig) *pgConnector {
	return &pgConnector{inner: stdlib.GetConnector(*cfg)}
}

func (c *pgConnector) Connect(ctx context.Context) (driver.Conn, error) {
	conn, err := c.inner.Connect(ctx)
	if err != nil {
		return nil, err
	}
	return &pgConn{conn: conn}, nil
}

func (c *pgConnector) Driver() driver.Driver { return c.inner.Driver() }

// pgConn is a pgx connection whose queries are rebound.
type pgConn struct {
	conn driver.Conn
}

// The interfaces pgx's stdlib connection implements and database/sql uses.
var (
	_ driver.ConnPrepareContext = (*pgConn)(nil)
	_ driver.ExecerContext      = (*pgConn)(nil)
	_ driver.QueryerContext     = (*pgConn)(nil)
	_ driver.ConnBeginTx        = (*pgConn)(nil)
	_ driver.Pinger             = (*pgConn)(nil)
	_ driver.SessionResetter    = (*pgConn)(nil)
	_ driver.Validator          = (*pgConn)(nil)
	_ driver.NamedValueChecker  = (*pgConn)(nil)
)

func (c *pgConn) Prepare(query string) (driver.Stmt, error) {
	return c.conn.Prepare(rebind(query))
}

func (c *pgConn) PrepareContext(ctx context.Context, query string) (driver.Stmt, error) {
	return c.conn.(driver.ConnPrepareContext).PrepareContext(ctx, rebind(query))
}

func (c *pgConn) Close() error { return c.conn.Close() }

func (c *pgConn) Begin() (driver.Tx, error) {
	return c.BeginTx(context.Background(), driver.TxOptions{})
}

func (c *pgConn) BeginTx(ctx context.Context, opts driver.TxOptions) (driver.Tx, error) {
	return c.conn.(driver.ConnBeginTx).BeginTx(ctx, opts)
}

func (c *pgConn) ExecContext(ctx context.Context, query string, args []driver.NamedValue) (driver.Result, error) {
	return c.conn.(driver.ExecerContext).ExecContext(ctx, rebind(query), args)
}

func (c *pgConn) QueryContext(ctx context.Context, query string, args []driver.NamedValue) (driver.Rows, error) {
	return c.conn.(driver.QueryerContext).QueryContext(ctx, rebind(query), args)
}

func (c *pgConn) Ping(ctx context.Context) error { return c.conn.(driver.Pinger).Ping(ctx) }

func (c *pgConn) ResetSession(ctx context.Context) error {
	if r, ok := c.conn.(driver.SessionResetter); ok {
		return r.ResetSession(ctx)
	}
	return nil
}

func (c *pgConn) IsValid() bool {
	if v, ok := c.conn.(driver.Validator); ok {
		return v.IsValid()
	}
	return true
}

// CheckNamedValue converts an argument the way database/sql would, then
// to what the schema stores on PostgreSQL.
func (c *pgConn) CheckNamedValue(nv *driver.NamedValue) error {
	v, err := driver.DefaultParameterConverter.ConvertValue(nv.Value)
	if err != nil {
		return err
	}
	switch x := v.(type) {
	case bool:
		if x {
			v = int64(1)
		} else {
			v = int64(0)
		}
	case string:
		v = pgText(x)
	}
	nv.Value = v
	return nil
}

// pgText returns s as PostgreSQL's text type takes it: NUL bytes and
// invalid UTF-8 replaced with U+FFFD.
func pgText(s string) string {
	if utf8.ValidString(s) && !strings.ContainsRune(s, 0) {
		return s
	}
	return strings.ReplaceAll(strings.ToValidUTF8(s, "\uFFFD"), "\x00", "\uFFFD")
}

// rebind rewrites the "?" placeholders of query to $1, $2, ..., leaving
// alone what stands in quotes ('...', "..."), in dollar-quoted bodies
// ($$...$$) and in comments (-- and /* */).
func rebind(query string) string {
	if !strings.Contains(query, "?") {
		return query
	}
	var b strings.Builder
	b.Grow(len(query) + 16)
	n := 0
	for i := 0; i < len(query); {
		if query[i] == '?' {
			n++
			b.WriteByte('$')
			b.WriteString(strconv.Itoa(n))
			i++
			continue
		}
		end := verbatimEnd(query, i)
		b.WriteString(query[i:end])
		i = end
	}
	return b.String()
}

// verbatim are the spans rebind copies as they stand: each opening with
// its closing.
var verbatim = [...]struct{ open, close string }{
	{"'", "'"}, {`"`, `"`}, {"--", "\n"}, {"/*", "*/"}, {"$$", "$$"},
}

// verbatimEnd returns the index just past the verbatim span that opens at
// i of query, or i+1 when none opens there.
func verbatimEnd(query string, i int) int {
	for _, v := range verbatim {
		if strings.HasPrefix(query[i:], v.open) {
			return closing(query, i+len(v.open), v.close)
		}
	}
	return i + 1
}

// closing returns the index just past the first end at or after from, or
// len(s) when there is none.
func closing(s string, from int, end string) int {
	if j := strings.Index(s[from:], end); j >= 0 {
		return from + j + len(end)
	}
	return len(s)
}

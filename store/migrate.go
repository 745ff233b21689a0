package store

import (
	"context"
	"database/sql"
	"embed"
	"fmt"
	"io/fs"
	"path"
	"strconv"
	"strings"
	"time"

	"github.com/tlsrpt/tlsrpt/internal/pkgerr"
)

// The schema is a history of steps, the same on every engine. Step N is
// one SQL file per engine, schema/<engine>/NNN_name.sql (schema/sqlite/,
// schema/postgres/), starting with a header:
//
//	-- name: what the step does, in a few words
//	-- foreign-keys: off
//
// The name is shown in errors and must be the same on every engine. The
// foreign-keys line (SQLite only) marks a step that rebuilds a table
// others refer to: it runs with foreign keys off (SQLite would cascade
// the DROP TABLE otherwise) and every foreign key is checked before it
// commits. What SQL alone cannot compute is the step's Go part
// (stepCode), run after its SQL in the same transaction on every engine.
//
// The database's schema version (SQLite's user_version, PostgreSQL's
// tlsrpt_schema table) is the number of steps applied. Append new steps;
// never edit a released one.

// schemaFiles are the schema steps of every engine.
//
//go:embed schema
var schemaFiles embed.FS

// migration is one schema step, in one engine's SQL.
type migration struct {
	name string
	sql  string
	// fn, if set, runs after sql in the same transaction: for what SQL
	// alone cannot compute.
	fn func(ctx context.Context, tx *sql.Tx) error
	// rebuild marks a step that recreates a table others refer to: it runs
	// with foreign keys off and checks them all before it commits.
	rebuild bool
}

// stepCode is the Go part of the steps that have one, by step number.
// Step 2 gives every stored report its reporter and digest; step 5
// recomputes the per-address aggregate.
var stepCode = map[int]func(ctx context.Context, tx *sql.Tx) error{
	2: migrate2,
	5: buildAggregate,
}

// SchemaVersion is the schema version this package writes: the number of
// steps (of SQLite's; every engine has the same, TestSchemaFiles checks).
var SchemaVersion = countSteps("sqlite")

// countSteps counts an engine's step files, without reading them.
func countSteps(engine string) int {
	entries, err := schemaFiles.ReadDir(path.Join("schema", engine))
	if err != nil {
		panic(err)
	}
	return len(entries)
}

// mustLoadSteps loads the embedded steps of an engine; they are part of
// the program, so a malformed one is a bug (TestSchemaFiles).
func mustLoadSteps(engine string) []migration {
	steps, err := loadSteps(schemaFiles, path.Join("schema", engine))
	if err != nil {
		panic(err)
	}
	return steps
}

// loadSteps reads the steps in dir of fsys: files numbered from 001 with
// no gap, each with its name, and the Go part from stepCode.
func loadSteps(fsys fs.FS, dir string) ([]migration, error) {
	entries, err := fs.ReadDir(fsys, dir)
	if err != nil {
		return nil, pkgerr.Errorf("store", "reading schema steps: %w", err)
	}
	var steps []migration
	for _, e := range entries {
		n, ok := stepNumber(e.Name())
		if !ok {
			return nil, pkgerr.Errorf("store", "schema step %s/%s: want a name like 001_initial_schema.sql", dir, e.Name())
		}
		if n != len(steps)+1 {
			return nil, pkgerr.Errorf("store", "schema step %s/%s: want step %d next", dir, e.Name(), len(steps)+1)
		}
		text, err := fs.ReadFile(fsys, path.Join(dir, e.Name()))
		if err != nil {
			return nil, pkgerr.Errorf("store", "reading schema step %s/%s: %w", dir, e.Name(), err)
		}
		step, err := parseStep(string(text))
		if err != nil {
			return nil, pkgerr.Errorf("store", "schema step %s/%s: %w", dir, e.Name(), err)
		}
		step.fn = stepCode[len(steps)+1]
		steps = append(steps, step)
	}
	for n := range stepCode {
		if n < 1 || n > len(steps) {
			return nil, pkgerr.Errorf("store", "schema steps in %s: Go code for step %d, which has no file", dir, n)
		}
	}
	return steps, nil
}

// stepNumber reads the number of a step's file name, NNN_words.sql
// (words of a-z, 0-9 and _).
func stepNumber(name string) (int, bool) {
	words, ok := strings.CutSuffix(name, ".sql")
	if !ok || len(words) < 5 || words[3] != '_' || !only(words[:3], "0123456789") ||
		!only(words[4:], "abcdefghijklmnopqrstuvwxyz0123456789_") {
		return 0, false
	}
	n, err := strconv.Atoi(words[:3])
	return n, err == nil
}

// only reports whether every byte of s is one of set.
func only(s, set string) bool {
	for i := range len(s) {
		if !strings.ContainsRune(set, rune(s[i])) {
			return false
		}
	}
	return true
}

// headerLine splits a line of a step's header, "-- key: value" with a key
// of a-z and -; the header ends at the first line that is not one.
func headerLine(line string) (key, value string, ok bool) {
	rest, ok := strings.CutPrefix(line, "-- ")
	if !ok {
		return "", "", false
	}
	key, value, ok = strings.Cut(rest, ": ")
	return key, value, ok && key != "" && only(key, "abcdefghijklmnopqrstuvwxyz-")
}

// parseStep reads a step's header; the whole text is its SQL.
func parseStep(text string) (migration, error) {
	m := migration{sql: text}
	for rest := text; ; {
		var line string
		line, rest, _ = strings.Cut(rest, "\n")
		key, value, ok := headerLine(line)
		if !ok {
			break
		}
		switch key {
		case "name":
			m.name = strings.TrimSpace(value)
		case "foreign-keys":
			if strings.TrimSpace(value) != "off" {
				return m, fmt.Errorf("foreign-keys: %q, want off", value)
			}
			m.rebuild = true
		default:
			return m, fmt.Errorf("unknown header line %q", line)
		}
	}
	if m.name == "" {
		return m, fmt.Errorf("no \"-- name: ...\" first line")
	}
	return m, nil
}

// migrateAll brings the database up to SchemaVersion with the dialect's
// steps, which it reads only when some step is missing: a store at the
// current version, as a filter opens it, costs one statement.
func (s *Store) migrateAll(ctx context.Context) error {
	if err := s.dialect.prepareVersion(ctx, s); err != nil {
		return err
	}
	if v, err := s.schemaVersionWait(ctx); err != nil || v == SchemaVersion {
		return err
	}
	return s.migrate(ctx, s.dialect.steps())
}

// migrate brings the database up to len(steps), one step per write
// transaction. A database already at len(steps) is not written to (nor
// locked). The version is read again inside each step's transaction, so
// concurrent openers apply each step exactly once.
func (s *Store) migrate(ctx context.Context, steps []migration) error {
	if err := s.dialect.prepareVersion(ctx, s); err != nil {
		return err
	}
	for {
		v, err := s.schemaVersionWait(ctx)
		if err != nil {
			return err
		}
		if v > len(steps) {
			return tooNew(v, len(steps))
		}
		if v == len(steps) {
			return nil
		}
		err = s.writeConn(ctx, steps[v].rebuild, func(tx *sql.Tx) error {
			v, err := s.schemaVersion(ctx, tx)
			if err != nil {
				return err
			}
			if v > len(steps) {
				return tooNew(v, len(steps))
			}
			if v == len(steps) {
				return nil // another process finished meanwhile
			}
			return s.applyStep(ctx, tx, v, steps[v])
		})
		if err != nil {
			return err
		}
	}
}

// tooNew is ErrSchemaTooNew for a database at version v.
func tooNew(v, known int) error {
	return pkgerr.Mark(fmt.Sprintf("database schema version %d is newer than this program's %d: upgrade tlsrpt", v, known), nil, ErrSchemaTooNew)
}

// queryRower is a *sql.DB or a *sql.Tx.
type queryRower interface {
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}

// schemaVersion reads the number of steps applied.
func (s *Store) schemaVersion(ctx context.Context, q queryRower) (int, error) {
	var v int
	if err := q.QueryRowContext(ctx, s.dialect.versionQuery()).Scan(&v); err != nil {
		return 0, fmt.Errorf("reading schema version: %w", err)
	}
	return v, nil
}

// schemaVersionWait reads the schema version, waiting up to BusyTimeout
// while another process holds the database: SQLite answers SQLITE_BUSY at
// once, without its busy handler, while a new database file is switched to
// WAL or a WAL file is recovered, which 32 filters starting together on a
// fresh file hit.
func (s *Store) schemaVersionWait(ctx context.Context) (int, error) {
	var v int
	_, err := retryBusy(ctx, time.Now().Add(BusyTimeout), 0, func(int, time.Duration) error {
		var err error
		v, err = s.schemaVersion(ctx, s.db)
		return err
	})
	return v, err
}

// setSchemaVersion records that v steps are applied.
func (s *Store) setSchemaVersion(ctx context.Context, tx *sql.Tx, v int) error {
	if err := s.dialect.setVersion(ctx, tx, v); err != nil {
		return fmt.Errorf("setting schema version %d: %w", v, err)
	}
	return nil
}

// applyStep applies m, the step from version v to v+1, in tx.
func (s *Store) applyStep(ctx context.Context, tx *sql.Tx, v int, m migration) error {
	if _, err := tx.ExecContext(ctx, m.sql); err != nil {
		return fmt.Errorf("migrating schema to version %d (%s): %w", v+1, m.name, err)
	}
	if m.fn != nil {
		if err := m.fn(ctx, tx); err != nil {
			return fmt.Errorf("migrating schema to version %d (%s): %w", v+1, m.name, err)
		}
	}
	if m.rebuild {
		bad, err := s.dialect.foreignKeysBroken(ctx, tx)
		if err != nil {
			return fmt.Errorf("checking foreign keys after version %d (%s): %w", v+1, m.name, err)
		}
		if bad {
			return fmt.Errorf("migrating schema to version %d (%s): foreign keys broken", v+1, m.name)
		}
	}
	return s.setSchemaVersion(ctx, tx, v+1)
}

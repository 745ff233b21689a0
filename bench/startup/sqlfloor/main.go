// Command sqlfloor is the floor under `tlsrpt filter` in the start-up
// comparison (docs/performance.md, "Start-up"): the least a Go process
// can do to keep a message in an existing SQLite file with the store's
// connection settings (WAL, synchronous=NORMAL, BEGIN IMMEDIATE, busy
// timeout). It reads the message, stores it whole as one row in one
// transaction, closes the database (which checkpoints and removes the
// write-ahead log, as every tlsrpt run does) and writes the message to
// standard output. No parsing, no summary, no advice: whatever tlsrpt
// filter costs above this is its own work.
//
//	sqlfloor FILE <message >message
package main

import (
	"database/sql"
	"fmt"
	"io"
	"os"

	_ "github.com/mattn/go-sqlite3"
)

func main() {
	if len(os.Args) != 2 {
		fmt.Fprintln(os.Stderr, "usage: sqlfloor FILE <message")
		os.Exit(2)
	}
	if err := run(os.Args[1], os.Stdin, os.Stdout); err != nil {
		fmt.Fprintf(os.Stderr, "sqlfloor: %v\n", err)
		os.Exit(1)
	}
}

func run(path string, in io.Reader, out io.Writer) error {
	msg, err := io.ReadAll(io.LimitReader(in, 64<<20))
	if err != nil {
		return err
	}
	db, err := sql.Open("sqlite3", "file:"+path+
		"?_busy_timeout=5000&_journal_mode=WAL&_foreign_keys=on&_txlock=immediate&_synchronous=NORMAL")
	if err != nil {
		return err
	}
	defer db.Close()
	tx, err := db.Begin()
	if err != nil {
		return err
	}
	if _, err := tx.Exec(`CREATE TABLE IF NOT EXISTS messages (id INTEGER PRIMARY KEY, body BLOB NOT NULL)`); err != nil {
		tx.Rollback()
		return err
	}
	if _, err := tx.Exec(`INSERT INTO messages (body) VALUES (?)`, msg); err != nil {
		tx.Rollback()
		return err
	}
	if err := tx.Commit(); err != nil {
		return err
	}
	if err := db.Close(); err != nil {
		return err
	}
	_, err = out.Write(msg)
	return err
}

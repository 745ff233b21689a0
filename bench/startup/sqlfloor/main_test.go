package main

import (
	"bytes"
	"database/sql"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// TestRunKeepsEveryMessage: each run passes the message through unchanged
// and adds it as a row of its own to the same file, so the floor does the
// work it stands for (a write that lasts), not less.
func TestRunKeepsEveryMessage(t *testing.T) {
	msgs := []string{"Subject: one\r\n\r\nbody\r\n", "Subject: two\r\n\r\n\x00\xff\r\n"}
	path := filepath.Join(t.TempDir(), "floor.db")
	for _, m := range msgs {
		var out bytes.Buffer
		if err := run(path, strings.NewReader(m), &out); err != nil {
			t.Fatal(err)
		}
		if out.String() != m {
			t.Fatalf("output %q, want the message %q", out.String(), m)
		}
	}
	if got := stored(t, path); !slices.Equal(got, msgs) {
		t.Fatalf("stored %q, want %q", got, msgs)
	}
}

// stored reads the messages kept in the file at path, in order.
func stored(t *testing.T, path string) []string {
	t.Helper()
	db, err := sql.Open("sqlite3", "file:"+path+"?mode=ro")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	rows, err := db.Query(`SELECT body FROM messages ORDER BY id`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var got []string
	for rows.Next() {
		var b []byte
		if err := rows.Scan(&b); err != nil {
			t.Fatal(err)
		}
		got = append(got, string(b))
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return got
}

package migratedb

import (
	"path/filepath"
	"strings"
	"testing"

	"github.com/tlsrpt/tlsrpt/internal/cmd/cmdtest"
)

// TestFlags: migrate-db's command line into Options; both ends are
// required.
func TestFlags(t *testing.T) {
	cmdtest.Table(t, NewCmdMigrateDB, []string{"--from", "a.db", "--to", "b.db"}, []cmdtest.Case[Options]{
		{Args: nil, Want: func(o *Options) { o.From, o.To = "a.db", "b.db" }},
		{Args: []string{"--to", "postgres://db.example/tlsrpt"}, Want: func(o *Options) { o.From, o.To = "a.db", "postgres://db.example/tlsrpt" }},
		{Args: []string{"--from", ""}, Refused: []string{"give --from SQLITE-FILE and --to URL"}},
		{Args: []string{"c.db"}, Refused: []string{`unexpected argument "c.db"`}},
	})
	for _, args := range [][]string{nil, {"--from", "a.db"}, {"--to", "postgres://db.example/tlsrpt"}} {
		_, err := cmdtest.Parse(cmdtest.New(t).F, NewCmdMigrateDB, args...)
		cmdtest.Refused(t, err, "give --from SQLITE-FILE and --to URL")
	}
}

// TestRunOutput: options to output. A PostgreSQL source is refused naming
// --from, its password masked; a SQLite store is copied into another
// SQLite file with the counts of each table.
func TestRunOutput(t *testing.T) {
	e := cmdtest.New(t)
	err := cmdtest.Run(t, e, NewCmdMigrateDB, Run, "--from", "postgres://u:s3cret@db.example/t", "--to", "x.db")
	cmdtest.Refused(t, err, "--from postgres://", "want a SQLite file")
	if strings.Contains(err.Error(), "s3cret") {
		t.Errorf("the password shows: %v", err)
	}
	e.Seed(t)
	to := filepath.Join(t.TempDir(), "copy.db")
	if err := cmdtest.Run(t, e, NewCmdMigrateDB, Run, "--from", e.DB, "--to", to); err != nil {
		t.Fatal(err)
	}
	out := e.Out.String()
	for _, want := range []string{"reports ", "1 rows copied, as many as the source", "copied " + e.DB + " into " + to} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
}

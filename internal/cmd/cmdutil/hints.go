package cmdutil

import (
	"errors"
	"fmt"
	"io/fs"

	"github.com/tlsrpt/tlsrpt/store"
)

// hints are the fixes the command layer knows for the store's errors; the
// store names what went wrong, the command says what to do.
var hints = []struct {
	kind error
	fix  string
}{
	{store.ErrNoDatabase, "nothing is recorded yet: tlsrpt filter or tlsrpt import creates it; or choose another with --db"},
	{store.ErrNotDatabase, "that file is not a tlsrpt database: choose another with --db or $TLSRPT_DB"},
	{store.ErrSchemaOld, "run a writing command once as the database's owner (tlsrpt import, or tlsrpt filter)"},
	{store.ErrSchemaTooNew, "upgrade tlsrpt"},
	{store.ErrReadOnly, "run as a user who may write it, or choose another file with --db"},
	{store.ErrBusy, "another tlsrpt holds the database; try again"},
	{store.ErrUnavailable, "check the server, the URL and the password (~/.pgpass)"},
	{fs.ErrPermission, "run as a user who may write it, or choose another file with --db"},
}

// Explain adds the fix to an error whose kind the command layer knows.
func Explain(err error) error {
	if err == nil {
		return nil
	}
	for _, h := range hints {
		if errors.Is(err, h.kind) {
			return fmt.Errorf("%w (%s)", err, h.fix)
		}
	}
	return err
}

package cmdutil

import (
	"errors"
	"os"
	"path/filepath"

	"github.com/tlsrpt/tlsrpt/store"
)

// CheckCacheName is the file of allowlist check's DNS cache in the state
// folder of the user who runs it.
const CheckCacheName = "check-cache.db"

// CheckCachePath locates allowlist check's DNS cache: CheckCacheName in
// this user's state folder (StateDir), a file of its own, so that root
// running the check for fail2ban never creates or writes the shared
// database. It is an error when that file would be the database itself.
func (f *Factory) CheckCachePath() (string, error) {
	state, err := StateDir()
	if err != nil {
		return "", err
	}
	path := filepath.Join(state, CheckCacheName)
	if loc, err := f.DBLocation(); err == nil && SameFile(path, loc) {
		return "", errors.New("the DNS cache of allowlist check would be the database " + loc + ": choose another --db or $XDG_STATE_HOME")
	}
	return path, nil
}

// SameFile reports whether the SQLite locations a and b name one file:
// the same absolute path, or the same file through a link.
func SameFile(a, b string) bool {
	if eng, err := store.EngineOf(b); err != nil || eng != store.SQLite {
		return false
	}
	aa, err1 := filepath.Abs(a)
	ab, err2 := filepath.Abs(b)
	if err1 == nil && err2 == nil && aa == ab {
		return true
	}
	fa, err1 := os.Stat(a)
	fb, err2 := os.Stat(b)
	return err1 == nil && err2 == nil && os.SameFile(fa, fb)
}

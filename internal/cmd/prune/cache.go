package prune

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"time"

	"github.com/tlsrpt/tlsrpt/internal/cmd/cmdutil"
	"github.com/tlsrpt/tlsrpt/store"
)

// CacheGrace is how long past its TTL a DNS cache entry is kept: the
// resolver serves such stale answers while DNS does not answer, so that
// fail2ban's check still decides during an outage.
const CacheGrace = 7 * 24 * time.Hour

// pruneCaches removes the DNS cache entries expired more than CacheGrace
// ago, in the database's cache and in allowlist check's own file (when it
// exists: prune never creates it), and says how many.
func pruneCaches(ctx context.Context, o *Options, st *store.Store) error {
	before := o.F.Now().UTC().Add(-CacheGrace)
	n, err := st.PruneCache(ctx, before)
	if err != nil {
		return err
	}
	fmt.Fprintf(o.F.IO.Out, "removed %s expired before %s from the DNS cache of %s\n",
		cmdutil.Plural(n, "entry", "entries"), before.Format("2006-01-02"), st.File())
	path, err := o.F.CheckCachePath()
	if err != nil {
		return nil // no state folder: no check cache here
	}
	if _, err := os.Stat(path); errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	c, err := store.OpenExisting(path)
	if err != nil {
		return cmdutil.Explain(err)
	}
	defer c.Close()
	if n, err = c.PruneCache(ctx, before); err != nil {
		return err
	}
	fmt.Fprintf(o.F.IO.Out, "removed %s expired before %s from the DNS cache of allowlist check %s\n",
		cmdutil.Plural(n, "entry", "entries"), before.Format("2006-01-02"), path)
	return nil
}

// noDatabase says that there is nothing to prune when the database does
// not exist yet; prune never creates it.
func noDatabase(o *Options, err error) error {
	if !errors.Is(err, store.ErrNoDatabase) {
		return err
	}
	loc, _ := o.F.DBLocation()
	fmt.Fprintf(o.F.IO.Out, "nothing to prune: no database at %s yet\n", loc)
	return nil
}

package main

import (
	"context"
	"flag"

	"github.com/tlsrpt/tlsrpt/filter"
	"github.com/tlsrpt/tlsrpt/store"
)

// trustFlags are the flags that decide authentication and the allowlist,
// shared by filter, review, redeem and allowlist.
type trustFlags struct {
	authservIDs stringList
	resolver    string
	noDKIM      bool
	allowlists  stringList
	noDefault   bool
}

func (t *trustFlags) register(fs *flag.FlagSet) {
	fs.Var(&t.authservIDs, "trust-authserv-id", "trust Authentication-Results headers with this authserv-`id` (repeatable)")
	fs.StringVar(&t.resolver, "resolver", "", "send all DNS lookups to this `host:port`")
	fs.BoolVar(&t.noDKIM, "no-dkim", false, "do not verify DKIM signatures (rely on --trust-authserv-id)")
	fs.Var(&t.allowlists, "allowlist", "allowlist `file` adding too-big-to-block senders (repeatable)")
	fs.BoolVar(&t.noDefault, "no-default-allowlist", false, "drop the built-in allowlist")
}

// configure sets the filter's authentication and advice hooks.
func (t *trustFlags) configure(ctx context.Context, opt *filter.Options, st func() *store.Store) {
}

package main

import (
	"context"
	"errors"
	"flag"
	"io"
	"strings"

	"github.com/tlsrpt/tlsrpt/allowlist"
	"github.com/tlsrpt/tlsrpt/filter"
	"github.com/tlsrpt/tlsrpt/report"
	"github.com/tlsrpt/tlsrpt/store"
)

func init() {
	register("filter", "annotate one report message from stdin (a maildrop xfilter)", runFilter)
}

// filterFlags are the flags of tlsrpt filter.
type filterFlags struct {
	db              string
	maxMessage      int64
	maxDecompressed int64
	trust           trustFlags
}

// runFilter never fails the delivery: whatever happens, the message goes
// to stdout and the status is 0, unless stdout itself cannot be written
// (then 75, EX_TEMPFAIL, so that maildrop defers the message).
func runFilter(args []string, std stdio) int {
	var f filterFlags
	fs := flag.NewFlagSet("tlsrpt filter", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	fs.StringVar(&f.db, "db", "", "SQLite database `path` (default $TLSRPT_DB, else $XDG_STATE_HOME/tlsrpt/tlsrpt.db)")
	fs.Int64Var(&f.maxMessage, "max-message", report.DefaultLimits.MaxMessage, "largest message in `bytes` to check; larger ones pass unchecked")
	fs.Int64Var(&f.maxDecompressed, "max-decompressed", report.DefaultLimits.MaxDecompressed, "largest decompressed report in `bytes`")
	f.trust.register(fs)
	if err := fs.Parse(args); err != nil {
		if err == flag.ErrHelp {
			fs.SetOutput(std.err)
			fs.PrintDefaults()
		}
		return passThrough(std, "tlsrpt filter misconfigured: "+err.Error())
	}
	ctx := context.Background()
	db := &lazyStore{path: f.db}
	defer db.close()
	opt := filter.Options{
		Limits: report.Limits{MaxMessage: f.maxMessage, MaxDecompressed: f.maxDecompressed},
		Record: func() (filter.Recorder, error) {
			st, err := db.get()
			if err != nil {
				return nil, err
			}
			return st, nil
		},
	}
	budget, cancel := context.WithTimeout(ctx, allowlist.DefaultBudget)
	defer cancel()
	if err := f.trust.configure(&opt, budget, db.orNil); err != nil {
		return passThrough(std, "tlsrpt filter misconfigured: "+err.Error())
	}
	res, err := filter.Run(ctx, std.in, std.out, opt)
	if len(res.Problems) > 0 {
		errorf(std.err, "filter: %s", strings.Join(res.Problems, "; "))
	}
	if err != nil {
		errorf(std.err, "filter: %v", err)
		if errors.Is(err, filter.ErrOutput) {
			return exTempFail
		}
	}
	return 0
}

// exTempFail (EX_TEMPFAIL) makes maildrop defer a message the filter could
// not write whole, rather than deliver it truncated.
const exTempFail = 75

// lazyStore opens the database on first use, once: a message without
// reports never touches it, and a failed open is not retried.
type lazyStore struct {
	path string
	st   *store.Store
	err  error
	done bool
}

func (l *lazyStore) get() (*store.Store, error) {
	if !l.done {
		l.done = true
		l.st, l.err = openStore(l.path)
	}
	return l.st, l.err
}

// orNil returns the store, or nil when it cannot be opened.
func (l *lazyStore) orNil() *store.Store {
	st, _ := l.get()
	return st
}

func (l *lazyStore) close() {
	if l.st != nil {
		l.st.Close()
	}
}

// passThrough copies stdin to stdout with a problem header, for a filter
// that cannot do its job (bad flags): the message is never lost.
func passThrough(std stdio, problem string) int {
	errorf(std.err, "filter: %s; the message is passed through unchecked", problem)
	if err := filter.Pass(std.in, std.out, problem); err != nil {
		errorf(std.err, "filter: %v", err)
		return exTempFail
	}
	return 0
}

package main

import (
	"bytes"
	"context"
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
	var st *store.Store
	var openErr error
	defer func() {
		if st != nil {
			st.Close()
		}
	}()
	opt := filter.Options{
		Limits: report.Limits{MaxMessage: f.maxMessage, MaxDecompressed: f.maxDecompressed},
		Record: func() (filter.Recorder, error) {
			if st != nil {
				return st, nil
			}
			if openErr != nil {
				return nil, openErr
			}
			st, openErr = openStore(f.db)
			if openErr != nil {
				return nil, openErr
			}
			return st, nil
		},
	}
	budget, cancel := context.WithTimeout(ctx, allowlist.DefaultBudget)
	defer cancel()
	if err := f.trust.configure(&opt, budget, func() *store.Store {
		if st == nil {
			opt.Record() // opens st, or leaves it nil on error
		}
		return st
	}); err != nil {
		return passThrough(std, "tlsrpt filter misconfigured: "+err.Error())
	}
	res, err := filter.Run(ctx, std.in, std.out, opt)
	if len(res.Problems) > 0 {
		errorf(std.err, "filter: %s", strings.Join(res.Problems, "; "))
	}
	if err != nil {
		errorf(std.err, "filter: %v", err)
		if strings.HasPrefix(err.Error(), "writing") || strings.HasPrefix(err.Error(), "copying") {
			return 75
		}
	}
	return 0
}

// passThrough copies stdin to stdout with a problem header, for a filter
// that cannot do its job (bad flags): the message is never lost.
func passThrough(std stdio, problem string) int {
	errorf(std.err, "filter: %s; the message is passed through unchecked", problem)
	var buf bytes.Buffer
	buf.WriteString(filter.HeaderName + ": " + problem + "\n")
	if _, err := io.Copy(std.out, io.MultiReader(&buf, std.in)); err != nil {
		errorf(std.err, "filter: writing message: %v", err)
		return 75
	}
	return 0
}

package main

import (
	"context"
	"errors"
	"os"
	"strings"

	"github.com/rogpeppe/go-internal/testscript"

	"github.com/tlsrpt/tlsrpt/arrival"
	"github.com/tlsrpt/tlsrpt/dmarc"
	"github.com/tlsrpt/tlsrpt/report"
	"github.com/tlsrpt/tlsrpt/store"
)

// cmdStoreReport is a script's "storereport DB SIGNER FILE...": it stores
// each file, a DMARC aggregate report (XML, gzip or zip) or a TLS report
// (JSON), into the store at DB through the store's own AddDMARC and
// AddReport, as authenticated by SIGNER, or unauthenticated for "-" (a
// claimed From domain may follow: "-:google.com"). It stands in for the
// filter, which signs, so that scripts can state who signed what.
func cmdStoreReport(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) < 3 {
		ts.Fatalf("usage: storereport DB SIGNER|-[:FROM] FILE...")
	}
	st, err := store.Open(ts.MkAbs(args[0]))
	ts.Check(err)
	defer st.Close()
	src := arrival.Source{Transport: "mail"}
	if claimed, ok := strings.CutPrefix(args[1], "-"); ok {
		src.FromDomain = strings.TrimPrefix(claimed, ":")
	} else {
		src.FromDomain = args[1]
		src.Auth = arrival.Auth{Authenticated: true, Method: "dkim", Domain: args[1], Detail: "dkim=pass d=" + args[1]}
	}
	ctx := context.Background()
	for _, name := range args[2:] {
		data, err := os.ReadFile(ts.MkAbs(name))
		ts.Check(err)
		r, err := dmarc.Parse(strings.NewReader(string(data)), dmarc.Limits{})
		if errors.Is(err, dmarc.ErrNotDMARC) {
			rs, err := report.Decode(data, name, "", report.Limits{})
			ts.Check(err)
			for _, r := range rs {
				_, _, err := st.AddReport(ctx, r, src)
				ts.Check(err)
			}
			continue
		}
		ts.Check(err)
		_, _, err = st.AddDMARC(ctx, r, src)
		ts.Check(err)
	}
}

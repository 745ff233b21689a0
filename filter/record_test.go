package filter

import (
	"bytes"
	"context"
	"testing"

	"github.com/tlsrpt/tlsrpt/arrival"
	"github.com/tlsrpt/tlsrpt/internal/storetest"
	"github.com/tlsrpt/tlsrpt/report"
)

// TestUpgradeCountsAsStored: the same reports filtered unauthenticated,
// then authenticated (the store keeps the authenticated copies in place
// of the others: arrival.Upgraded), then authenticated again, count as
// stored, stored, known.
func TestUpgradeCountsAsStored(t *testing.T) {
	raw := readSample(t, "two-reports.eml")
	st := storetest.Open(t)
	run := func(auth arrival.Auth) Result {
		opt := storing(st)
		opt.Authenticate = func(context.Context, []byte, *report.Message) arrival.Auth { return auth }
		res, err := Run(context.Background(), bytes.NewReader(raw), new(bytes.Buffer), opt)
		if err != nil {
			t.Fatalf("Run: %v", err)
		}
		return res
	}
	dkim := arrival.Auth{Authenticated: true, Method: "dkim", Domain: "google.com", Detail: "dkim pass"}
	for i, tc := range []struct {
		auth          arrival.Auth
		stored, known int
	}{
		{arrival.Auth{Detail: "no DKIM signature"}, 2, 0},
		{dkim, 2, 0}, // upgraded
		{dkim, 0, 2},
	} {
		if res := run(tc.auth); res.Stored != tc.stored || res.Dups != tc.known || len(res.Problems) > 0 {
			t.Errorf("run %d: stored %d, known %d, problems %q; want %d, %d, none", i+1, res.Stored, res.Dups, res.Problems, tc.stored, tc.known)
		}
	}
}

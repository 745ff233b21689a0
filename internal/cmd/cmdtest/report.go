package cmdtest

import (
	"testing"
	"time"

	"github.com/tlsrpt/tlsrpt/arrival"
	"github.com/tlsrpt/tlsrpt/dmarc"
	"github.com/tlsrpt/tlsrpt/internal/dmarctest"
	"github.com/tlsrpt/tlsrpt/store"
)

// AddDMARC stores the DMARC aggregate report r, as it arrived (src), in
// the database DB, creating it, as received at storedAt.
func (e *Env) AddDMARC(t testing.TB, storedAt time.Time, r *dmarc.Report, src arrival.Source) {
	t.Helper()
	e.Fill(t, func(st *store.Store) { dmarctest.Add(t, st, storedAt, r, src) })
}

package digest

import (
	"bytes"
	"context"
	"testing"

	"github.com/tlsrpt/tlsrpt/store"
)

// compute makes the digest of st with opt, failing t when it cannot.
func compute(t *testing.T, st *store.Store, opt Options) Digest {
	t.Helper()
	d, err := Compute(context.Background(), st, opt)
	if err != nil {
		t.Fatal(err)
	}
	return d
}

// mailText is d's text, as the digest mail carries it, failing t when
// it cannot be written.
func mailText(t *testing.T, d Digest) string {
	t.Helper()
	var b bytes.Buffer
	if err := d.WriteText(&b); err != nil {
		t.Fatal(err)
	}
	return b.String()
}

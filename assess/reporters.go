package assess

import (
	"github.com/tlsrpt/tlsrpt/allowlist"
	"github.com/tlsrpt/tlsrpt/store"
)

// Reporters converts the store's reporters of an address for the
// allowlist: one entry per source, standing for its reports. Judge gives
// the same verdict as on Evidence's one entry per report, since it
// weighs the reports' count and each source's first report only.
func Reporters(rs []store.Reporter) []allowlist.Evidence {
	out := make([]allowlist.Evidence, len(rs))
	for i, r := range rs {
		out[i] = allowlist.Evidence{
			Organization: r.Organization, ContactInfo: r.ContactInfo, Submitter: r.Submitter,
			FromDomain: r.FromDomain, Auth: r.Auth, Transport: r.Transport, Reports: r.Reports,
		}
	}
	return out
}

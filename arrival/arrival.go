// Package arrival is what a report is when it arrives, apart from what it
// says: how it came (mail, HTTPS, import), who submitted it and whether
// that is authenticated. The report models (report for TLS reports, dmarc
// for DMARC aggregate reports) say what a report says; the store, the
// spool and the filter take an arrival.Source beside it.
package arrival

import (
	"context"
	"time"

	"github.com/tlsrpt/tlsrpt/dmarc"
	"github.com/tlsrpt/tlsrpt/report"
)

// Recorder takes reports with how they arrived: the one interface the
// filter, import, serve and the spool hand reports to. Each method
// returns the report's key and what storing it did: New, Duplicate, or
// Upgraded (an authenticated copy stored in place of unauthenticated
// ones). *store.Store implements it, and so does spool.Recorder, which
// keeps a report in the spool when the store cannot take it (and returns
// New for it: the report is kept, to be stored later).
type Recorder interface {
	// AddReportResult stores a TLS report and says how it was added.
	AddReportResult(ctx context.Context, r *report.Report, src Source) (id int64, added Added, err error)
	// AddDMARCResult stores a DMARC aggregate report as AddReportResult
	// does.
	AddDMARCResult(ctx context.Context, r *dmarc.Report, src Source) (id int64, added Added, err error)
}

// Source says how a report arrived and whether it is authenticated.
type Source struct {
	Transport  string // "mail", "https", "import"
	Submitter  string // TLS-Report-Submitter header
	FromDomain string // domain of From
	MessageID  string
	Received   time.Time
	Auth       Auth
}

// Auth is the authentication verdict on a report message.
type Auth struct {
	Authenticated bool
	Method        string // "dkim", "authres" or "" (none)
	Domain        string // authenticated domain, e.g. "google.com"
	Detail        string // one line: why / why not
}

// Added tells what storing a report did.
type Added int

// The outcomes of storing a report (Recorder.AddReportResult).
const (
	New       Added = iota // stored: no copy of it was
	Duplicate              // a copy was stored already; nothing changed
	Upgraded               // stored in place of unauthenticated copies of it
)

// ClockSkew is how far in the future a time a report or its message
// claims (the end of its date range, when it was received) may be and
// still be believed: a day. A later one (a forged report dated 2099, a
// reporter with a broken clock) is not believed.
const ClockSkew = 24 * time.Hour

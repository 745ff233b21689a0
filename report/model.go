package report

import (
	"fmt"
	"net/netip"
	"time"

	"github.com/tlsrpt/tlsrpt/internal/mimewalk"
	"github.com/tlsrpt/tlsrpt/internal/pkgerr"
	"github.com/tlsrpt/tlsrpt/internal/tally"
)

// ErrNoReport is returned when the input holds no TLS report at all: a
// message with no report part, or bytes that are not a report.
var ErrNoReport = pkgerr.New("report", "no TLS report found")

// ErrTooLarge is returned when a message, an attachment or its decompressed
// content exceeds the configured Limits.
var ErrTooLarge = pkgerr.New("report", "input exceeds size limit")

// ErrGzip marks an error decompressing a gzip report: the input is not
// gzip, or is cut short.
var ErrGzip = pkgerr.New("report", "bad gzip")

// ErrJSON marks an error parsing a JSON report: bad syntax, a member of the
// wrong type, an invalid address or count.
var ErrJSON = pkgerr.New("report", "bad JSON report")

// A LimitError is an input past one of the Limits that count things: the
// field of Limits it passed (Limit: "MaxDetails", "MaxPolicies") and its
// value, for the caller to say how to raise it. It comes wrapped with
// ErrTooLarge.
type LimitError struct {
	Limit string // the field of Limits
	Max   int    // its value
	What  string // what was counted, in words: "failure details", "policies"
}

func (e *LimitError) Error() string {
	return fmt.Sprintf("more than %d %s in one input", e.Max, e.What)
}

// Report is one SMTP TLS report (RFC 8460 section 4), in a clean internal
// form: the reporters' deviations from the RFC are already smoothed over by
// the wire types in json.go.
type Report struct {
	OrganizationName string
	ContactInfo      string // may be empty (some small MTAs send null)
	ReportID         string
	Start, End       time.Time // date-range, always in UTC
	Policies         []Policy
}

// Policy is one policy block of a report with its summary and details.
type Policy struct {
	Type    string   // "sts", "tlsa" or "no-policy-found"
	Strings []string // policy-string lines, flattened when a reporter nests them
	Domain  string   // policy-domain
	MXHosts []string // mx-host, however the reporter encoded it

	Successful int64 // total-successful-session-count
	Failed     int64 // total-failure-session-count

	Details []FailureDetail
}

// FailureDetail is one failure-details entry.
type FailureDetail struct {
	ResultType            string     // e.g. "certificate-expired", "validation-failure"
	SendingMTAIP          netip.Addr // invalid (zero) when the reporter did not give one
	ReceivingMXHostname   string
	ReceivingMXHelo       string
	ReceivingIP           netip.Addr // invalid (zero) when absent
	FailedSessions        int64      // failed-session-count
	AdditionalInformation string
	FailureReasonCode     string
}

// TotalFailed is the sum of total-failure-session-count over all policies.
func (r *Report) TotalFailed() int64 {
	var n int64
	for _, p := range r.Policies {
		n += p.Failed
	}
	return n
}

// TotalSuccessful is the sum of total-successful-session-count over all
// policies.
func (r *Report) TotalSuccessful() int64 {
	var n int64
	for _, p := range r.Policies {
		n += p.Successful
	}
	return n
}

// Limits bounds what the decoders read. The zero value means DefaultLimits.
type Limits struct {
	MaxMessage      int64 // bytes of one message, as read
	MaxDecompressed int64 // bytes after decompression, all reports of one message or Decode input together
	MaxReports      int   // reports taken from one message or archive
	MaxDetails      int   // failure details, all reports of one message or Decode input together
	MaxPolicies     int   // policies, all reports of one message or Decode input together
}

// DefaultLimits are generous for real reports (the largest seen are a few
// hundred KiB decompressed) and small enough that a bomb is refused fast.
var DefaultLimits = Limits{
	MaxMessage:      32 << 20,
	MaxDecompressed: 16 << 20,
	MaxReports:      1000, // real messages carry one; a bound no real message reaches
	// A detail or a policy can be two bytes ({}) that decode to 140:
	// without a bound, a 20 KB gzip message of 5 million empty details
	// took 3.4 GB and 50 s, a 200 KB zip of 1,000 reports of 1,000 empty
	// policies 15 s and 630 MB. 50,000 details is ten times the largest
	// report seen, and what one message up to 1 MB may cost (under a
	// second, 64 MiB); a report of exactly 50,000 is read.
	MaxDetails: 50_000,
	// A real report has a policy or two per policy domain; 10,000 is ten
	// for each of the most reports one message may carry, and costs less
	// than the details' bound.
	MaxPolicies: 10_000,
}

// orDefault fills in zero fields from DefaultLimits.
func (l Limits) orDefault() Limits {
	d := DefaultLimits
	l.MaxMessage = tally.OrDefault(l.MaxMessage, d.MaxMessage)
	l.MaxDecompressed = tally.OrDefault(l.MaxDecompressed, d.MaxDecompressed)
	l.MaxReports = tally.OrDefault(l.MaxReports, d.MaxReports)
	l.MaxDetails = tally.OrDefault(l.MaxDetails, d.MaxDetails)
	l.MaxPolicies = tally.OrDefault(l.MaxPolicies, d.MaxPolicies)
	return l
}

// Message is what a mail message tells about the reports it carries.
type Message struct {
	Submitter string // TLS-Report-Submitter header, as given
	Domain    string // TLS-Report-Domain header, as given

	// The fields From (address in From, lower case), FromDomain,
	// Subject, MessageID and Found, every part that is or looks like a
	// report in message order (a part that looked like a report but
	// could not be read has Err set and Report nil), and the methods
	// Reports and Errs, as the DMARC parser has them.
	mimewalk.Message[Report]
}

// Found is one report part of a message, or one file of an archive.
type Found = mimewalk.Found[Report]

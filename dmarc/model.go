package dmarc

import (
	"net/netip"
	"time"

	"github.com/tlsrpt/tlsrpt/internal/pkgerr"
	"github.com/tlsrpt/tlsrpt/internal/tally"
)

// ErrNotDMARC is returned when the input is not a DMARC aggregate report
// at all: neither XML, gzip nor zip, XML whose root element is not
// feedback, or a message with no part holding a report.
var ErrNotDMARC = pkgerr.New("dmarc", "not a DMARC aggregate report")

// ErrTooLarge is returned when the input exceeds one of the Limits.
var ErrTooLarge = pkgerr.New("dmarc", "input exceeds a limit")

// ErrDTD is returned for XML carrying a DOCTYPE: DTDs, and so entity
// declarations, internal or external, are never read.
var ErrDTD = pkgerr.New("dmarc", "DOCTYPE refused (DTDs and entities are never read)")

// Report is one DMARC aggregate report in a clean internal form.
type Report struct {
	Version  string // feedback/version, as given ("1.0"), may be empty
	Metadata Metadata
	Policy   PolicyPublished
	Records  []Record
}

// Metadata is report_metadata.
type Metadata struct {
	// Reporter names who sent the report: OrgName, or the domain of
	// Email when a reporter leaves org_name empty.
	Reporter         string
	OrgName          string // as given, trimmed; may be empty
	Email            string
	ExtraContactInfo string
	ReportID         string
	Begin, End       time.Time // date_range, in UTC
	Errors           []string  // error elements
	Generator        string    // RFC 9990 generator
}

// PolicyPublished is policy_published: the DMARC record the reporter
// found for the domain. Enumerations are lower case.
type PolicyPublished struct {
	Domain          string
	ADKIM           string // "r" or "s", empty when absent
	ASPF            string // "r" or "s", empty when absent
	P               string // "none", "quarantine" or "reject"
	SP              string
	NP              string // RFC 9990
	Pct             int    // 0 to 100; -1 when absent or unreadable (RFC 9990 has none)
	FO              string
	Testing         string // RFC 9990: "y" or "n"
	DiscoveryMethod string // RFC 9990: "psl" or "treewalk"
}

// Record is one record: messages from one source with one outcome.
type Record struct {
	SourceIP netip.Addr // always valid: a record without one is refused
	Count    int64      // messages, 0 to MaxCount

	// PolicyEvaluated, as the reporter evaluated it.
	Disposition string // "none", "quarantine", "reject" (RFC 9990: "pass" too)
	DKIM        string // aligned DKIM: "pass" or "fail"
	SPF         string // aligned SPF: "pass" or "fail"
	Reasons     []Reason

	HeaderFrom   string
	EnvelopeFrom string
	EnvelopeTo   string

	DKIMResults []DKIMResult
	SPFResults  []SPFResult
}

// MaxCount bounds the message count of one record: no reporter sees
// 10^12 messages from one source in a day, and 100,000 records of it
// still add up without overflow.
const MaxCount = 1_000_000_000_000

// Reason is a policy_evaluated/reason: why the disposition differs from
// the published policy.
type Reason struct {
	Type    string // "forwarded", "sampled_out", "trusted_forwarder", ...
	Comment string
}

// DKIMResult is one auth_results/dkim: a signature, aligned or not.
type DKIMResult struct {
	Domain      string
	Selector    string
	Result      string // "pass", "fail", "none", "neutral", ...
	HumanResult string
}

// SPFResult is one auth_results/spf.
type SPFResult struct {
	Domain      string
	Scope       string // "mfrom" or "helo", empty when absent
	Result      string
	HumanResult string
}

// DMARCPass reports whether the record's messages passed DMARC as the
// reporter evaluated it: aligned DKIM pass or aligned SPF pass.
func (r *Record) DMARCPass() bool {
	return r.DKIM == "pass" || r.SPF == "pass"
}

// Messages is the number of messages over all records.
func (r *Report) Messages() int64 {
	var n int64
	for i := range r.Records {
		n += r.Records[i].Count
	}
	return n
}

// Failed is the number of messages that failed DMARC over all records.
func (r *Report) Failed() int64 {
	var n int64
	for i := range r.Records {
		if !r.Records[i].DMARCPass() {
			n += r.Records[i].Count
		}
	}
	return n
}

// Limits bounds what is read. A zero field means its DefaultLimits value.
type Limits struct {
	MaxInput        int64 // bytes read: a file, or a whole message
	MaxDecompressed int64 // bytes of XML, after decompression (all reports of a message together)
	MaxZipMembers   int   // entries of one zip archive
	MaxReports      int   // reports taken from one message
	MaxRecords      int   // records (all reports of a message together)
	MaxElements     int   // XML elements (all reports of a message together)
	MaxChildElems   int   // elements inside one record or other child of feedback
	MaxDepth        int   // nesting of XML elements
	MaxText         int   // bytes between two '<': a text, comment or tag
}

// DefaultLimits are far above real reports (the largest seen hold a few
// thousand records, a few MiB of XML) and bound memory to what 100,000
// records cost.
var DefaultLimits = Limits{
	MaxInput:        64 << 20,
	MaxDecompressed: 64 << 20,
	MaxZipMembers:   16,
	MaxReports:      16,
	MaxRecords:      100_000,
	// A record has about 25 elements; four million is 100,000 of them
	// with room to spare.
	MaxElements: 4_000_000,
	// A record with many signatures has perhaps 60; a thousand stops a
	// record of a million auth_results before it costs memory.
	MaxChildElems: 1000,
	// feedback/record/auth_results/dkim/domain is 5 deep.
	MaxDepth: 32,
	// encoding/xml holds a whole text in memory before handing it on:
	// without this bound, 64 MiB of spaces in feedback cost 128 MiB.
	// No value of a report comes near 64 KiB.
	MaxText: 1 << 20,
}

// orDefault fills in zero fields from DefaultLimits.
func (l Limits) orDefault() Limits {
	d := DefaultLimits
	l.MaxInput = tally.OrDefault(l.MaxInput, d.MaxInput)
	l.MaxDecompressed = tally.OrDefault(l.MaxDecompressed, d.MaxDecompressed)
	l.MaxZipMembers = tally.OrDefault(l.MaxZipMembers, d.MaxZipMembers)
	l.MaxReports = tally.OrDefault(l.MaxReports, d.MaxReports)
	l.MaxRecords = tally.OrDefault(l.MaxRecords, d.MaxRecords)
	l.MaxElements = tally.OrDefault(l.MaxElements, d.MaxElements)
	l.MaxChildElems = tally.OrDefault(l.MaxChildElems, d.MaxChildElems)
	l.MaxDepth = tally.OrDefault(l.MaxDepth, d.MaxDepth)
	l.MaxText = tally.OrDefault(l.MaxText, d.MaxText)
	return l
}

// budget is what may still be read: shared by all reports of one input.
type budget struct {
	lim        Limits
	bytesLeft  int64 // decompressed XML bytes
	recordLeft int
	elemLeft   int
}

func newBudget(lim Limits) *budget {
	lim = lim.orDefault()
	return &budget{lim: lim, bytesLeft: lim.MaxDecompressed, recordLeft: lim.MaxRecords, elemLeft: lim.MaxElements}
}

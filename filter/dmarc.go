package filter

import (
	"archive/zip"
	"bytes"
	"compress/flate"
	"compress/gzip"
	"context"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/tlsrpt/tlsrpt/arrival"
	"github.com/tlsrpt/tlsrpt/dmarc"
	"github.com/tlsrpt/tlsrpt/neutral"
	"github.com/tlsrpt/tlsrpt/report"
)

// DMARCHeaderName is the header field the filter adds to a message
// holding DMARC aggregate reports: the number of messages that failed
// DMARC, absent when none did, or a short description of a problem.
const DMARCHeaderName = "DMARC-Report-Has-Failures"

// DefaultDMARCRecords bounds the records of the DMARC reports of one
// message (or file) that the filter and import read, when
// Options.DMARCLimits leaves MaxRecords zero: ten times a 1 MB report,
// well above the largest real ones. Reading a record costs about 50 µs
// and 1 KB while it is checked, so a small gzip-packed message of
// 100,000 records (the dmarc package's own bound) would cost seconds
// and 140 MiB to refuse; at this bound the refusal stays within what a
// 1 MB report may cost.
const DefaultDMARCRecords = 20_000

// readDMARC reads the DMARC reports of a message in which no TLS report
// could be read; ok says whether the message is to be treated as a DMARC
// report message (PreferDMARC).
func readDMARC(raw []byte, tls *report.Message, lim dmarc.Limits) (dm *dmarc.Message, ok bool, derr error) {
	dm, derr = dmarc.FromMessage(bytes.NewReader(raw), lim)
	if dm == nil {
		dm = &dmarc.Message{}
	}
	return dm, PreferDMARC(tls, dm), derr
}

// dmarcBeside names, for the log, the DMARC reports of a message read as
// a TLS report message: they are not recorded (import stores them), and
// must not go unsaid.
func dmarcBeside(raw []byte, lim dmarc.Limits) []string {
	dm, _ := dmarc.FromMessage(bytes.NewReader(raw), lim)
	if dm == nil || len(dm.Reports()) == 0 {
		return nil
	}
	n, noun := len(dm.Reports()), "report"
	if n > 1 {
		noun = "reports"
	}
	return []string{fmt.Sprintf("%d DMARC %s beside the TLS reports not recorded: "+
		"the filter reads a message as one kind (tlsrpt import of the message stores both)", n, noun)}
}

// PreferDMARC tells whether a message is a DMARC report message rather
// than a TLS report message, given what each reader found in it. A
// readable TLS report keeps the message a TLS one (the filter then
// behaves as it always has); otherwise a DMARC report read, or a part
// that only the DMARC reader took up, or one whose failure shows XML
// content (a bad element, a DOCTYPE, a bound) makes it a DMARC one. A
// part both readers fail on for its packing (a corrupt gzip stream)
// stays the TLS reader's problem, as before DMARC reports were read.
func PreferDMARC(tls *report.Message, dm *dmarc.Message) bool {
	switch {
	case len(tls.Reports()) > 0 || len(dm.Found) == 0:
		return false
	case len(dm.Reports()) > 0 || len(tls.Found) == 0:
		return true
	}
	for _, f := range dm.Found {
		if DMARCContentError(f.Err) {
			return true
		}
	}
	return false
}

// DMARCContentError reports whether err, from reading content as a DMARC
// report, was met in the XML itself or at a bound rather than in the
// gzip or zip packing around it: the content is a broken DMARC report,
// not something else that failed to unpack.
func DMARCContentError(err error) bool {
	var corrupt flate.CorruptInputError
	switch {
	case err == nil || errors.Is(err, dmarc.ErrNotDMARC):
		return false
	case errors.Is(err, gzip.ErrHeader), errors.Is(err, gzip.ErrChecksum),
		errors.Is(err, zip.ErrFormat), errors.Is(err, zip.ErrChecksum), errors.Is(err, zip.ErrAlgorithm),
		errors.Is(err, io.ErrUnexpectedEOF), errors.As(err, &corrupt):
		return false
	}
	return true
}

// annotateDMARC annotates a DMARC report message: the
// DMARC-Report-Has-Failures header, the summary, the recording.
func annotateDMARC(ctx context.Context, raw []byte, dm *dmarc.Message, derr error, opt Options, res Result) ([]byte, Result) {
	reports := dm.Reports()
	res.DMARC = true
	res.Reports = len(reports)
	res.Failures = dm.Failed()
	var problem bool
	res.Header, problem = foundValue(dm.Errs(), derr, dmarc.ErrTooLarge, res.Failures, dmarcText)
	res.Header = neutral.HeaderValue(res.Header)
	if problem {
		res.Problems = append(res.Problems, problemLine(dm.Errs(), derr, ""))
	}
	if len(reports) > 0 && opt.AuthenticateDMARC != nil {
		res.Auth = opt.AuthenticateDMARC(ctx, raw, dm)
	}
	res = recordDMARC(ctx, dm, reports, opt, res)
	return annotated(raw, DMARCSummary(dm, res.Auth, opt.now()), looksReport, DMARCHeaderName, res)
}

// dmarcText is an error's text without the package prefixes that say
// nothing to a reader of the header.
func dmarcText(err error) string {
	return strings.ReplaceAll(err.Error(), "dmarc: ", "")
}

// recordDMARC stores every DMARC report; a failure is a problem, never a
// lost message.
func recordDMARC(ctx context.Context, dm *dmarc.Message, reports []*dmarc.Report, opt Options, res Result) Result {
	src := arrival.Source{Transport: "mail", FromDomain: dm.FromDomain, MessageID: dm.MessageID}
	return recordAll(ctx, reports, src, opt, res, arrival.Recorder.AddDMARCResult)
}

// looksReport reports whether a text part is in fact a report: the JSON
// of a TLS report or the XML of a DMARC report that a reporter labels
// text/plain. The summary must not be appended to it.
func looksReport(raw []byte, e *entity) bool {
	if looksJSON(raw, e) {
		return true
	}
	body := bytes.TrimSpace(raw[e.bodyStart:e.bodyEnd])
	if e.cte() == "base64" {
		body = decodedHead(body)
	} else if e.cte() == "quoted-printable" {
		body = bytes.TrimPrefix(body, []byte("=EF=BB=BF"))
	}
	body = bytes.TrimPrefix(body, []byte("\xef\xbb\xbf"))
	return bytes.HasPrefix(body, []byte("<"))
}

// Package filter annotates one mail message holding SMTP TLS reports
// (RFC 8460): it adds a TLS-Report-Has-Failures header and a readable summary
// to the first text/plain part, records the reports, and leaves every other
// byte of the message as it came. It is what `tlsrpt filter`, a maildrop
// xfilter, runs.
//
// Whatever the input, Run writes the original message (plus the header, and
// the summary where one can be placed) and reports problems in its Result,
// never by losing the message.
package filter

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"strconv"
	"time"

	"github.com/tlsrpt/tlsrpt/arrival"
	"github.com/tlsrpt/tlsrpt/dmarc"
	"github.com/tlsrpt/tlsrpt/internal/pkgerr"
	"github.com/tlsrpt/tlsrpt/neutral"
	"github.com/tlsrpt/tlsrpt/report"
)

// HeaderName is the header field the filter adds.
const HeaderName = "TLS-Report-Has-Failures"

// ErrOutput marks the errors after which the message may not have been
// written whole; the caller must make the delivery fail temporarily (exit
// 75 for maildrop) rather than let a truncated message through.
var ErrOutput = pkgerr.New("filter", "message not written whole")

// Options configure Run. The zero value annotates with report.DefaultLimits,
// records nothing and authenticates nothing.
type Options struct {
	Limits report.Limits

	// Authenticate judges whether the message really comes from its
	// reporter; nil leaves every report unauthenticated.
	Authenticate func(ctx context.Context, raw []byte, msg *report.Message) arrival.Auth

	// DMARCLimits bound the reading of DMARC aggregate reports (zero
	// fields take dmarc.DefaultLimits, MaxRecords DefaultDMARCRecords;
	// MaxInput is Limits.MaxMessage).
	DMARCLimits dmarc.Limits

	// AuthenticateDMARC judges whether a message holding DMARC reports
	// really comes from its reporter; nil leaves them unauthenticated.
	AuthenticateDMARC func(ctx context.Context, raw []byte, msg *dmarc.Message) arrival.Auth

	// Record opens the store when there is something to record; nil
	// records nothing. It is called at most once per Run, so that a
	// message without reports never touches the database.
	Record func() (arrival.Recorder, error)

	// Advise returns the lines of advice for failing addresses (trusted
	// or why not, and the command to run), after the reports are
	// recorded; nil gives none. It is called once per message with the
	// MaxAddrs addresses of most failed sessions, so that its cost does
	// not grow with the size of a report.
	Advise func(ctx context.Context, ips []netip.Addr) []string

	// Now is the clock; nil means time.Now.
	Now func() time.Time

	// Explain adds to an error the fix the caller knows (the option that
	// raises a bound), for the header and the problems; nil adds none.
	Explain func(error) error
}

// explain is err with the fix the caller knows.
func (o Options) explain(err error) error {
	if o.Explain == nil || err == nil {
		return err
	}
	return o.Explain(err)
}

// now reads the clock.
func (o Options) now() time.Time {
	if o.Now != nil {
		return o.Now()
	}
	return time.Now()
}

// Result tells what Run did.
type Result struct {
	// DMARC is set when the message held DMARC aggregate reports (and no
	// TLS report): Header is then the DMARC-Report-Has-Failures value,
	// Failures counts messages that failed DMARC, Reports DMARC reports.
	DMARC    bool
	Header   string // value of the added header, "" when none was added
	Failures int64  // failed sessions over all reports read
	Reports  int    // reports read
	Stored   int    // reports newly recorded, or in place of unauthenticated copies
	Dups     int    // reports already recorded
	Auth     arrival.Auth
	Problems []string // one line each, for the log

	edit editMode // how the summary was placed
}

// Run reads one message from in and writes it, annotated, to out. Its error
// is non-nil only when the message could not be read to the end or written
// (then it wraps ErrOutput); everything else is in Result.Problems.
func Run(ctx context.Context, in io.Reader, out io.Writer, opt Options) (Result, error) {
	lim := opt.Limits
	if lim.MaxMessage <= 0 {
		lim.MaxMessage = report.DefaultLimits.MaxMessage
	}
	raw, readErr := io.ReadAll(io.LimitReader(in, lim.MaxMessage+1))
	if int64(len(raw)) > lim.MaxMessage {
		return passLarge(raw, in, out, lim.MaxMessage, opt)
	}
	if readErr != nil {
		// A message not read whole is never delivered cut: the caller
		// defers it (exit 75) and the MTA tries again.
		return Result{}, fmt.Errorf("%w: reading: %w", ErrOutput, readErr)
	}
	from, body := splitFromLine(raw)
	edited, res := annotateMessage(ctx, body, opt, lim, Result{})
	if _, err := out.Write(from); err != nil {
		return res, fmt.Errorf("%w: writing: %w", ErrOutput, err)
	}
	if _, err := out.Write(edited); err != nil {
		return res, fmt.Errorf("%w: writing: %w", ErrOutput, err)
	}
	return res, nil
}

// splitFromLine splits off an mbox "From " line (maildrop hands it to
// xfilters as it is): it stays first in the output, and the rest is the
// message.
func splitFromLine(raw []byte) (from, msg []byte) {
	if !bytes.HasPrefix(raw, []byte("From ")) || bytes.IndexByte(raw, '\n') < 0 {
		return nil, raw
	}
	at := nextLine(raw, 0, len(raw))
	return raw[:at], raw[at:]
}

// A MessageTooLargeError is a message over the bound of one message
// (report.Limits.MaxMessage), passed on unexamined.
type MessageTooLargeError struct{ Max int64 }

func (e *MessageTooLargeError) Error() string {
	return fmt.Sprintf("message too large to check (over %d bytes)", e.Max)
}

// passLarge writes a message over the size bound unexamined.
func passLarge(head []byte, rest io.Reader, out io.Writer, max int64, opt Options) (Result, error) {
	tooLarge := &MessageTooLargeError{Max: max}
	res := Result{Header: tooLarge.Error()}
	res.Problems = []string{opt.explain(tooLarge).Error()}
	return res, passOn(head, rest, out, res.Header)
}

// passHead is how much of a message Pass reads before writing: enough for
// the header of any real message, so that an incoming
// TLS-Report-Has-Failures field in it is renamed.
const passHead = 64 << 10

// Pass copies a message from in to out unexamined, with the header field
// TLS-Report-Has-Failures: value first, in bounded memory. It is for a
// filter that cannot do its job (misconfigured): the message still goes
// through, marked. An error wraps ErrOutput.
func Pass(in io.Reader, out io.Writer, value string) error {
	head, err := io.ReadAll(io.LimitReader(in, passHead))
	if err != nil {
		return fmt.Errorf("%w: reading: %w", ErrOutput, err)
	}
	return passOn(head, in, out, value)
}

// passOn writes head with the header inserted, then the rest of the input
// as it comes.
func passOn(head []byte, rest io.Reader, out io.Writer, value string) error {
	from, msg := splitFromLine(head)
	if _, err := out.Write(append(from, insertHeader(msg, value, "")...)); err != nil {
		return fmt.Errorf("%w: writing: %w", ErrOutput, err)
	}
	if _, err := io.Copy(out, rest); err != nil {
		return fmt.Errorf("%w: copying: %w", ErrOutput, err)
	}
	return nil
}

// annotateMessage does the work on a message read whole.
func annotateMessage(ctx context.Context, raw []byte, opt Options, lim report.Limits, res Result) ([]byte, Result) {
	msg, perr := report.ReadMessage(raw, lim)
	if msg == nil {
		msg = &report.Message{}
	}
	perr = opt.explain(perr)
	for i := range msg.Found {
		msg.Found[i].Err = opt.explain(msg.Found[i].Err)
	}
	reports := msg.Reports()
	dlim := opt.DMARCLimits
	dlim.MaxInput = lim.MaxMessage
	if dlim.MaxRecords <= 0 {
		dlim.MaxRecords = DefaultDMARCRecords
	}
	if len(reports) == 0 && len(raw) > 0 {
		if dm, ok, derr := readDMARC(raw, msg, dlim); ok {
			return annotateDMARC(ctx, raw, dm, derr, opt, res)
		}
	}
	if len(reports) > 0 {
		res.Problems = append(res.Problems, dmarcBeside(raw, dlim)...)
	}
	res.Reports = len(reports)
	res.Failures = msg.Failed()
	var problem bool
	res.Header, problem = headerValue(msg, perr, res.Failures, len(raw))
	res.Header = neutral.HeaderValue(res.Header) // Result.Header is what is written
	if problem {
		res.Problems = append(res.Problems, problemLine(msg.Errs(), perr, "no TLS report found in message"))
	}
	if len(msg.Found) == 0 {
		return insertHeader(raw, res.Header, ""), res
	}
	if len(reports) > 0 && opt.Authenticate != nil {
		res.Auth = opt.Authenticate(ctx, raw, msg)
	}
	res = record(ctx, msg, reports, opt, res)
	advice := advise(ctx, reports, opt)
	return annotated(raw, Summary(msg, res.Auth, advice, opt.now()), looksJSON, HeaderName, res)
}

// annotated is raw with the summary placed (looks tells a text part
// that is in fact a report, which the summary must not be appended to)
// and the header field name, res.Header, first, with the annotation that
// undoes the edit.
func annotated(raw []byte, summary string, looks func([]byte, *entity) bool, name string, res Result) ([]byte, Result) {
	edited, mode := annotate(raw, summary, looks)
	res.edit = mode
	return insertField(edited, name, res.Header, annotation(raw, appendRenamed(nil, edited))), res
}

// headerValue is the value of TLS-Report-Has-Failures: the failed session
// count, a short description of a problem (problem true), or "" when all
// is well.
func headerValue(msg *report.Message, perr error, failures int64, size int) (value string, problem bool) {
	switch {
	case size == 0:
		return "empty message", true
	case len(msg.Found) == 0 && errors.Is(perr, report.ErrTooLarge):
		return "message too large to check", true
	case len(msg.Found) == 0:
		return "no TLS report found in message", true
	}
	return foundValue(msg.Errs(), perr, report.ErrTooLarge, failures, trimmed)
}

// foundValue is the header value for a message in which reports of
// either kind were found, with errs the errors of its unreadable parts
// and perr the reader's: the first unreadable report, too many reports
// (perr wraps tooLarge), the number of failures, or "" when all is well.
// text is an error's text for the header.
func foundValue(errs []error, perr, tooLarge error, failures int64, text func(error) string) (value string, problem bool) {
	switch {
	case len(errs) > 0:
		return "unreadable report: " + neutral.HeaderValue(text(errs[0])), true
	case errors.Is(perr, tooLarge):
		return "too many reports in one message: " + neutral.HeaderValue(text(perr)), true
	case failures > 0:
		return strconv.FormatInt(failures, 10), false
	}
	return "", false
}

// problemLine describes for the log why a message is not a clean report
// message: its first unreadable part, else the reader's error perr, else
// none.
func problemLine(errs []error, perr error, none string) string {
	if len(errs) > 0 {
		return neutral.Error(errs[0])
	}
	if perr != nil {
		return neutral.Error(perr)
	}
	return none
}

// trimmed is err's text without the name of the package that made it
// ("report: "): the header names the problem already.
func trimmed(err error) string { return pkgerr.TrimPackage(err, err.Error()) }

// record stores every TLS report; a failure is a problem, never a lost
// message.
func record(ctx context.Context, msg *report.Message, reports []*report.Report, opt Options, res Result) Result {
	src := arrival.Source{Transport: "mail", Submitter: msg.Submitter, FromDomain: msg.FromDomain, MessageID: msg.MessageID}
	return recordAll(ctx, reports, src, opt, res, arrival.Recorder.AddReportResult)
}

// recordAll stores every report of one message with add, the recorder's
// method for its kind, and counts what was stored (an authenticated copy
// stored in place of unauthenticated ones, arrival.Upgraded, too) and
// what was known already; a failure is a problem, never a lost message.
func recordAll[R any](ctx context.Context, reports []R, src arrival.Source, opt Options, res Result,
	add func(arrival.Recorder, context.Context, R, arrival.Source) (int64, arrival.Added, error)) Result {
	if len(reports) == 0 || opt.Record == nil {
		return res
	}
	rec, err := opt.Record()
	if err != nil {
		res.Problems = append(res.Problems, "not recorded: "+neutral.Error(err))
		return res
	}
	src.Received = opt.now().UTC()
	src.Auth = res.Auth
	for _, r := range reports {
		_, added, err := add(rec, ctx, r, src)
		switch {
		case err != nil:
			res.Problems = append(res.Problems, "not recorded: "+neutral.Error(err))
		case added == arrival.Duplicate:
			res.Dups++
		default:
			res.Stored++
		}
	}
	return res
}

// advise collects the advice on the failing addresses the summary shows.
func advise(ctx context.Context, reports []*report.Report, opt Options) []string {
	if opt.Advise == nil {
		return nil
	}
	ips, _ := TopAddrs(reports, MaxAddrs)
	if len(ips) == 0 {
		return nil
	}
	return opt.Advise(ctx, ips)
}

// OriginalPrefix is put before the name of a TLS-Report-Has-Failures field
// that arrives with the message, so that only the filter's own field routes
// mail: X-Original-TLS-Report-Has-Failures keeps what the sender wrote.
const OriginalPrefix = "X-Original-"

// insertHeader puts the header field first in the message (an mbox From_
// line is split off before), with the message's own line ending, then the
// annotation field, and renames every field of those names the message
// arrived with. An empty value adds nothing, but still renames.
func insertHeader(msg []byte, value, note string) []byte {
	return insertField(msg, HeaderName, value, note)
}

// insertField is insertHeader for the field name, HeaderName or
// DMARCHeaderName.
func insertField(msg []byte, name, value, note string) []byte {
	raw := msg
	out := make([]byte, 0, len(raw)+len(name)+len(value)+len(note)+64)
	if value != "" {
		out = append(out, name+": "+neutral.HeaderValue(value)+lineEnding(raw)...)
	}
	if note != "" {
		out = append(out, annotationField(note, lineEnding(raw))...)
	}
	return appendRenamed(out, msg)
}

// appendRenamed appends msg to out with OriginalPrefix before the name of
// every TLS-Report-Has-Failures, DMARC-Report-Has-Failures and
// TLS-Report-Annotation field of its header (which may be cut short, as in
// Pass).
func appendRenamed(out, msg []byte) []byte {
	fields, _ := headerFields(msg, 0, len(msg))
	at := 0
	for _, f := range fields {
		if isOurs(f.name) {
			out = append(out, msg[at:f.start]...)
			out = append(out, OriginalPrefix...)
			at = f.start
		}
	}
	return append(out, msg[at:]...)
}

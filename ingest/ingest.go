// Package ingest backfills the store from reports already received: Maildir
// folders, mbox files, single messages (.eml), report files (.json,
// .json.gz, .gz, .zip, and .xml for DMARC aggregate reports) and folders
// of any of these, walked recursively. SMTP TLS reports and DMARC
// aggregate reports are told apart by their content.
//
// What a file is comes from where it lies and what it holds: every file
// in a Maildir's cur/ and new/ is a message (tmp/ and dot files are
// skipped); elsewhere a file starting with a "From " line is an mbox, a
// .json, .gz, .zip or .xml file or one starting with gzip or zip magic,
// '{' or '<' is a report file, and anything else is read as a mail
// message. A message or file holding no report is counted as such and
// skipped; it is not an error.
//
// Import is idempotent through the store's deduplication: importing the
// same files twice stores nothing new the second time, and counts the
// reports as duplicates. Mail messages are stored with transport "import"
// and, unless Options.Authenticate says otherwise, unauthenticated.
//
// Reads are bounded: a message or report file over Options.Limits.MaxMessage
// is skipped with an error naming it; an mbox file may be of any size, and
// each of its messages is bounded. The package logs nothing: problems are
// returned in the Summary, and Options.Progress reports progress.
package ingest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	"github.com/tlsrpt/tlsrpt/arrival"
	"github.com/tlsrpt/tlsrpt/dmarc"
	"github.com/tlsrpt/tlsrpt/filter"
	"github.com/tlsrpt/tlsrpt/report"
)

// Options configure Import. The zero value imports with
// report.DefaultLimits, authenticates nothing and reports no progress.
type Options struct {
	// Limits bound each message and report file (MaxMessage) and the
	// decompressed reports (MaxDecompressed).
	Limits report.Limits

	// Authenticate judges whether a mail message really comes from its
	// reporter (DKIM, Authentication-Results); nil stores every report
	// as "imported, not checked". Report files are never authenticated.
	Authenticate func(ctx context.Context, raw []byte, msg *report.Message) arrival.Auth

	// DMARCLimits bound each DMARC report file or message as the
	// filter's do (MaxInput is Limits.MaxMessage; MaxRecords zero is
	// filter.DefaultDMARCRecords).
	DMARCLimits dmarc.Limits

	// AuthenticateDMARC is Authenticate for a message holding DMARC
	// aggregate reports.
	AuthenticateDMARC func(ctx context.Context, raw []byte, msg *dmarc.Message) arrival.Auth

	// Progress, when set, is called after each message or file with what
	// is done so far.
	Progress func(Progress)

	// Now is the clock; nil means time.Now. A message's reports are
	// received when the message says it arrived (its Maildir file name,
	// else its top Received header, else its Date; never later than Now
	// plus arrival.ClockSkew), else at Now; report files at Now.
	Now func() time.Time
}

// Progress tells how far Import is. Totals are known from the start:
// Import first walks all paths, then reads.
type Progress struct {
	Files, FilesTotal int   // files finished, files to read
	Bytes, BytesTotal int64 // bytes read, sum of the files' sizes
	Path              string
}

// Summary counts what Import did. Read, NotReports and Errors count
// messages and report files (each message of an mbox counts); Stored and
// Duplicates count reports.
type Summary struct {
	Read       int // messages and report files read
	Stored     int // reports newly stored
	Duplicates int // reports already stored
	Upgraded   int // reports stored in place of unauthenticated copies (more trust this time)
	NotReports int // messages and files holding no report

	DMARCStored     int // DMARC aggregate reports newly stored
	DMARCDuplicates int // DMARC aggregate reports already stored
	DMARCUpgraded   int // DMARC aggregate reports stored in place of unauthenticated copies
	Errors          []*FileError
}

// FileError is a problem with one file or one message of an mbox file.
type FileError struct {
	Path string // the file
	Item string // "message 3 (line 120)" inside an mbox; "" for the file itself
	Err  error
}

// Error names the file, the message if any, and the problem.
func (e *FileError) Error() string {
	if e.Item != "" {
		return fmt.Sprintf("%s: %s: %v", e.Path, e.Item, e.Err)
	}
	return fmt.Sprintf("%s: %v", e.Path, e.Err)
}

// Unwrap returns the problem, for errors.Is and errors.As.
func (e *FileError) Unwrap() error { return e.Err }

// Import reads every path and stores the reports found through rec,
// counting new reports, duplicates and upgrades apart (arrival.Added). It
// returns an error only when ctx ends before it is done; the Summary then
// counts what was done until then. Problems with files are in
// Summary.Errors.
func Import(ctx context.Context, rec arrival.Recorder, paths []string, opt Options) (Summary, error) {
	im := newImporter(rec, opt)
	items, errs := plan(paths)
	im.sum.Errors = errs
	im.prog.FilesTotal = len(items)
	for _, it := range items {
		im.prog.BytesTotal += it.size
	}
	for _, it := range items {
		if err := ctx.Err(); err != nil {
			return im.sum, fmt.Errorf("import interrupted: %w", err)
		}
		im.file(ctx, it)
		im.prog.Files++
		im.progress(it.path, 0)
	}
	return im.sum, nil
}

// importer carries the state of one Import.
type importer struct {
	rec  arrival.Recorder
	opt  Options
	lim  report.Limits
	sum  Summary
	prog Progress
	done int64 // bytes of finished files
}

func newImporter(rec arrival.Recorder, opt Options) *importer {
	lim := opt.Limits
	if lim.MaxMessage <= 0 {
		lim.MaxMessage = report.DefaultLimits.MaxMessage
	}
	if opt.Now == nil {
		opt.Now = time.Now
	}
	return &importer{rec: rec, opt: opt, lim: lim}
}

// progress reports bytes done: finished files plus offset into the
// current one.
func (im *importer) progress(path string, offset int64) {
	if im.opt.Progress == nil {
		return
	}
	im.prog.Path = path
	im.prog.Bytes = im.done + offset
	im.opt.Progress(im.prog)
}

func (im *importer) fail(path, item string, err error) {
	im.sum.Errors = append(im.sum.Errors, &FileError{Path: path, Item: item, Err: err})
}

// file reads one planned file.
func (im *importer) file(ctx context.Context, it item) {
	defer func() { im.done += it.size }()
	f, err := os.Open(it.path)
	if err != nil {
		im.sum.Read++
		im.fail(it.path, "", bareErr(err))
		return
	}
	defer f.Close()
	if it.kind == kindAuto {
		head := make([]byte, 5)
		n, _ := io.ReadFull(f, head)
		if string(head[:n]) == "From " {
			if _, err := f.Seek(0, io.SeekStart); err != nil {
				im.sum.Read++
				im.fail(it.path, "", err)
				return
			}
			im.mbox(ctx, it.path, f)
			return
		}
		if _, err := f.Seek(0, io.SeekStart); err != nil {
			im.sum.Read++
			im.fail(it.path, "", err)
			return
		}
	}
	im.sum.Read++
	data, err := readBounded(f, im.lim.MaxMessage)
	if err != nil {
		im.fail(it.path, "", err)
		return
	}
	if it.kind == kindReportFile || (it.kind == kindAuto && looksLikeReportFile(data)) {
		im.reportFile(ctx, it.path, data)
		return
	}
	maildirName := ""
	if it.kind == kindMessage {
		maildirName = filepath.Base(it.path)
	}
	im.message(ctx, it.path, "", maildirName, stripFromLine(data))
}

// readBounded reads all of r, refusing more than max bytes.
func readBounded(r io.Reader, max int64) ([]byte, error) {
	data, err := io.ReadAll(io.LimitReader(r, max+1))
	if err != nil {
		return nil, err
	}
	if int64(len(data)) > max {
		return nil, fmt.Errorf("%w: %w", &FileTooLargeError{Max: max}, report.ErrTooLarge)
	}
	return data, nil
}

// A FileTooLargeError is a file over the bound of one message
// (report.Limits.MaxMessage), skipped unread; it comes wrapped with
// report.ErrTooLarge.
type FileTooLargeError struct{ Max int64 }

func (e *FileTooLargeError) Error() string {
	return fmt.Sprintf("file over %d bytes, skipped", e.Max)
}

// looksLikeReportFile tells a report file from a mail message by its
// first bytes: gzip or zip magic, a JSON object, or XML (a DMARC
// report; a mail message starts with a header field).
func looksLikeReportFile(data []byte) bool {
	if bytes.HasPrefix(data, []byte{0x1f, 0x8b}) || bytes.HasPrefix(data, []byte("PK\x03\x04")) {
		return true
	}
	return looksJSON(data) || looksXML(data)
}

// looksJSON tells a TLS report file in JSON by its first byte.
func looksJSON(data []byte) bool {
	t := bytes.TrimLeft(bytes.TrimPrefix(data, []byte("\xef\xbb\xbf")), " \t\r\n")
	return len(t) > 0 && t[0] == '{'
}

// stripFromLine removes an mbox From_ line some delivery agents leave at
// the top of a single message.
func stripFromLine(data []byte) []byte {
	if !bytes.HasPrefix(data, []byte("From ")) {
		return data
	}
	if i := bytes.IndexByte(data, '\n'); i >= 0 {
		return data[i+1:]
	}
	return nil
}

// mbox reads every message of an mbox file.
func (im *importer) mbox(ctx context.Context, path string, r io.Reader) {
	mr := NewMboxReader(r, im.lim.MaxMessage)
	for ctx.Err() == nil {
		msg, err := mr.Next()
		if errors.Is(err, io.EOF) {
			return
		}
		item := fmt.Sprintf("message %d (line %d)", mr.Count(), mr.Line())
		var tooLarge *MessageTooLargeError
		switch {
		case errors.As(err, &tooLarge):
			im.sum.Read++
			im.fail(path, item, err)
		case err != nil:
			im.fail(path, item, fmt.Errorf("reading mbox: %w", err))
			return
		default:
			im.sum.Read++
			im.message(ctx, path, item, "", msg)
		}
		im.progress(path, mr.Offset())
	}
}

// message finds and stores the reports of one mail message, received when
// the message says it arrived (arrivalTime; maildirName is its Maildir file
// name, else ""). A message the filter annotated is read as it came,
// before the filter: its DKIM signatures cover those bytes, and the
// reports are read from the same bytes that are authenticated.
func (im *importer) message(ctx context.Context, path, item, maildirName string, raw []byte) {
	if orig, err := filter.Original(raw); err == nil {
		raw = orig
	}
	msg, err := report.ReadMessage(raw, im.lim)
	if msg == nil {
		msg = &report.Message{}
	}
	reports := msg.Reports()
	if len(reports) == 0 && im.dmarcMessage(ctx, path, item, maildirName, raw, msg) {
		return
	}
	if len(msg.Found) == 0 {
		if err != nil && !errors.Is(err, report.ErrNoReport) {
			im.fail(path, item, err)
			return
		}
		im.sum.NotReports++
		return
	}
	if len(reports) > 0 {
		auth := arrival.Auth{Detail: "imported, not checked"}
		if im.opt.Authenticate != nil {
			auth = im.opt.Authenticate(ctx, raw, msg)
		}
		im.store(ctx, path, item, reports, arrival.Source{
			Transport: "import", Submitter: msg.Submitter, FromDomain: msg.FromDomain,
			MessageID: msg.MessageID, Received: arrivalTime(maildirName, raw, im.opt.Now().UTC()), Auth: auth,
		})
		im.dmarcBeside(ctx, path, item, maildirName, raw)
	}
	if errs := msg.Errs(); len(errs) > 0 {
		im.fail(path, item, errors.Join(errs...))
	}
}

// reportFile stores the reports of a .json, .gz, .zip or .xml file: a
// TLS report, or a DMARC aggregate report when it is XML, or gzip or zip
// holding no TLS report.
func (im *importer) reportFile(ctx context.Context, path string, data []byte) {
	if looksXML(data) {
		if !im.dmarcFile(ctx, path, data) {
			im.sum.NotReports++
		}
		return
	}
	reports, err := report.Decode(data, path, "", im.lim)
	if len(reports) == 0 && !looksJSON(data) && im.dmarcFile(ctx, path, data) {
		return
	}
	if len(reports) == 0 && errors.Is(err, report.ErrNoReport) {
		im.sum.NotReports++
		return
	}
	im.store(ctx, path, "", reports, arrival.Source{
		Transport: "import", Received: im.opt.Now().UTC(),
		Auth: arrival.Auth{Detail: "imported from a file, not authenticated"},
	})
	if err != nil {
		im.fail(path, "", err)
	}
}

// store records reports; a store failure is an error of this file.
func (im *importer) store(ctx context.Context, path, item string, reports []*report.Report, src arrival.Source) {
	storeAll(ctx, im, path, item, reports, src, im.rec.AddReportResult,
		func(r *report.Report) string { return fmt.Sprintf("storing report %q", r.ReportID) },
		tally{&im.sum.Stored, &im.sum.Duplicates, &im.sum.Upgraded})
}

// tally is where storeAll counts the reports of one kind.
type tally struct{ stored, duplicates, upgraded *int }

// storeAll records reports of one kind with add, counting each as new,
// known or upgraded; a store failure is an error of this file, what
// naming the report.
func storeAll[R any](ctx context.Context, im *importer, path, item string, reports []R, src arrival.Source,
	add func(context.Context, R, arrival.Source) (int64, arrival.Added, error), what func(R) string, n tally) {
	for _, r := range reports {
		_, added, err := add(ctx, r, src)
		switch {
		case err != nil:
			im.fail(path, item, fmt.Errorf("%s: %w", what(r), err))
		case added == arrival.Upgraded:
			*n.upgraded++
		case added == arrival.Duplicate:
			*n.duplicates++
		default:
			*n.stored++
		}
	}
}

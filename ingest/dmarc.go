package ingest

import (
	"bytes"
	"context"
	"errors"
	"fmt"

	"github.com/tlsrpt/tlsrpt/arrival"
	"github.com/tlsrpt/tlsrpt/dmarc"
	"github.com/tlsrpt/tlsrpt/filter"
	"github.com/tlsrpt/tlsrpt/report"
)

// dmarcLimits bounds a DMARC report file or message as the TLS ones are
// (MaxMessage), and its records as the filter does.
func (im *importer) dmarcLimits() dmarc.Limits {
	l := im.opt.DMARCLimits
	l.MaxInput = im.lim.MaxMessage
	if l.MaxRecords <= 0 {
		l.MaxRecords = filter.DefaultDMARCRecords
	}
	return l
}

// dmarcMessage reads the DMARC reports of a message in which no TLS
// report could be read, and stores them; ok is false when the message is
// no DMARC report message (filter.PreferDMARC), and nothing was done.
func (im *importer) dmarcMessage(ctx context.Context, path, item, maildirName string, raw []byte, tls *report.Message) (ok bool) {
	dm, derr := dmarc.FromMessage(bytes.NewReader(raw), im.dmarcLimits())
	if dm == nil || !filter.PreferDMARC(tls, dm) {
		return false
	}
	im.storeDMARCMessage(ctx, path, item, maildirName, raw, dm)
	errs := dm.Errs()
	if errors.Is(derr, dmarc.ErrTooLarge) && len(errs) == 0 {
		errs = append(errs, derr)
	}
	if len(errs) > 0 {
		im.fail(path, item, errors.Join(errs...))
	}
	return true
}

// storeDMARCMessage authenticates and stores the DMARC reports read from
// a message, if any.
func (im *importer) storeDMARCMessage(ctx context.Context, path, item, maildirName string, raw []byte, dm *dmarc.Message) {
	reports := dm.Reports()
	if len(reports) == 0 {
		return
	}
	auth := arrival.Auth{Detail: "imported, not checked"}
	if im.opt.AuthenticateDMARC != nil {
		auth = im.opt.AuthenticateDMARC(ctx, raw, dm)
	}
	im.storeDMARC(ctx, path, item, reports, arrival.Source{
		Transport: "import", FromDomain: dm.FromDomain, MessageID: dm.MessageID,
		Received: arrivalTime(maildirName, raw, im.opt.Now().UTC()), Auth: auth,
	})
}

// dmarcBeside stores the DMARC reports of a message read as a TLS report
// message, which the filter names but does not record: a backfill loses
// neither kind. Parts that fail as DMARC are the TLS reader's to name.
func (im *importer) dmarcBeside(ctx context.Context, path, item, maildirName string, raw []byte) {
	if dm, _ := dmarc.FromMessage(bytes.NewReader(raw), im.dmarcLimits()); dm != nil {
		im.storeDMARCMessage(ctx, path, item, maildirName, raw, dm)
	}
}

// dmarcFile reads a report file as a DMARC report; ok is false when it
// is none (dmarc.ErrNotDMARC) or fails only in a packing the TLS reader
// may explain better (filter.DMARCContentError), and nothing was done.
func (im *importer) dmarcFile(ctx context.Context, path string, data []byte) (ok bool) {
	rep, err := dmarc.Parse(bytes.NewReader(data), im.dmarcLimits())
	if err != nil && !filter.DMARCContentError(err) {
		return false
	}
	if err != nil {
		im.fail(path, "", err)
		return true
	}
	im.storeDMARC(ctx, path, "", []*dmarc.Report{rep}, arrival.Source{
		Transport: "import", Received: im.opt.Now().UTC(),
		Auth: arrival.Auth{Detail: "imported from a file, not authenticated"},
	})
	return true
}

// storeDMARC records DMARC reports; a store failure is an error of this
// file.
func (im *importer) storeDMARC(ctx context.Context, path, item string, reports []*dmarc.Report, src arrival.Source) {
	storeAll(ctx, im, path, item, reports, src, im.rec.AddDMARCResult,
		func(r *dmarc.Report) string { return fmt.Sprintf("storing DMARC report %q", r.Metadata.ReportID) },
		tally{&im.sum.DMARCStored, &im.sum.DMARCDuplicates, &im.sum.DMARCUpgraded})
}

// looksXML tells a DMARC report file in plain XML by its first byte.
func looksXML(data []byte) bool {
	t := bytes.TrimLeft(bytes.TrimPrefix(data, []byte("\xef\xbb\xbf")), " \t\r\n")
	return len(t) > 0 && t[0] == '<'
}

package ingest

import (
	"bytes"
	"compress/gzip"
	"context"
	"errors"
	"path/filepath"
	"strings"
	"testing"

	"github.com/tlsrpt/tlsrpt/arrival"
	"github.com/tlsrpt/tlsrpt/dmarc"
	"github.com/tlsrpt/tlsrpt/filter"
	"github.com/tlsrpt/tlsrpt/internal/storetest"
)

// dmarcCorpusDir holds the shared corpus of real DMARC aggregate reports.
const dmarcCorpusDir = "../dmarc/testdata/corpus"

// The corpus holds five readable reports and one broken file.
const (
	dmarcReadable = 5
	dmarcBroken   = "invalid_xml.xml"
	dmarcWhere    = "dmarc: feedback/report_metadata/email: XML syntax error on line 5"
)

// dmarcCorpus returns the corpus files by name, README aside.
func dmarcCorpus(t testing.TB) map[string][]byte {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(dmarcCorpusDir, "*"))
	if err != nil {
		t.Fatal(err)
	}
	out := map[string][]byte{}
	for _, f := range files {
		if filepath.Base(f) != "README.md" {
			out[filepath.Base(f)] = mustRead(t, f)
		}
	}
	if len(out) != dmarcReadable+1 {
		t.Fatalf("%d files in %s, want %d", len(out), dmarcCorpusDir, dmarcReadable+1)
	}
	return out
}

// wrapDMARC builds the mail a reporter sends for a DMARC report file.
func wrapDMARC(name string, data []byte) []byte {
	ctype := "text/xml"
	switch {
	case strings.HasSuffix(name, ".gz"):
		ctype = "application/gzip"
	case strings.HasSuffix(name, ".zip"):
		ctype = "application/zip"
	}
	return reportMail("From: noreply-dmarc@reporter.example\r\nTo: dmarc@example.net\r\nSubject: Report Domain: example.net\r\n",
		"multipart/mixed", "This is a DMARC aggregate report.", ctype, name, data)
}

// TestImportDMARCCorpus imports every file of the DMARC corpus as files,
// as messages of a Maildir and of an mbox (the .eml as it is, the others
// wrapped in a mail), twice each: the readable reports are stored once
// and counted as DMARC reports, the broken file is one error naming it
// and where it breaks, the second import stores nothing new.
func TestImportDMARCCorpus(t *testing.T) {
	corpus := dmarcCorpus(t)
	dir := t.TempDir()
	files := filepath.Join(dir, "files")
	var msgs [][]byte
	for name, data := range corpus {
		write(t, filepath.Join(files, name), data)
		if strings.HasSuffix(name, ".eml") {
			msgs = append(msgs, data)
		} else {
			msgs = append(msgs, wrapDMARC(name, data))
		}
	}
	maildir := filepath.Join(dir, "Maildir")
	writeMaildir(t, maildir, msgs)
	mbox := filepath.Join(dir, "dmarc.mbox")
	writeMbox(t, mbox, msgs)
	for _, src := range []string{files, maildir, mbox} {
		t.Run(filepath.Base(src), func(t *testing.T) {
			st := storetest.Open(t)
			for run, wantStored := range []int{dmarcReadable, 0} {
				sum, err := Import(context.Background(), st, []string{src}, Options{})
				if err != nil {
					t.Fatal(err)
				}
				if sum.Read != len(corpus) || sum.DMARCStored != wantStored || sum.DMARCDuplicates != dmarcReadable-wantStored ||
					sum.Stored+sum.Duplicates+sum.NotReports != 0 || len(sum.Errors) != 1 {
					t.Fatalf("import %d: %+v\n%s", run+1, sum, errorLines(sum))
				}
				e := sum.Errors[0].Error()
				if !strings.Contains(e, dmarcWhere) || strings.Contains(e, "\n") ||
					(src == files && !strings.HasSuffix(sum.Errors[0].Path, dmarcBroken)) ||
					(src != files && !strings.Contains(e, `part "`+dmarcBroken+`"`)) {
					t.Errorf("the broken file's error does not name it and where, on one line: %s", e)
				}
			}
		})
	}
}

// TestImportDMARCAuthenticate: a DMARC message's reports are judged by
// Options.AuthenticateDMARC (never by the TLS hook), files are never
// authenticated; the second import of the same report is a duplicate.
func TestImportDMARCAuthenticate(t *testing.T) {
	corpus := dmarcCorpus(t)
	dir := t.TempDir()
	google := "Report domain- borschow.com Submitter- google.com Report-ID- 949348866075514174.eml"
	write(t, filepath.Join(dir, "m.eml"), corpus[google])
	st := storetest.Open(t)
	var calls []string
	opt := Options{AuthenticateDMARC: func(_ context.Context, _ []byte, msg *dmarc.Message) arrival.Auth {
		calls = append(calls, msg.FromDomain)
		return arrival.Auth{Authenticated: true, Method: "dkim", Domain: msg.FromDomain}
	}}
	sum, err := Import(context.Background(), st, []string{dir}, opt)
	if err != nil || sum.DMARCStored != 1 || len(calls) != 1 || calls[0] != "google.com" {
		t.Fatalf("%+v %v; authenticated %q", sum, err, calls)
	}
}

// TestImportDMARCBounds imports a gzip file of 50 MB of records and a
// billion-laughs file: each is one error naming the file and the bound or
// the refused DOCTYPE, and nothing is stored.
func TestImportDMARCBounds(t *testing.T) {
	rec := `<record><row><source_ip>192.0.2.1</source_ip><count>1</count><policy_evaluated><disposition>none</disposition>` +
		`<dkim>fail</dkim><spf>fail</spf></policy_evaluated></row><identifiers><header_from>example.com</header_from></identifiers></record>`
	var gz bytes.Buffer
	zw := gzip.NewWriter(&gz)
	zw.Write([]byte(`<feedback><report_metadata><org_name>o</org_name><email>a@o.example</email><report_id>big</report_id>` +
		`<date_range><begin>1</begin><end>2</end></date_range></report_metadata>`))
	chunk := []byte(strings.Repeat(rec, 1000))
	for n := 0; n < 50<<20; n += len(chunk) {
		zw.Write(chunk)
	}
	zw.Write([]byte(`</feedback>`))
	zw.Close()
	dir := t.TempDir()
	write(t, filepath.Join(dir, "big.xml.gz"), gz.Bytes())
	write(t, filepath.Join(dir, "laughs.xml"), []byte(`<?xml version="1.0"?><!DOCTYPE feedback [<!ENTITY a "lol"><!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;">]><feedback>&b;</feedback>`))
	st := storetest.Open(t)
	sum, err := Import(context.Background(), st, []string{dir}, Options{})
	if err != nil || sum.DMARCStored != 0 || len(sum.Errors) != 2 {
		t.Fatalf("%+v %v\n%s", sum, err, errorLines(sum))
	}
	if e := sum.Errors[0]; !strings.HasSuffix(e.Path, "big.xml.gz") || !errors.Is(e, dmarc.ErrTooLarge) || !strings.Contains(e.Error(), "more than 20000 records") {
		t.Errorf("50 MB of records: %v", e)
	}
	if e := sum.Errors[1]; !strings.HasSuffix(e.Path, "laughs.xml") || !errors.Is(e, dmarc.ErrDTD) {
		t.Errorf("billion laughs: %v", e)
	}
}

// TestImportTLSFilesStayTLS: a TLS report in gzip, zip and JSON is read
// as before, and a corrupt gzip file is the TLS reader's error, not a
// DMARC one.
func TestImportTLSFilesStayTLS(t *testing.T) {
	dir := t.TempDir()
	js := mustRead(t, filepath.Join(corpusDir, "05-parsedmarc-google-failures-2024.json"))
	write(t, filepath.Join(dir, "a.json"), js)
	write(t, filepath.Join(dir, "corrupt.gz"), []byte("\x1f\x8b\x08\x00garbage"))
	st := storetest.Open(t)
	sum, err := Import(context.Background(), st, []string{dir}, Options{})
	if err != nil || sum.Stored != 1 || sum.DMARCStored != 0 || len(sum.Errors) != 1 ||
		strings.Contains(sum.Errors[0].Error(), "dmarc") {
		t.Fatalf("%+v %v\n%s", sum, err, errorLines(sum))
	}
}

// TestImportFilteredDMARC imports a DMARC report message as the filter
// delivered it: the reports are read from, and authentication is given,
// the message as it came before the filter (its DKIM signature covers
// those bytes).
func TestImportFilteredDMARC(t *testing.T) {
	orig := dmarcCorpus(t)["Report domain- borschow.com Submitter- google.com Report-ID- 949348866075514174.eml"]
	var out bytes.Buffer
	res, err := filter.Run(context.Background(), bytes.NewReader(orig), &out, filter.Options{})
	if err != nil || !res.DMARC || res.Header != "1" {
		t.Fatalf("filter: %+v %v", res, err)
	}
	dir := t.TempDir()
	write(t, filepath.Join(dir, "filtered.eml"), out.Bytes())
	var given []byte
	opt := Options{AuthenticateDMARC: func(_ context.Context, raw []byte, _ *dmarc.Message) arrival.Auth {
		given = raw
		return arrival.Auth{Detail: "checked"}
	}}
	sum, err := Import(context.Background(), storetest.Open(t), []string{dir}, opt)
	if err != nil || sum.DMARCStored != 1 || len(sum.Errors) != 0 {
		t.Fatalf("%+v %v", sum, err)
	}
	if !bytes.Equal(given, orig) {
		t.Fatal("authentication was not given the message as it came before the filter")
	}
}

// TestImportDMARCBesideTLS: a message holding a TLS report and a DMARC
// report has both stored by import, the DMARC one counted on its own
// line, so that the one the filter could not record is not lost.
func TestImportDMARCBesideTLS(t *testing.T) {
	xml := dmarcCorpus(t)["rfc9990-sample.xml"]
	msg := wrapDMARC("beside.xml", xml)
	tls := mustRead(t, "../testdata/corpus/05-parsedmarc-google-failures-2024.json")
	msg = bytes.Replace(msg, []byte("\r\n--b--\r\n"), []byte("\r\n--b\r\nContent-Type: application/tlsrpt+json\r\n\r\n"+
		string(tls)+"\r\n--b--\r\n"), 1)
	dir := t.TempDir()
	write(t, filepath.Join(dir, "both.eml"), msg)
	sum, err := Import(context.Background(), storetest.Open(t), []string{dir}, Options{})
	if err != nil || sum.Stored != 1 || sum.DMARCStored != 1 || len(sum.Errors) != 0 {
		t.Fatalf("want the TLS and the DMARC report stored: %+v %v", sum, err)
	}
}

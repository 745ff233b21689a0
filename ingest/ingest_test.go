package ingest

import (
	"archive/zip"
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/tlsrpt/tlsrpt/arrival"
	"github.com/tlsrpt/tlsrpt/internal/reporttest"
	"github.com/tlsrpt/tlsrpt/internal/storetest"
	"github.com/tlsrpt/tlsrpt/report"
)

// TestImportMaildirAndMboxTwice builds a Maildir and an mbox from the whole
// corpus plus one message that is no report, imports each twice, and
// checks that both give the same counts and the second run stores nothing.
func TestImportMaildirAndMboxTwice(t *testing.T) {
	_, msgs := corpusMessages(t)
	msgs = append(msgs, []byte(plainMessage))
	distinct := distinctCorpusReports(t, msgs)
	dir := t.TempDir()
	maildir := filepath.Join(dir, "Maildir")
	writeMaildir(t, maildir, msgs)
	// tmp/ is not read: a report there would be an extra one.
	write(t, filepath.Join(maildir, "tmp", "1.partial"), wrapReport("x.json.gz",
		reporttest.Gzip(t, reporttest.WithReportID(t, mustRead(t, corpusDir+"/11-drv-contact-null-2026.json"), "in-tmp"))))
	write(t, filepath.Join(maildir, "dovecot-uidlist"), []byte("3 V1 N2\n"))
	mbox := filepath.Join(dir, "reports.mbox")
	writeMbox(t, mbox, msgs)

	want := Summary{Read: len(msgs), Stored: distinct, Duplicates: len(msgs) - 1 - distinct, NotReports: 1}
	for _, src := range []string{maildir, mbox} {
		t.Run(filepath.Base(src), func(t *testing.T) {
			st := storetest.Open(t)
			first, err := Import(context.Background(), st, []string{src}, Options{})
			if err != nil {
				t.Fatal(err)
			}
			if first.Read != want.Read || first.Stored != want.Stored || first.Duplicates != want.Duplicates ||
				first.NotReports != want.NotReports || len(first.Errors) != 0 {
				t.Fatalf("first import: %+v\n%s\nwant %+v", first, errorLines(first), want)
			}
			t.Logf("first import: %+v", first)
			second, err := Import(context.Background(), st, []string{src}, Options{})
			if err != nil {
				t.Fatal(err)
			}
			if second.Read != first.Read || second.Stored != 0 || second.Duplicates != first.Stored+first.Duplicates ||
				second.NotReports != first.NotReports || len(second.Errors) != 0 {
				t.Errorf("second import: %+v, want nothing new after %+v", second, first)
			}
			s := storetest.Stats(t, st)
			if s.Reports != int64(distinct) || s.ByTransport["import"] != int64(distinct) {
				t.Errorf("store holds %d reports (%v), want %d imported", s.Reports, s.ByTransport, distinct)
			}
		})
	}
}

func mustRead(t testing.TB, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestImportMixedFolder walks a folder of every kind of file.
func TestImportMixedFolder(t *testing.T) {
	dir := t.TempDir()
	js := func(name string) []byte { return mustRead(t, filepath.Join(corpusDir, name)) }
	write(t, filepath.Join(dir, "a.json"), js("04-parsedmarc-mailru-2024.json"))
	write(t, filepath.Join(dir, "b.json.gz"), reporttest.Gzip(t, js("05-parsedmarc-google-failures-2024.json")))
	write(t, filepath.Join(dir, "c.zip"), zipOf(t, map[string][]byte{
		"x.json":    js("06-parsedmarc-rfc8460-mxhost-string.json"),
		"y.json.gz": reporttest.Gzip(t, js("09-drv-microsoft-tlsa-2025.json")),
	}))
	write(t, filepath.Join(dir, "d.eml"), js("14-tlsrptdigest-google-failure.eml"))
	write(t, filepath.Join(dir, "sub", "archive"), mboxOf(t, js("02-mox-google-2022.eml"), []byte(plainMessage)))
	write(t, filepath.Join(dir, "sub", "deeper", "noext-report"), js("10-drv-microsoft-no-ip-2025.json"))
	write(t, filepath.Join(dir, "README.txt"), []byte("These are reports.\n"))
	write(t, filepath.Join(dir, "lunch.eml"), []byte(plainMessage))
	write(t, filepath.Join(dir, "package.json"), []byte(`{"name": "not a report"}`))
	corrupt := filepath.Join(dir, "corrupt.json.gz")
	write(t, corrupt, reporttest.Gzip(t, js("11-drv-contact-null-2026.json"))[:40])
	write(t, filepath.Join(dir, ".DS_Store"), []byte("junk"))
	write(t, filepath.Join(dir, ".git", "x.json"), js("11-drv-contact-null-2026.json"))
	if err := os.Symlink(dir, filepath.Join(dir, "sub", "loop")); err != nil {
		t.Fatal(err)
	}
	missing := filepath.Join(dir, "missing.mbox")

	st := storetest.Open(t)
	var last Progress
	calls := 0
	sum, err := Import(context.Background(), st, []string{dir, missing}, Options{
		Progress: func(p Progress) { last = p; calls++ },
	})
	if err != nil {
		t.Fatal(err)
	}
	// Read: a, b, c, d, 2 in archive, noext-report, README, lunch, package.json, corrupt.
	want := Summary{Read: 11, Stored: 7, Duplicates: 0, NotReports: 4}
	if sum.Read != want.Read || sum.Stored != want.Stored || sum.Duplicates != want.Duplicates || sum.NotReports != want.NotReports {
		t.Errorf("summary %+v, want %+v\n%s", sum, want, errorLines(sum))
	}
	if len(sum.Errors) != 2 {
		t.Fatalf("%d errors, want 2:\n%s", len(sum.Errors), errorLines(sum))
	}
	if !strings.HasPrefix(sum.Errors[0].Error(), missing+": ") || !errors.Is(sum.Errors[0], os.ErrNotExist) {
		t.Errorf("error %q does not name the missing path", sum.Errors[0])
	}
	if e := sum.Errors[1]; e.Path != corrupt || !strings.Contains(e.Error(), "decoding gzip report") {
		t.Errorf("error %q does not name the corrupt file and its problem", e)
	}
	if last.Files != last.FilesTotal || last.FilesTotal != 10 || last.Bytes != last.BytesTotal || calls < 11 {
		t.Errorf("last progress %+v after %d calls, want all of 10 files", last, calls)
	}
	if s := storetest.Stats(t, st); s.Reports != 7 {
		t.Errorf("store holds %d reports, want 7", s.Reports)
	}
}

func zipOf(t testing.TB, files map[string][]byte) []byte {
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	for name, b := range files {
		w, err := zw.Create(name)
		if err != nil {
			t.Fatal(err)
		}
		w.Write(b)
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func mboxOf(t testing.TB, msgs ...[]byte) []byte {
	var buf bytes.Buffer
	for _, m := range msgs {
		EscapeMboxrd(&buf, "x@y Thu Jan  1 00:00:00 2026", m)
	}
	return buf.Bytes()
}

// TestImportBounds: files and mbox messages over the bound are errors
// naming them; the rest is imported.
func TestImportBounds(t *testing.T) {
	dir := t.TempDir()
	small := mustRead(t, filepath.Join(corpusDir, "11-drv-contact-null-2026.json"))
	big := append(bytes.Repeat([]byte(" "), 5000), mustRead(t, filepath.Join(corpusDir, "04-parsedmarc-mailru-2024.json"))...)
	write(t, filepath.Join(dir, "big.json"), big)
	write(t, filepath.Join(dir, "small.json"), small)
	bigMsg := wrapReport("big.json.gz", append(reporttest.Gzip(t, big), bytes.Repeat([]byte{0}, 4000)...))
	okMsg := wrapReport("ok.json.gz", reporttest.Gzip(t, reporttest.WithReportID(t, small, "other")))
	write(t, filepath.Join(dir, "box"), mboxOf(t, bigMsg, okMsg))
	st := storetest.Open(t)
	sum, err := Import(context.Background(), st, []string{dir}, Options{Limits: report.Limits{MaxMessage: 4000}})
	if err != nil {
		t.Fatal(err)
	}
	if sum.Read != 4 || sum.Stored != 2 || len(sum.Errors) != 2 {
		t.Fatalf("summary %+v\n%s", sum, errorLines(sum))
	}
	for i, want := range []string{
		filepath.Join(dir, "big.json") + ": file over 4000 bytes, skipped",
		filepath.Join(dir, "box") + ": message 1 (line 1): message over 4000 bytes, skipped",
	} {
		if got := sum.Errors[i].Error(); !strings.HasPrefix(got, want) || !errors.Is(sum.Errors[i], report.ErrTooLarge) {
			t.Errorf("error %q, want %q...", got, want)
		}
	}
}

// TestImportAuthenticate: the hook judges mail messages, not files; without
// it, messages are stored as not checked.
func TestImportAuthenticate(t *testing.T) {
	dir := t.TempDir()
	write(t, filepath.Join(dir, "m.eml"), mustRead(t, filepath.Join(corpusDir, "02-mox-google-2022.eml")))
	write(t, filepath.Join(dir, "f.json"), mustRead(t, filepath.Join(corpusDir, "05-parsedmarc-google-failures-2024.json")))
	for _, hook := range []bool{false, true} {
		st := storetest.Open(t)
		var calls int
		opt := Options{}
		if hook {
			opt.Authenticate = func(ctx context.Context, raw []byte, msg *report.Message) arrival.Auth {
				calls++
				return arrival.Auth{Authenticated: true, Method: "dkim", Domain: msg.FromDomain}
			}
		}
		sum, err := Import(context.Background(), st, []string{dir}, opt)
		if err != nil || sum.Stored != 2 {
			t.Fatalf("%+v %v", sum, err)
		}
		var auths []arrival.Auth
		for id := int64(1); id <= 2; id++ {
			_, src, err := st.Report(context.Background(), id)
			if err != nil {
				t.Fatal(err)
			}
			if src.Transport != "import" {
				t.Errorf("transport %q", src.Transport)
			}
			auths = append(auths, src.Auth)
		}
		// f.json sorts before m.eml.
		if auths[0].Authenticated || auths[1].Authenticated != hook || (hook && calls != 1) {
			t.Errorf("hook %v: auths %+v, %d calls", hook, auths, calls)
		}
		if !hook && auths[1].Detail != "imported, not checked" {
			t.Errorf("message auth detail %q", auths[1].Detail)
		}
	}
}

// TestImportCancel: a cancelled context stops the import with an error.
func TestImportCancel(t *testing.T) {
	dir := t.TempDir()
	write(t, filepath.Join(dir, "a.json"), mustRead(t, filepath.Join(corpusDir, "04-parsedmarc-mailru-2024.json")))
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	sum, err := Import(ctx, storetest.Open(t), []string{dir}, Options{})
	if !errors.Is(err, context.Canceled) || sum.Read != 0 {
		t.Errorf("cancelled import: %+v, %v", sum, err)
	}
}

// TestImportMaildirPlusPlus: a Maildir's .Folder subfolders are Maildirs
// too, and are read.
func TestImportMaildirPlusPlus(t *testing.T) {
	_, msgs := corpusMessages(t)
	root := filepath.Join(t.TempDir(), "Maildir")
	writeMaildir(t, root, msgs[:2])
	writeMaildir(t, filepath.Join(root, ".Archive.2024"), msgs[2:4])
	write(t, filepath.Join(root, ".Archive.2024", "maildirfolder"), nil)
	sum, err := Import(context.Background(), storetest.Open(t), []string{root}, Options{})
	if err != nil || sum.Read != 4 || sum.Stored+sum.Duplicates != 4 || len(sum.Errors) != 0 {
		t.Errorf("Maildir++: %+v %v\n%s", sum, err, errorLines(sum))
	}
}

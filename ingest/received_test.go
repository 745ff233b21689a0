package ingest

import (
	"bytes"
	"compress/gzip"
	"context"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"github.com/tlsrpt/tlsrpt/arrival"
	"github.com/tlsrpt/tlsrpt/internal/storetest"
	"github.com/tlsrpt/tlsrpt/report"
)

// gzReport is a gzipped report of reporter.example for the day start.
func gzReport(t *testing.T, id string, start time.Time) []byte {
	t.Helper()
	js := fmt.Sprintf(`{"organization-name":"Reporter Inc.","date-range":{"start-datetime":%q,"end-datetime":%q},
		"contact-info":"tlsrpt@reporter.example","report-id":%q,"policies":[{"policy":{"policy-type":"sts","policy-domain":"example.net"},
		"summary":{"total-successful-session-count":10,"total-failure-session-count":0}}]}`,
		start.Format(time.RFC3339), start.Add(24*time.Hour-time.Second).Format(time.RFC3339), id)
	var b bytes.Buffer
	zw := gzip.NewWriter(&b)
	zw.Write([]byte(js))
	zw.Close()
	return b.Bytes()
}

// TestImportReceivedTime: an imported message is received when it says
// it arrived (Maildir name, else top Received, else Date), never at a
// time more than a day ahead, else at the import's time.
// Reporter.example's reports of November 1 to 20, imported on
// December 1, show it quiet.
func TestImportReceivedTime(t *testing.T) {
	now := time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC)
	dir := t.TempDir()
	day := func(d int) time.Time { return time.Date(2026, 11, d, 0, 0, 0, 0, time.UTC) }
	msg := func(id string, d int, headers string) []byte {
		return append([]byte(headers), wrapReport(id+".json.gz", gzReport(t, id, day(d)))...)
	}
	received := "Received: from mx.reporter.example by mail.example.net; Tue, 3 Nov 2026 10:00:00 +0000 (UTC)\r\n" +
		"Received: from a by mx.reporter.example; Mon, 2 Nov 2026 09:00:00 +0000\r\nDate: Sun, 1 Nov 2026 08:00:00 +0000\r\n"
	future := "Received: from x by mail.example.net; Thu, 1 Jan 2099 00:00:00 +0000\r\nDate: Wed, 4 Nov 2026 07:00:00 +0000\r\n"
	const maildirSecond = 1762430400 // 2025-11-06 12:00:00 UTC
	write(t, filepath.Join(dir, "Maildir", "cur", fmt.Sprint(maildirSecond, ".M1P1.test:2,S")), msg("maildir", 1, received))
	for _, sub := range []string{"new", "tmp"} {
		write(t, filepath.Join(dir, "Maildir", sub, ".keep"), nil)
	}
	write(t, filepath.Join(dir, "a-received.eml"), msg("received", 2, received))
	write(t, filepath.Join(dir, "b-future.eml"), msg("future", 3, future))
	write(t, filepath.Join(dir, "c-none.eml"), msg("none", 4, ""))
	for d := 5; d <= 20; d++ {
		write(t, filepath.Join(dir, fmt.Sprintf("d-%02d.eml", d)), msg(fmt.Sprint("day", d), d, ""))
	}
	st := storetest.Open(t)
	st.SetClock(func() time.Time { return now })
	sum, err := Import(context.Background(), st, []string{dir}, Options{Now: func() time.Time { return now },
		Authenticate: func(context.Context, []byte, *report.Message) arrival.Auth {
			return arrival.Auth{Authenticated: true, Method: "dkim", Domain: "reporter.example"}
		}})
	if err != nil || sum.Stored != 20 || len(sum.Errors) > 0 {
		t.Fatalf("%+v %v: %s", sum, err, errorLines(sum))
	}
	want := map[string]time.Time{
		"maildir":  time.Unix(maildirSecond, 0).UTC(),
		"received": time.Date(2026, 11, 3, 10, 0, 0, 0, time.UTC),
		"future":   time.Date(2026, 11, 4, 7, 0, 0, 0, time.UTC),
		"none":     now,
	}
	for id := int64(1); id <= 20; id++ {
		r, src, err := st.Report(context.Background(), id)
		if err != nil {
			t.Fatal(err)
		}
		if w, ok := want[r.ReportID]; ok && !src.Received.Equal(w) {
			t.Errorf("report %s received %s, want %s", r.ReportID, src.Received, w)
		}
	}
	as, err := st.ReportersAsOf(context.Background(), now)
	if err != nil || len(as) != 1 || !as[0].Quiet(now, 72*time.Hour) {
		t.Errorf("reporter silent since November 20 not quiet after the backfill: %+v, %v", as, err)
	}
}

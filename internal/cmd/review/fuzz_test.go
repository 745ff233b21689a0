package review

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"
	"unicode"

	"github.com/tlsrpt/tlsrpt/arrival"
	"github.com/tlsrpt/tlsrpt/assess"
	"github.com/tlsrpt/tlsrpt/internal/storetest"
	"github.com/tlsrpt/tlsrpt/report"
	"github.com/tlsrpt/tlsrpt/store"
)

// FuzzReviewPipeline runs any report through the whole pipeline: parsed as
// a reporter's JSON, stored (twice, under two reporters, so that sums
// add), reviewed, written as the table and as JSON. No control character
// may reach the table (tabwriter's padding is spaces; the only line break
// ends a row), the table has one line per address, and no count is ever
// negative or above the store's saturation.
//
//	go test ./internal/cmd/review -run '^$' -fuzz FuzzReviewPipeline
func FuzzReviewPipeline(f *testing.F) {
	for _, glob := range []string{"../../../testdata/corpus/*.json", "../../../report/testdata/*.json"} {
		files, _ := filepath.Glob(glob)
		for _, file := range files {
			if b, err := os.ReadFile(file); err == nil {
				f.Add(b)
			}
		}
	}
	f.Add([]byte(`{"organization-name":"Evil\u001b[2J\n203.0.113.9  1  1  Google  x  2024  2024  yes  -  trusted\r","date-range":{"start-datetime":"2024-01-01T00:00:00Z","end-datetime":"2024-01-02T00:00:00Z"},"report-id":"x\tid","policies":[{"policy":{"policy-type":"sts","policy-domain":"ex\u0007ample.com"},"summary":{"total-successful-session-count":9223372036854775807,"total-failure-session-count":1000000000000},"failure-details":[{"result-type":"\u009b31mred\u202e","sending-mta-ip":"192.0.2.1","failed-session-count":1000000000000}]}]}`))
	dir := f.TempDir()
	st := storetest.OpenAt(f, filepath.Join(dir, "fuzz.db"))
	var n atomic.Int64
	f.Fuzz(func(t *testing.T, data []byte) {
		r, err := report.ParseJSON(bytes.NewReader(data), report.Limits{MaxDecompressed: 1 << 20})
		if err != nil {
			return
		}
		ctx := context.Background()
		// Clear what the last input stored: each input is judged alone.
		if _, err := st.Prune(ctx, time.Unix(1<<40, 0)); err != nil {
			t.Fatal(err)
		}
		r.ReportID = fmt.Sprintf("%s-%d", r.ReportID, n.Add(1))
		for _, reporter := range []string{"a.example", "b.example"} {
			if _, _, err := st.AddReport(ctx, r, arrival.Source{Transport: "mail", Submitter: reporter}); err != nil {
				return // refused (counts out of range): nothing stored
			}
		}
		rows, err := assess.Review(ctx, st, assess.Options{})
		if err != nil {
			t.Fatal(err)
		}
		recs := assess.Records(rows)
		var table bytes.Buffer
		if err := WriteTable(&table, recs); err != nil {
			t.Fatal(err)
		}
		out := table.String()
		for _, c := range out {
			if c != '\n' && (unicode.IsControl(c) || unicode.Is(unicode.Cf, c) || c == '\u2028' || c == '\u2029') {
				t.Fatalf("control character %U reached the table:\n%q", c, out)
			}
		}
		if lines := strings.Count(out, "\n"); len(recs) > 0 && lines != len(recs)+1 {
			t.Fatalf("%d lines for %d addresses:\n%s", lines, len(recs), out)
		}
		for _, rec := range recs {
			if rec.FailedSessions < 0 || rec.FailedSessions > store.MaxSum || rec.Reports < 0 {
				t.Fatalf("out of range: %+v", rec)
			}
		}
		var js bytes.Buffer
		if err := WriteJSON(&js, recs); err != nil {
			t.Fatal(err)
		}
		var back []map[string]any
		if err := json.Unmarshal(js.Bytes(), &back); err != nil || len(back) != len(recs) {
			t.Fatalf("JSON does not read back: %v", err)
		}
		stats, err := st.SessionStats(ctx, time.Time{}, store.Day, store.ByReporter)
		if err != nil {
			t.Fatal(err)
		}
		for _, s := range stats {
			if s.Successful < 0 || s.Failed < 0 {
				t.Fatalf("negative sum: %+v", s)
			}
		}
	})
}

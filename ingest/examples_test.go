package ingest_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/tlsrpt/tlsrpt/ingest"
	"github.com/tlsrpt/tlsrpt/store"
)

func ExampleImport() {
	dir, _ := os.MkdirTemp("", "tlsrpt-example")
	defer os.RemoveAll(dir)
	dbDir, _ := os.MkdirTemp("", "tlsrpt-example-db")
	defer os.RemoveAll(dbDir)
	const js = `{"organization-name": "Example Mail", "report-id": "2024-02-01_example.net",
	  "date-range": {"start-datetime": "2024-02-01T00:00:00Z", "end-datetime": "2024-02-01T23:59:59Z"},
	  "policies": [{"policy": {"policy-type": "sts", "policy-domain": "example.net"},
	    "summary": {"total-successful-session-count": 9, "total-failure-session-count": 0}}]}`
	os.WriteFile(filepath.Join(dir, "report.json"), []byte(js), 0o600)
	os.WriteFile(filepath.Join(dir, "hello.eml"), []byte("Subject: hello\n\nnot a report\n"), 0o600)
	os.WriteFile(filepath.Join(dir, "broken.json.gz"), []byte("\x1f\x8bnot gzip"), 0o600)

	st, err := store.Open(filepath.Join(dbDir, "tlsrpt.db"))
	if err != nil {
		fmt.Println(err)
		return
	}
	defer st.Close()
	for range 2 {
		sum, err := ingest.Import(context.Background(), st, []string{dir}, ingest.Options{})
		if err != nil {
			fmt.Println(err)
			return
		}
		fmt.Printf("read %d, stored %d, duplicates %d, not reports %d, errors %d\n",
			sum.Read, sum.Stored, sum.Duplicates, sum.NotReports, len(sum.Errors))
		for _, e := range sum.Errors {
			fmt.Println(strings.ReplaceAll(e.Error(), dir, "DIR"))
		}
	}
	// Output:
	// read 3, stored 1, duplicates 0, not reports 1, errors 1
	// DIR/broken.json.gz: report: decoding gzip report "DIR/broken.json.gz": gzip: invalid header
	// read 3, stored 0, duplicates 1, not reports 1, errors 1
	// DIR/broken.json.gz: report: decoding gzip report "DIR/broken.json.gz": gzip: invalid header
}

func ExampleMboxReader() {
	const mbox = "From alice@example.org Thu Feb  1 10:00:00 2024\n" +
		"Subject: one\n\n>From the start, a quoted From line.\n\n" +
		"From bob@example.org Thu Feb  1 11:00:00 2024\n" +
		"Subject: two\n\nbody\n"
	mr := ingest.NewMboxReader(strings.NewReader(mbox), 0)
	for {
		msg, err := mr.Next()
		if err != nil {
			break
		}
		fmt.Printf("line %d: %q\n", mr.Line(), msg)
	}
	// Output:
	// line 1: "Subject: one\n\nFrom the start, a quoted From line.\n"
	// line 6: "Subject: two\n\nbody\n"
}

// Command dmarcgen writes a DMARC aggregate report for the speed and
// memory measures of docs/performance.md: the XML of n records (2,000
// make about 1 MB), or with -mail the mail a reporter sends for it (the
// report gzip-compressed, or with -plain as it is, attached).
//
//	go run ./bench/dmarcgen -records 2000 > report.xml
//	go run ./bench/dmarcgen -records 2000 -mail > report.eml
//	go run ./bench/dmarcgen -records 2000 -mail -plain > report.eml
package main

import (
	"flag"
	"fmt"
	"os"

	"github.com/tlsrpt/tlsrpt/internal/reporttest"
)

func main() {
	n := flag.Int("records", 2000, "records in the report")
	id := flag.String("id", "bench-1", "the report's report_id")
	mail := flag.Bool("mail", false, "write the mail carrying the report gzip-compressed, not the XML")
	plain := flag.Bool("plain", false, "with -mail, attach the XML uncompressed")
	flag.Parse()
	out := reporttest.DMARC(*id, *n)
	switch {
	case *mail && *plain:
		out = reporttest.DMARCMailPlain(*id, out)
	case *mail:
		out = reporttest.DMARCMail(*id, out)
	}
	if _, err := os.Stdout.Write(out); err != nil {
		fmt.Fprintln(os.Stderr, "dmarcgen:", err)
		os.Exit(1)
	}
}

package dmarc_test

import (
	"errors"
	"fmt"
	"os"
	"strings"

	"github.com/tlsrpt/tlsrpt/dmarc"
)

func ExampleParse() {
	f, err := os.Open("testdata/corpus/fastmail.com!example.com!1516060800!1516147199!102675056.xml.gz")
	if err != nil {
		panic(err)
	}
	defer f.Close()
	rep, err := dmarc.Parse(f, dmarc.Limits{})
	if err != nil {
		panic(err)
	}
	fmt.Println(rep.Metadata.Reporter, rep.Metadata.ReportID, rep.Policy.Domain)
	for _, r := range rep.Records {
		fmt.Println(r.SourceIP, r.Count, r.HeaderFrom, "dmarc pass:", r.DMARCPass())
	}
	// Output:
	// FastMail Pty Ltd 102675056 indemed.com
	// 104.195.80.20 1 example.com dmarc pass: false
}

func ExampleParse_refused() {
	_, err := dmarc.Parse(strings.NewReader(`<!DOCTYPE feedback [<!ENTITY x SYSTEM "file:///etc/passwd">]><feedback/>`), dmarc.Limits{})
	fmt.Println(errors.Is(err, dmarc.ErrDTD), err)
	_, err = dmarc.Parse(strings.NewReader(`{"organization-name": "a TLS report"}`), dmarc.Limits{})
	fmt.Println(errors.Is(err, dmarc.ErrNotDMARC))
	// Output:
	// true dmarc: DOCTYPE refused (DTDs and entities are never read)
	// true
}

func ExampleFromMessage() {
	f, err := os.Open("testdata/corpus/Report domain- borschow.com Submitter- google.com Report-ID- 949348866075514174.eml")
	if err != nil {
		panic(err)
	}
	defer f.Close()
	m, err := dmarc.FromMessage(f, dmarc.Limits{})
	if err != nil {
		panic(err)
	}
	for _, found := range m.Found {
		rep := found.Report
		fmt.Printf("%s: %s, %d messages, %d failed DMARC\n", found.Name, rep.Metadata.Reporter, rep.Messages(), rep.Failed())
	}
	// Output:
	// google.com!borschow.com!1549929600!1550015999.zip: google.com, 1 messages, 1 failed DMARC
}

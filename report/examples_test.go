package report_test

import (
	"errors"
	"fmt"
	"os"
	"strings"

	"github.com/tlsrpt/tlsrpt/report"
)

func ExampleParseJSON() {
	// Microsoft leaves the time zone out and nests its TLSA records.
	const js = `{
	  "organization-name": "Microsoft Corporation",
	  "date-range": {"start-datetime": "2023-01-10T00:00:00", "end-datetime": "2023-01-10T23:59:59"},
	  "contact-info": "tlsrpt-noreply@microsoft.com",
	  "report-id": "133198585438131172+example.net",
	  "policies": [{
	    "policy": {"policy-type": "tlsa", "policy-domain": "example.net",
	               "policy-string": ["[\"3 1 1 AB\",\"3 1 1 CD\"]"]},
	    "summary": {"total-successful-session-count": 10, "total-failure-session-count": 2},
	    "failure-details": [{"result-type": "tlsa-invalid", "sending-mta-ip": "2a01:111:f403:c110::2",
	                         "failed-session-count": 2}]
	  }]
	}`
	r, err := report.ParseJSON(strings.NewReader(js), report.Limits{})
	if err != nil {
		fmt.Println(err)
		return
	}
	p := r.Policies[0]
	fmt.Println(r.OrganizationName, r.Start)
	fmt.Printf("%s %q\n", p.Type, p.Strings)
	fmt.Println(p.Details[0].SendingMTAIP, p.Details[0].ResultType, p.Details[0].FailedSessions)
	// Output:
	// Microsoft Corporation 2023-01-10 00:00:00 +0000 UTC
	// tlsa ["3 1 1 AB" "3 1 1 CD"]
	// 2a01:111:f403:c110::2 tlsa-invalid 2
}

func ExampleReadMessage() {
	raw, err := os.ReadFile("testdata/two-reports.eml")
	if err != nil {
		fmt.Println(err)
		return
	}
	m, err := report.ReadMessage(raw, report.Limits{})
	if errors.Is(err, report.ErrNoReport) {
		fmt.Println("not a report message")
		return
	}
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println("submitter:", m.Submitter, "failed sessions:", m.Failed())
	for _, f := range m.Found {
		for _, p := range f.Report.Policies {
			for _, d := range p.Details {
				fmt.Printf("%s: %s from %s (%d)\n", f.Name, d.ResultType, d.SendingMTAIP, d.FailedSessions)
			}
		}
	}
	// Output:
	// submitter: reporter.example failed sessions: 7
	// a.json.gz: certificate-expired from 192.0.2.10 (3)
	// b.json.gz: certificate-expired from 192.0.2.11 (4)
}

func ExampleDecode() {
	_, err := report.Decode([]byte("%PDF-1.7 ..."), "invoice.pdf", "application/pdf", report.Limits{})
	fmt.Println(errors.Is(err, report.ErrNoReport))
	// Output:
	// true
}

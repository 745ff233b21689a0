package allowlist_test

import (
	"fmt"
	"strings"

	"github.com/tlsrpt/tlsrpt/allowlist"
)

func ExampleParse() {
	entries, err := allowlist.Parse(strings.NewReader(`
# our partners
partner.example ip:192.0.2.0/24 rdns:out.partner.example
`), "corp.list")
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(entries[0].Domain, entries[0].IPs, entries[0].RDNS)

	_, err = allowlist.Parse(strings.NewReader("partner.example ip:10.0.0.0/33\n"), "corp.list")
	fmt.Println(err)
	// Output:
	// partner.example [192.0.2.0/24] [out.partner.example]
	// allowlist: corp.list:1: bad ip: "10.0.0.0/33": netip.ParsePrefix("10.0.0.0/33"): prefix length out of range
}

func ExampleList_ForReporter() {
	l := allowlist.Default()
	// Mail.ru signs its reports as corp.mail.ru.
	fmt.Println(l.ForReporter("corp.mail.ru"))
	fmt.Println(l.ForReporter("evil.example") == nil)
	// Output:
	// mail.ru spf:_spf.mail.ru
	// true
}

func ExampleOrgDomain() {
	fmt.Println(allowlist.OrgDomain("mail-sor-f41.google.com"), allowlist.OrgDomain("corp.mail.ru"), allowlist.OrgDomain("Google Inc.") == "")
	// Output: google.com mail.ru true
}

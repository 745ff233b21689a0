package probe_test

import (
	"context"
	"fmt"
	"time"

	"github.com/tlsrpt/tlsrpt/probe"
)

// Probe the checks that certificate-expired calls for, at a validating
// resolver, and print what needs fixing. (Not run: it needs the network.)
func ExampleProber_Diagnose() {
	p := &probe.Prober{Resolver: "127.0.0.1:53", Timeout: 5 * time.Second}
	findings, err := p.Diagnose(context.Background(), probe.Request{
		Domain:      "example.org",
		ResultTypes: []string{probe.CertificateExpired},
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	for _, f := range findings {
		if f.Status == probe.Fail || f.Status == probe.Warn {
			fmt.Printf("%s %s: %s (%s)\n", f.Check, f.Host, f.Detail, f.Advice)
		}
	}
}

func ExampleMeaning() {
	m, _ := probe.Meaning(probe.STSWebPKIInvalid)
	fmt.Println(m)
	// Output: the certificate of mta-sts.DOMAIN is not valid
}

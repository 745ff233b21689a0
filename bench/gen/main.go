// Command gen writes the synthetic inputs of the scale benchmarks
// (make bench-scale): a year of reports as JSON files for `tlsrpt import`,
// report messages with many failure details, and messages made of folded
// header lines. Everything is deterministic for a given set of flags, so
// that runs compare.
//
//	go run ./bench/gen year -out DIR [-reporters 10 -days 365 -details 55 -addresses 20000]
//	go run ./bench/gen details -n 10000 > msg.eml
//	go run ./bench/gen packed -n 200000 > msg.eml
//	go run ./bench/gen folded -kb 300 > msg.eml
package main

import (
	"bytes"
	"compress/gzip"
	"encoding/base64"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"math/rand/v2"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"time"
)

func main() {
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, "usage: gen year|details|packed|folded [flags]")
		os.Exit(2)
	}
	var err error
	switch os.Args[1] {
	case "year":
		err = year(os.Args[2:])
	case "details":
		err = details(os.Args[2:], false)
	case "packed":
		err = details(os.Args[2:], true)
	case "folded":
		err = folded(os.Args[2:])
	default:
		err = fmt.Errorf("unknown kind %q", os.Args[1])
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "gen:", err)
		os.Exit(1)
	}
}

// The RFC 8460 wire format, only what the benchmarks need.
type (
	wireReport struct {
		Org      string       `json:"organization-name"`
		Range    wireRange    `json:"date-range"`
		Contact  string       `json:"contact-info"`
		ReportID string       `json:"report-id"`
		Policies []wirePolicy `json:"policies"`
	}
	wireRange struct {
		Start string `json:"start-datetime"`
		End   string `json:"end-datetime"`
	}
	wirePolicy struct {
		Policy  wirePolicyDesc `json:"policy"`
		Summary wireSummary    `json:"summary"`
		Details []wireDetail   `json:"failure-details,omitempty"`
	}
	wirePolicyDesc struct {
		Type   string   `json:"policy-type"`
		String []string `json:"policy-string,omitempty"`
		Domain string   `json:"policy-domain"`
		MXHost []string `json:"mx-host,omitempty"`
	}
	wireSummary struct {
		Successful int64 `json:"total-successful-session-count"`
		Failed     int64 `json:"total-failure-session-count"`
	}
	wireDetail struct {
		ResultType  string `json:"result-type,omitempty"`
		SendingIP   string `json:"sending-mta-ip"`
		ReceivingMX string `json:"receiving-mx-hostname,omitempty"`
		ReceivingIP string `json:"receiving-ip,omitempty"`
		Sessions    int64  `json:"failed-session-count"`
	}
)

var resultTypes = []string{"starttls-not-supported", "certificate-expired", "validation-failure", "certificate-host-mismatch", "sts-webpki-invalid"}

// addr returns the i-th address of the benchmarking range 198.18.0.0/15.
func addr(i int) string {
	base := netip.MustParseAddr("198.18.0.0").As4()
	n := uint32(base[0])<<24 | uint32(base[1])<<16 | uint32(i%131072)
	return netip.AddrFrom4([4]byte{byte(n >> 24), byte(n >> 16), byte(n >> 8), byte(n)}).String()
}

// makeReport builds one report with n failure details, addresses drawn from
// a pool of pool addresses.
func makeReport(org, id string, day time.Time, n, pool int, rng *rand.Rand) wireReport {
	p := wirePolicy{Policy: wirePolicyDesc{Type: "sts", Domain: "example.com",
		String: []string{"version: STSv1", "mode: enforce", "mx: mx1.example.com", "max_age: 86400"},
		MXHost: []string{"mx1.example.com"}}}
	for i := 0; i < n; i++ {
		s := int64(1 + rng.IntN(20))
		p.Details = append(p.Details, wireDetail{ResultType: resultTypes[rng.IntN(len(resultTypes))],
			SendingIP: addr(rng.IntN(pool)), ReceivingMX: "mx1.example.com", ReceivingIP: "192.0.2.25", Sessions: s})
		p.Summary.Failed += s
	}
	p.Summary.Successful = 1000 + int64(rng.IntN(1000))
	return wireReport{Org: org, Contact: "tlsrpt@" + strings.NewReplacer(" ", "", ".", "").Replace(strings.ToLower(org)) + ".example",
		ReportID: id, Range: wireRange{Start: day.Format(time.RFC3339), End: day.Add(24*time.Hour - time.Second).Format(time.RFC3339)},
		Policies: []wirePolicy{p}}
}

// year writes reporters × days report files into -out.
func year(args []string) error {
	fs := flag.NewFlagSet("year", flag.ExitOnError)
	out := fs.String("out", "", "folder to write the .json reports into")
	reporters := fs.Int("reporters", 10, "reporters")
	days := fs.Int("days", 365, "days, ending yesterday")
	n := fs.Int("details", 55, "failure details per report")
	pool := fs.Int("addresses", 20000, "distinct sending addresses")
	fs.Parse(args)
	if *out == "" {
		return fmt.Errorf("year: -out is required")
	}
	if err := os.MkdirAll(*out, 0o755); err != nil {
		return err
	}
	rng := rand.New(rand.NewPCG(1, 2))
	end := time.Now().UTC().Truncate(24 * time.Hour)
	for r := 0; r < *reporters; r++ {
		org := fmt.Sprintf("Reporter %02d", r)
		for d := *days; d >= 1; d-- {
			day := end.AddDate(0, 0, -d)
			rep := makeReport(org, fmt.Sprintf("%s_r%02d@reporter%02d.example", day.Format("2006-01-02"), r, r), day, *n, *pool, rng)
			b, err := json.Marshal(rep)
			if err != nil {
				return err
			}
			name := filepath.Join(*out, fmt.Sprintf("r%02d-%s.json", r, day.Format("2006-01-02")))
			if err := os.WriteFile(name, b, 0o644); err != nil {
				return err
			}
		}
	}
	return nil
}

// details writes a report message with -n failure details, each from its
// own address (packed: all from a few addresses, so that the gzip is tiny).
func details(args []string, packed bool) error {
	fs := flag.NewFlagSet("details", flag.ExitOnError)
	n := fs.Int("n", 10000, "failure details")
	id := fs.String("id", "2024-05-01T00:00:00Z_example.com", "report-id")
	fs.Parse(args)
	rng := rand.New(rand.NewPCG(3, 4))
	pool := *n
	if packed {
		pool = 1
	}
	rep := makeReport("Google Inc.", *id, time.Date(2024, 5, 1, 0, 0, 0, 0, time.UTC), *n, pool, rng)
	if packed {
		for i := range rep.Policies[0].Details {
			// The smallest detail a lenient parser accepts, so that
			// 200,000 of them stay under the decompression bound.
			rep.Policies[0].Details[i] = wireDetail{SendingIP: addr(0), Sessions: 1}
		}
		rep.Policies[0].Summary.Failed = int64(*n)
	}
	js, err := json.Marshal(rep)
	if err != nil {
		return err
	}
	var gz bytes.Buffer
	zw, _ := gzip.NewWriterLevel(&gz, gzip.BestCompression)
	zw.Write(js)
	zw.Close()
	return writeMessage(os.Stdout, "google.com!example.com!1714521600!1714607999.json.gz", gz.Bytes())
}

// writeMessage writes a Google-style report message around a gzip
// attachment.
func writeMessage(w io.Writer, name string, gz []byte) error {
	var b strings.Builder
	b.WriteString("From: noreply-smtp-tls-reporting@google.com\nTo: tlsrpt@example.com\n" +
		"Subject: Report Domain: example.com Submitter: google.com Report-ID: <2024-05-01T00:00:00Z_example.com>\n" +
		"TLS-Report-Domain: example.com\nTLS-Report-Submitter: google.com\nMIME-Version: 1.0\n" +
		"Message-ID: <bench@google.com>\nDate: Thu, 02 May 2024 00:00:00 +0000\n" +
		"Content-Type: multipart/report; boundary=\"bench-boundary\"; report-type=tlsrpt\n\n" +
		"--bench-boundary\nContent-Type: text/plain; charset=UTF-8\n\nThis is an aggregate TLS report from google.com\n\n" +
		"--bench-boundary\nContent-Type: application/tlsrpt+gzip; name=\"" + name + "\"\n" +
		"Content-Disposition: attachment; filename=\"" + name + "\"\nContent-Transfer-Encoding: base64\n\n")
	enc := base64.StdEncoding.EncodeToString(gz)
	for len(enc) > 76 {
		b.WriteString(enc[:76] + "\n")
		enc = enc[76:]
	}
	b.WriteString(enc + "\n--bench-boundary--\n")
	_, err := io.WriteString(w, b.String())
	return err
}

// folded writes a small report message whose header holds about -kb KiB of
// folded header lines before the report.
func folded(args []string) error {
	fs := flag.NewFlagSet("folded", flag.ExitOnError)
	kb := fs.Int("kb", 150, "KiB of folded header lines")
	fields := fs.Bool("fields", false, "many short folded fields instead of one long one")
	fs.Parse(args)
	var b strings.Builder
	if *fields {
		for i := 0; b.Len() < *kb*1024; i++ {
			fmt.Fprintf(&b, "X-Folded-%d: a value\n\tfolded onto\n\tthree lines\n", i)
		}
	} else {
		b.WriteString("X-Folded: start")
		for b.Len() < *kb*1024 {
			b.WriteString("\n\tcontinued")
		}
		b.WriteString("\n")
	}
	rng := rand.New(rand.NewPCG(5, 6))
	rep := makeReport("Google Inc.", "2024-05-01T00:00:00Z_example.com", time.Date(2024, 5, 1, 0, 0, 0, 0, time.UTC), 3, 3, rng)
	js, _ := json.Marshal(rep)
	var gz bytes.Buffer
	zw := gzip.NewWriter(&gz)
	zw.Write(js)
	zw.Close()
	os.Stdout.WriteString(b.String())
	return writeMessage(os.Stdout, "google.com!example.com!1714521600!1714607999.json.gz", gz.Bytes())
}

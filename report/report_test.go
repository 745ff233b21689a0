package report

import (
	"errors"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/tlsrpt/tlsrpt/internal/golden"
	"github.com/tlsrpt/tlsrpt/internal/reporttest"
)

// corpusDir is the corpus of real reports: the repository's copy
// (testdata/corpus, byte for byte the shared corpus), overridable with
// $TLSRPT_CORPUS.
func corpusDir(t testing.TB) string {
	t.Helper()
	dir := os.Getenv("TLSRPT_CORPUS")
	if dir == "" {
		dir = filepath.Join("..", "testdata", "corpus")
	}
	if _, err := os.Stat(dir); err != nil {
		t.Fatalf("corpus of real reports not found: %v (set TLSRPT_CORPUS)", err)
	}
	return dir
}

// sampleFiles lists every sample: the shared corpus, then testdata.
func sampleFiles(t testing.TB) []string {
	t.Helper()
	return golden.Samples(t, 20, nil, corpusDir(t), "testdata")
}

// result is what reading one sample gave.
type result struct {
	msg  *Message  // .eml files
	reps []*Report // other files, through Decode
	err  error
}

// reports returns the readable reports, however the sample was read.
func (r result) reports() []*Report {
	if r.msg != nil {
		return r.msg.Reports()
	}
	return r.reps
}

// readSample reads a sample the way tlsrpt would: messages through
// ReadMessage, everything else through Decode.
func readSample(t *testing.T, path string) result {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if strings.HasSuffix(path, ".eml") {
		m, err := ReadMessage(data, Limits{})
		if m == nil {
			t.Fatalf("ReadMessage returned a nil Message (err %v)", err)
		}
		return result{msg: m, err: err}
	}
	reps, err := Decode(data, filepath.Base(path), "", Limits{})
	return result{reps: reps, err: err}
}

// goldenFound and goldenResult are the golden dump's shape.
type goldenFound struct {
	Name      string
	MediaType string
	Report    *Report `json:",omitempty"`
	Err       string  `json:",omitempty"`
}

type goldenResult struct {
	Submitter, Domain, From, FromDomain, Subject, MessageID string `json:",omitempty"`
	Failed                                                  int64
	Found                                                   []goldenFound `json:",omitempty"`
	Reports                                                 []*Report     `json:",omitempty"`
	Err                                                     string        `json:",omitempty"`
}

func errString(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}

func (r result) golden() []byte {
	g := goldenResult{Err: errString(r.err), Reports: r.reps}
	for _, rep := range r.reports() {
		g.Failed += rep.TotalFailed()
	}
	if m := r.msg; m != nil {
		g.Submitter, g.Domain, g.From, g.FromDomain = m.Submitter, m.Domain, m.From, m.FromDomain
		g.Subject, g.MessageID = m.Subject, m.MessageID
		for _, f := range m.Found {
			g.Found = append(g.Found, goldenFound{f.Name, f.MediaType, f.Report, errString(f.Err)})
		}
	}
	return golden.JSON(g)
}

// TestSamplesGolden reads every sample and compares a dump of the result
// with testdata/golden/<file>.golden; run with -update to rewrite them.
func TestSamplesGolden(t *testing.T) {
	golden.Files(t, sampleFiles(t), func(t *testing.T, path string) []byte { return readSample(t, path).golden() })
}

// TestSamplesFacts checks specific facts about every sample; a sample
// without a check fails, so that every new quirk gets its assertion.
func TestSamplesFacts(t *testing.T) {
	golden.Facts(t, sampleFiles(t), readSample, facts)
}

// Helpers for the facts table.

func utc(s string) time.Time {
	tm, err := time.Parse(time.RFC3339, s)
	if err != nil {
		panic(err)
	}
	return tm.UTC()
}

func addr(s string) netip.Addr { return netip.MustParseAddr(s) }

// one asserts that the sample gave exactly one report and no error.
func one(t *testing.T, r result) *Report {
	t.Helper()
	rep := reporttest.One(t, r.reports(), r.err)
	if rep.Policies == nil {
		t.Fatal("Policies is nil")
	}
	return rep
}

// wantErr asserts an error mentioning every fragment, and wrapping target
// when target is not nil.
func wantErr(t *testing.T, err, target error, fragments ...string) {
	t.Helper()
	reporttest.WantErr(t, err, target, fragments...)
	if target == nil && (errors.Is(err, ErrNoReport) || errors.Is(err, ErrTooLarge)) {
		t.Errorf("error %q wraps a sentinel, want a plain error", err)
	}
}

func eq[T comparable](t *testing.T, what string, got, want T) {
	t.Helper()
	reporttest.Eq(t, what, got, want)
}

// headers checks the fields the generated testdata messages all share.
func headers(t *testing.T, r result) {
	t.Helper()
	m := r.msg
	eq(t, "Submitter", m.Submitter, "reporter.example")
	eq(t, "Domain", m.Domain, "example.net")
	eq(t, "From", m.From, "tlsrpt@reporter.example")
	eq(t, "FromDomain", m.FromDomain, "reporter.example")
	if !strings.Contains(m.Subject, "Report Domain: example.net") {
		t.Errorf("Subject = %q", m.Subject)
	}
	if !strings.HasSuffix(m.MessageID, ".msg@reporter.example") || strings.ContainsAny(m.MessageID, "<>") {
		t.Errorf("MessageID = %q", m.MessageID)
	}
}

// generated checks a report made by the testdata generator: one sts
// policy with one certificate-expired failure from ip, n sessions.
func generated(t *testing.T, rep *Report, id, ip string, n int64) {
	t.Helper()
	eq(t, "ReportID", rep.ReportID, id)
	eq(t, "Start", rep.Start, utc("2026-11-01T00:00:00Z"))
	eq(t, "End", rep.End, utc("2026-11-01T23:59:59Z"))
	if len(rep.Policies) != 1 || len(rep.Policies[0].Details) != 1 {
		t.Fatalf("policies %+v", rep.Policies)
	}
	p := rep.Policies[0]
	eq(t, "Successful", p.Successful, 100)
	eq(t, "Failed", p.Failed, n)
	d := p.Details[0]
	eq(t, "ResultType", d.ResultType, "certificate-expired")
	eq(t, "SendingMTAIP", d.SendingMTAIP, addr(ip))
	eq(t, "ReceivingIP", d.ReceivingIP, addr("203.0.113.25"))
	eq(t, "FailedSessions", d.FailedSessions, n)
}

// msgReport checks a generated message carrying one generated report in
// a part named name with media type mt.
func msgReport(id, name, mt string) func(*testing.T, result) {
	return func(t *testing.T, r result) {
		headers(t, r)
		rep := one(t, r)
		generated(t, rep, id, "198.51.100.7", 5)
		eq(t, "Failed()", r.msg.Failed(), 5)
		if len(r.msg.Found) != 1 {
			t.Fatalf("Found = %+v, want one", r.msg.Found)
		}
		eq(t, "Found.Name", r.msg.Found[0].Name, name)
		eq(t, "Found.MediaType", r.msg.Found[0].MediaType, mt)
	}
}

// jsonReport checks a generated JSON file.
func jsonFile(id string, more func(*testing.T, *Report)) func(*testing.T, result) {
	return func(t *testing.T, r result) {
		rep := one(t, r)
		eq(t, "ReportID", rep.ReportID, id)
		if more != nil {
			more(t, rep)
		}
	}
}

// facts holds what must hold for every sample file.
var facts = map[string]func(*testing.T, result){
	// The shared corpus of real reports.
	"01-mox-microsoft-2023.eml": func(t *testing.T, r result) {
		rep := one(t, r)
		eq(t, "Start", rep.Start, utc("2023-01-10T00:00:00Z"))
		eq(t, "Start zone", rep.Start.Location(), time.UTC)
		eq(t, "End", rep.End, utc("2023-01-10T23:59:59Z"))
		eq(t, "OrganizationName", rep.OrganizationName, "Microsoft Corporation")
		eq(t, "MX hosts", len(rep.Policies[0].MXHosts), 0)
		eq(t, "Submitter", r.msg.Submitter, "microsoft.com")
		eq(t, "FromDomain", r.msg.FromDomain, "microsoft.com")
		eq(t, "MediaType", r.msg.Found[0].MediaType, "application/tlsrpt+gzip")
		eq(t, "Successful", rep.TotalSuccessful(), 2)
	},
	"02-mox-google-2022.eml": func(t *testing.T, r result) {
		rep := one(t, r)
		if !slices.Equal(rep.Policies[0].MXHosts, []string{"komijn.test.xmox.nl"}) {
			t.Errorf("MXHosts = %q", rep.Policies[0].MXHosts)
		}
		eq(t, "Submitter", r.msg.Submitter, "google.com")
		eq(t, "Domain", r.msg.Domain, "test.xmox.nl")
		eq(t, "From", r.msg.From, "noreply-smtp-tls-reporting@google.com")
		eq(t, "ReportID", rep.ReportID, "2022-09-15T00:00:00Z_test.xmox.nl")
		eq(t, "Successful", rep.TotalSuccessful(), 3)
	},
	"03-parsedmarc-google-2024.eml": func(t *testing.T, r result) {
		rep := one(t, r)
		eq(t, "Type", rep.Policies[0].Type, "no-policy-found")
		eq(t, "Successful", rep.Policies[0].Successful, 48)
		eq(t, "MessageID", r.msg.MessageID, "66d83c20.050a0220.a0566.1e8dtls@google.com")
	},
	"04-parsedmarc-mailru-2024.json": func(t *testing.T, r result) {
		rep := one(t, r)
		p := rep.Policies[0]
		eq(t, "summary failed", p.Failed, 1)
		if len(p.Details) != 2 {
			t.Fatalf("details %+v", p.Details)
		}
		var sum int64
		for _, d := range p.Details {
			sum += d.FailedSessions
			eq(t, "SendingMTAIP valid", d.SendingMTAIP.IsValid(), false)
			eq(t, "ReceivingIP valid", d.ReceivingIP.IsValid(), false)
			eq(t, "ResultType", d.ResultType, "sts-policy-fetch-error")
		}
		eq(t, "detail sum (kept as given)", sum, 2)
		eq(t, "FailureReasonCode", p.Details[0].FailureReasonCode, "bad https response code: 404")
		eq(t, "End", rep.End, utc("2024-02-23T00:00:00Z"))
	},
	"05-parsedmarc-google-failures-2024.json": func(t *testing.T, r result) {
		rep := one(t, r)
		d := rep.Policies[0].Details
		if len(d) != 2 {
			t.Fatalf("details %+v", d)
		}
		eq(t, "ip 0", d[0].SendingMTAIP, addr("209.85.222.201"))
		eq(t, "count 0", d[0].FailedSessions, 2)
		eq(t, "ip 1", d[1].SendingMTAIP, addr("209.85.208.176"))
		eq(t, "receiving ip", d[1].ReceivingIP, addr("173.212.201.41"))
		eq(t, "TotalFailed", rep.TotalFailed(), 3)
	},
	"06-parsedmarc-rfc8460-mxhost-string.json": func(t *testing.T, r result) {
		rep := one(t, r)
		p := rep.Policies[0]
		if !slices.Equal(p.MXHosts, []string{"*.mail.company-y.example"}) {
			t.Errorf("MXHosts = %q", p.MXHosts)
		}
		eq(t, "ipv6", p.Details[0].SendingMTAIP, addr("2001:db8:abcd:12::1"))
		eq(t, "Failed", p.Failed, 303)
		eq(t, "reason", p.Details[2].FailureReasonCode, "X509_V_ERR_PROXY_PATH_LENGTH_EXCEEDED")
	},
	"09-drv-microsoft-tlsa-2025.json": func(t *testing.T, r result) {
		rep := one(t, r)
		if len(rep.Policies) != 2 {
			t.Fatalf("policies %+v", rep.Policies)
		}
		eq(t, "sts strings", len(rep.Policies[0].Strings), 4)
		tlsa := rep.Policies[1]
		eq(t, "Type", tlsa.Type, "tlsa")
		if len(tlsa.Strings) != 2 || !strings.HasPrefix(tlsa.Strings[0], "3 1 1 6007EEE5") || !strings.HasPrefix(tlsa.Strings[1], "3 1 1 837C773D") {
			t.Errorf("tlsa strings not flattened: %q", tlsa.Strings)
		}
	},
	"10-drv-microsoft-no-ip-2025.json": func(t *testing.T, r result) {
		rep := one(t, r)
		if !strings.HasSuffix(rep.ReportID, "+") {
			t.Errorf("ReportID = %q", rep.ReportID)
		}
		d := rep.Policies[0].Details[0]
		eq(t, "SendingMTAIP valid", d.SendingMTAIP.IsValid(), false)
		eq(t, "ReceivingMXHostname", d.ReceivingMXHostname, "")
		eq(t, "FailedSessions", d.FailedSessions, 3)
	},
	"11-drv-contact-null-2026.json": func(t *testing.T, r result) {
		rep := one(t, r)
		eq(t, "ContactInfo", rep.ContactInfo, "")
		eq(t, "details", len(rep.Policies[0].Details), 0)
		if !slices.Equal(rep.Policies[0].MXHosts, []string{"mx: mx.server.com"}) {
			t.Errorf("MXHosts = %q (kept as given)", rep.Policies[0].MXHosts)
		}
		eq(t, "End", rep.End, utc("2026-01-12T00:00:00Z"))
	},
	"12-mailtlsrpt-google-2020.eml": func(t *testing.T, r result) {
		rep := one(t, r)
		p := rep.Policies[0]
		eq(t, "Type", p.Type, "no-policy-found")
		eq(t, "Successful", p.Successful, 343)
		eq(t, "Strings", len(p.Strings), 0)
		eq(t, "Domain", r.msg.Domain, "fastmaildmarc.com")
	},
	"13-tlsrptdigest-microsoft-html-2026.eml": func(t *testing.T, r result) {
		rep := one(t, r)
		eq(t, "Found", len(r.msg.Found), 1) // the text/html part is not a candidate
		eq(t, "Start", rep.Start, utc("2026-05-13T00:00:00Z"))
		eq(t, "OrganizationName", rep.OrganizationName, "Microsoft Corporation")
		eq(t, "strings", len(rep.Policies[0].Strings), 5)
	},
	"14-tlsrptdigest-google-failure.eml": func(t *testing.T, r result) {
		rep := one(t, r)
		var hit bool
		for _, d := range rep.Policies[0].Details {
			if d.SendingMTAIP == addr("192.0.2.1") && d.ResultType == "certificate-expired" {
				hit = true
			}
		}
		if !hit {
			t.Errorf("no certificate-expired failure from 192.0.2.1: %+v", rep.Policies[0].Details)
		}
		eq(t, "Failed()", r.msg.Failed(), 2)
	},
	"15-mailauth-wrong-ctype-plainjson.eml": func(t *testing.T, r result) {
		rep := one(t, r)
		f := r.msg.Found[0]
		eq(t, "MediaType", f.MediaType, "application/tlsrpt")
		if !strings.HasSuffix(f.Name, ".json") {
			t.Errorf("Name = %q", f.Name)
		}
		eq(t, "ip", rep.Policies[0].Details[0].SendingMTAIP, addr("123.123.123.123"))
		eq(t, "ResultType", rep.Policies[0].Details[0].ResultType, "certificate-host-mismatch")
		eq(t, "Failed()", r.msg.Failed(), 1)
		eq(t, "MessageID", r.msg.MessageID, "")
	},

	// Generated messages in testdata: media types and encodings.
	"mt-tlsrpt-json-8bit-crlf.eml": func(t *testing.T, r result) {
		msgReport("mt-json-8bit@reporter.example", "reporter.example!example.net!1793577600!1793663999.json", "application/tlsrpt+json")(t, r)
		eq(t, "OrganizationName", one(t, r).OrganizationName, "Exémple Ünicode")
	},
	"mt-gzip-base64-lf.eml":     msgReport("mt-gzip@reporter.example", "r.json.gz", "application/gzip"),
	"mt-x-gzip-qp-crlf.eml":     msgReport("mt-x-gzip-qp@reporter.example", "r.json.gz", "application/x-gzip"),
	"mt-json-qp-lf.eml":         msgReport("mt-json-qp@reporter.example", "2", "application/json"),
	"mt-zip-json.eml":           msgReport("mt-zip-json@reporter.example", "report.zip/report.json", "application/zip"),
	"mt-octet-stream-named.eml": msgReport("mt-octet@reporter.example", "reporter.example!example.net!1.json.gz", "application/octet-stream"),
	"mt-unnamed-gzip-magic.eml": msgReport("mt-magic@reporter.example", "2", "application/x-unknown"),
	"mt-tlsrpt-gzip-binary.eml": msgReport("mt-binary@reporter.example", "r.json.gz", "application/tlsrpt+gzip"),
	"mt-tlsrpt-plainjson.eml":   msgReport("mt-tlsrpt@reporter.example", "r.json", "application/tlsrpt"),
	"mt-zip-jsongz.eml": func(t *testing.T, r result) {
		headers(t, r)
		generated(t, one(t, r), "mt-zip-jsongz@reporter.example", "2001:db8::25", 5)
		eq(t, "Found", len(r.msg.Found), 1) // README.txt is skipped
		eq(t, "Name", r.msg.Found[0].Name, "report.zip/dir/report.json.gz")
	},

	// Generated messages: structure.
	"missing-closing-boundary.eml":      msgReport("mailru-style@reporter.example", "r.json.gz", "application/tlsrpt+gzip"),
	"missing-closing-boundary-json.eml": msgReport("mailru-json@reporter.example", "r.json", "application/tlsrpt+json"),
	"nested-multipart.eml":              msgReport("nested@reporter.example", "nested.json.gz", "application/tlsrpt+gzip"),
	"whole-message-gzip.eml":            msgReport("whole-gzip@reporter.example", "whole.json.gz", "application/tlsrpt+gzip"),
	"whole-message-plainjson.eml":       msgReport("whole-json@reporter.example", "1", "text/plain"),
	"two-reports.eml": func(t *testing.T, r result) {
		headers(t, r)
		if r.err != nil {
			t.Fatal(r.err)
		}
		reps := r.reports()
		if len(reps) != 2 {
			t.Fatalf("%d reports, want 2", len(reps))
		}
		generated(t, reps[0], "two-a@reporter.example", "192.0.2.10", 3)
		generated(t, reps[1], "two-b@reporter.example", "192.0.2.11", 4)
		eq(t, "Failed()", r.msg.Failed(), 7)
		eq(t, "names", r.msg.Found[0].Name+" "+r.msg.Found[1].Name, "a.json.gz b.json.gz")
	},
	"text-summary-only.eml": func(t *testing.T, r result) {
		headers(t, r)
		wantErr(t, r.err, ErrNoReport, "no report part")
		eq(t, "Found", len(r.msg.Found), 0)
	},
	"bad-base64.eml": func(t *testing.T, r result) {
		headers(t, r)
		if len(r.msg.Found) != 1 || r.msg.Found[0].Err == nil || r.msg.Found[0].Report != nil {
			t.Fatalf("Found = %+v, want one with Err", r.msg.Found)
		}
		wantErr(t, r.msg.Found[0].Err, nil, `"r.json.gz"`, "illegal base64")
		wantErr(t, r.err, nil, "illegal base64")
	},
	"corrupt-gzip.eml": func(t *testing.T, r result) {
		headers(t, r)
		if len(r.msg.Found) != 1 || r.msg.Found[0].Err == nil {
			t.Fatalf("Found = %+v, want one with Err", r.msg.Found)
		}
		wantErr(t, r.err, nil, `decoding gzip report "r.json.gz"`, "unexpected EOF")
	},
	"charset-latin1-whole-json.eml": func(t *testing.T, r result) {
		msgReport("latin1@reporter.example", "1", "text/plain")(t, r)
		eq(t, "Subject", r.msg.Subject[:len("Résumé Report")], "Résumé Report")
		eq(t, "OrganizationName", one(t, r).OrganizationName, "Société Générale")
	},
	"office-zip-attachment.eml":    msgReport("office@reporter.example", "r.json.gz", "application/tlsrpt+gzip"), // the unnamed .docx (zip magic) is no candidate
	"unknown-encoding-charset.eml": msgReport("unknown-enc@reporter.example", "r.json", "application/tlsrpt+json"),
	"good-and-bad.eml": func(t *testing.T, r result) {
		headers(t, r)
		if r.err != nil {
			t.Errorf("error %v although one report was read", r.err)
		}
		if len(r.msg.Found) != 2 || r.msg.Found[0].Err == nil || r.msg.Found[1].Report == nil {
			t.Fatalf("Found = %+v", r.msg.Found)
		}
		generated(t, r.msg.Found[1].Report, "good-bad@reporter.example", "198.51.100.7", 5)
		eq(t, "Failed()", r.msg.Failed(), 5)
	},

	// Generated JSON and compressed files, read with Decode.
	"mxhost-string.json": jsonFile("mx-string", func(t *testing.T, rep *Report) {
		if !slices.Equal(rep.Policies[0].MXHosts, []string{"*.mx.example.net"}) {
			t.Errorf("MXHosts = %q", rep.Policies[0].MXHosts)
		}
	}),
	"mxhost-array.json": jsonFile("mx-array", func(t *testing.T, rep *Report) {
		if !slices.Equal(rep.Policies[0].MXHosts, []string{"mx1.example.net", "mx2.example.net"}) {
			t.Errorf("MXHosts = %q", rep.Policies[0].MXHosts)
		}
	}),
	"mxhost-absent.json": jsonFile("mx-absent", func(t *testing.T, rep *Report) {
		eq(t, "MXHosts nil", rep.Policies[0].MXHosts == nil, true)
	}),
	"mxhost-empty-array.json": jsonFile("mx-empty", func(t *testing.T, rep *Report) {
		eq(t, "MXHosts", len(rep.Policies[0].MXHosts), 0)
		eq(t, "Strings", len(rep.Policies[0].Strings), 0)
	}),
	"bad-ip.json": func(t *testing.T, r result) {
		wantErr(t, r.err, nil, `report: parsing JSON report "bad-ip.json": policies[0].failure-details[1].sending-mta-ip "1.2.3": ParseAddr`)
		eq(t, "reports", len(r.reps), 0)
	},
	"ip-zone.json": func(t *testing.T, r result) {
		wantErr(t, r.err, nil, `policies[0].failure-details[0].receiving-ip "fe80::1%eth0"`, "zone")
	},
	"ip-v4mapped.json": jsonFile("mapped-ip", func(t *testing.T, rep *Report) {
		ip := rep.Policies[0].Details[0].SendingMTAIP
		eq(t, "SendingMTAIP", ip, addr("192.0.2.9"))
		eq(t, "Is4", ip.Is4(), true)
	}),
	"count-string.json": func(t *testing.T, r result) {
		wantErr(t, r.err, nil, "policies[0].summary.total-failure-session-count", "string")
	},
	"count-float.json": jsonFile("count-float", func(t *testing.T, rep *Report) {
		eq(t, "Failed", rep.Policies[0].Failed, 5)
		eq(t, "FailedSessions", rep.Policies[0].Details[0].FailedSessions, 5)
	}),
	"count-fraction.json": func(t *testing.T, r result) {
		wantErr(t, r.err, nil, "policies[0].failure-details[0].failed-session-count", "2.5")
	},
	"count-negative.json": func(t *testing.T, r result) {
		wantErr(t, r.err, nil, "policies[0].summary.total-successful-session-count", "negative")
	},
	"no-policies.json": func(t *testing.T, r result) {
		wantErr(t, r.err, ErrNoReport, `"no-policies.json"`, `no "policies"`)
	},
	"not-a-report.json": func(t *testing.T, r result) {
		wantErr(t, r.err, ErrNoReport, `"not-a-report.json"`)
	},
	"times-offset-fraction.json": jsonFile("times", func(t *testing.T, rep *Report) {
		eq(t, "Start", rep.Start, time.Date(2026, 11, 1, 0, 0, 0, 123e6, time.UTC))
		eq(t, "Start zone", rep.Start.Location(), time.UTC)
		eq(t, "End", rep.End, time.Date(2026, 11, 1, 23, 59, 59, 999999e3, time.UTC))
	}),
	"times-no-zone.json": jsonFile("tz-less", func(t *testing.T, rep *Report) {
		eq(t, "Start", rep.Start, utc("2026-11-01T00:00:00Z"))
		eq(t, "End", rep.End, utc("2026-11-01T23:59:59Z"))
	}),
	"policy-string-plain.json": jsonFile("policy-plain", func(t *testing.T, rep *Report) {
		if !slices.Equal(rep.Policies[0].Strings, []string{"version: STSv1"}) {
			t.Errorf("Strings = %q", rep.Policies[0].Strings)
		}
		eq(t, "OrganizationName", rep.OrganizationName, "")
		eq(t, "ContactInfo", rep.ContactInfo, "")
	}),
	"invalid-utf8.json": jsonFile("bad-utf8", func(t *testing.T, rep *Report) {
		eq(t, "OrganizationName", rep.OrganizationName, "Bad \uFFFD\uFFFD\uFFFD UTF-8")
		eq(t, "ResultType", rep.Policies[0].Details[0].ResultType, "certificate-\uFFFDxpired")
	}),
	"unknown-fields-no-ip.json": jsonFile("unknown-fields", func(t *testing.T, rep *Report) {
		d := rep.Policies[0].Details[0]
		eq(t, "SendingMTAIP valid", d.SendingMTAIP.IsValid(), false)
		eq(t, "ReceivingIP valid", d.ReceivingIP.IsValid(), false)
		eq(t, "FailedSessions", d.FailedSessions, 5)
	}),
	"leading-space-bom.json": jsonFile("bom", nil),
	"report.json.gz": jsonFile("plain-gz", func(t *testing.T, rep *Report) {
		generated(t, rep, "plain-gz", "198.51.100.7", 5)
	}),
	"multi-member.json.gz": jsonFile("multi-member", func(t *testing.T, rep *Report) {
		generated(t, rep, "multi-member", "198.51.100.7", 5)
	}),
	"truncated.json.gz": func(t *testing.T, r result) {
		wantErr(t, r.err, nil, `decoding gzip report "truncated.json.gz"`)
	},
	"reports.zip": func(t *testing.T, r result) {
		if r.err != nil {
			t.Fatal(r.err)
		}
		if len(r.reps) != 2 {
			t.Fatalf("%d reports, want 2", len(r.reps))
		}
		generated(t, r.reps[0], "zip-a", "192.0.2.20", 1)
		generated(t, r.reps[1], "zip-b", "192.0.2.21", 2)
	},
	"junk.bin": func(t *testing.T, r result) {
		wantErr(t, r.err, ErrNoReport, `"junk.bin"`)
	},
}

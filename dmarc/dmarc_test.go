package dmarc

import (
	"errors"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/tlsrpt/tlsrpt/internal/golden"
	"github.com/tlsrpt/tlsrpt/internal/reporttest"
)

// corpusFiles lists the corpus of real reports (testdata/corpus, byte for
// byte the shared corpus-dmarc), without its README.
func corpusFiles(t testing.TB) []string {
	t.Helper()
	return golden.Samples(t, 6, nil, filepath.Join("testdata", "corpus"))
}

// result is what reading one sample gave.
type result struct {
	msg *Message // .eml files, through FromMessage
	rep *Report  // other files, through Parse
	err error
}

// reports returns the readable reports, however the sample was read.
func (r result) reports() []*Report {
	if r.msg != nil {
		return r.msg.Reports()
	}
	if r.rep != nil {
		return []*Report{r.rep}
	}
	return nil
}

// readSample reads a file the way import will: a message through
// FromMessage, anything else through Parse.
func readSample(t *testing.T, path string) result {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if strings.HasSuffix(path, ".eml") {
		m, err := FromMessage(f, Limits{})
		if m == nil {
			t.Fatal("FromMessage returned a nil Message")
		}
		return result{msg: m, err: err}
	}
	rep, err := Parse(f, Limits{})
	if (rep == nil) == (err == nil) {
		t.Fatalf("Parse returned report %v and error %v", rep != nil, err)
	}
	return result{rep: rep, err: err}
}

// reason is the one line a caller shows for a refused file: the file's
// name, then where and why.
func reason(path string, err error) string {
	return filepath.Base(path) + ": " + err.Error()
}

type goldenFound struct {
	Name, MediaType string
	Report          *Report `json:",omitempty"`
	Err             string  `json:",omitempty"`
}

type goldenResult struct {
	From, Subject, MessageID string `json:",omitempty"`
	Messages, Failed         int64
	Found                    []goldenFound `json:",omitempty"`
	Report                   *Report       `json:",omitempty"`
	Err                      string        `json:",omitempty"`
}

func (r result) golden(path string) []byte {
	g := goldenResult{Report: r.rep}
	if r.err != nil {
		g.Err = reason(path, r.err)
	}
	for _, rep := range r.reports() {
		g.Messages += rep.Messages()
		g.Failed += rep.Failed()
	}
	if m := r.msg; m != nil {
		g.From, g.Subject, g.MessageID = m.From, m.Subject, m.MessageID
		for _, f := range m.Found {
			gf := goldenFound{Name: f.Name, MediaType: f.MediaType, Report: f.Report}
			if f.Err != nil {
				gf.Err = f.Err.Error()
			}
			g.Found = append(g.Found, gf)
		}
	}
	return golden.JSON(g)
}

// TestCorpusGolden reads every corpus file and compares a dump of the
// model with testdata/golden/<file>.golden; -update rewrites them.
func TestCorpusGolden(t *testing.T) {
	golden.Files(t, corpusFiles(t), func(t *testing.T, path string) []byte { return readSample(t, path).golden(path) })
}

// TestCorpusFacts checks facts about every corpus file: each is read, or,
// for the broken one, refused with one line naming the file and the
// element. A file without an entry fails, so that every new sample gets
// its assertions.
func TestCorpusFacts(t *testing.T) {
	golden.Facts(t, corpusFiles(t), readSample, facts)
}

func eq[T comparable](t *testing.T, what string, got, want T) {
	t.Helper()
	reporttest.Eq(t, what, got, want)
}

func unix(s int64) time.Time { return time.Unix(s, 0).UTC() }

// one asserts exactly one report and no error.
func one(t *testing.T, r result) *Report {
	t.Helper()
	rep := reporttest.One(t, r.reports(), r.err)
	if len(rep.Records) != 1 {
		t.Fatalf("got %d records, want 1", len(rep.Records))
	}
	return rep
}

var facts = map[string]func(*testing.T, result){
	"Report domain- borschow.com Submitter- google.com Report-ID- 949348866075514174.eml": func(t *testing.T, r result) {
		// application/zip attachment, base64, in a mail relayed by Exchange.
		rep := one(t, r)
		eq(t, "Found", len(r.msg.Found), 1)
		eq(t, "Found[0].Name", r.msg.Found[0].Name, "google.com!borschow.com!1549929600!1550015999.zip")
		eq(t, "Found[0].MediaType", r.msg.Found[0].MediaType, "application/zip")
		eq(t, "Reporter", rep.Metadata.Reporter, "google.com")
		eq(t, "ReportID", rep.Metadata.ReportID, "949348866075514174")
		eq(t, "Begin", rep.Metadata.Begin, unix(1549929600))
		eq(t, "End", rep.Metadata.End, unix(1550015999))
		eq(t, "Policy.Domain", rep.Policy.Domain, "borschow.com")
	},
	"empty_reason.xml": func(t *testing.T, r result) {
		rep := one(t, r)
		rec := rep.Records[0]
		eq(t, "Reporter", rep.Metadata.Reporter, "example.org")
		eq(t, "reasons", len(rec.Reasons), 0) // <reason><type></type><comment></comment></reason>
		eq(t, "SourceIP", rec.SourceIP, netip.MustParseAddr("198.51.100.123"))
		eq(t, "Count", rec.Count, 2)
		eq(t, "DMARCPass", rec.DMARCPass(), true) // DKIM aligned pass, SPF fail
		eq(t, "DKIM selector", rec.DKIMResults[0].Selector, "example")
		eq(t, "human_result", rec.DKIMResults[0].HumanResult, "2048-bit key")
		eq(t, "Failed", rep.Failed(), 0)
	},
	"fastmail.com!example.com!1516060800!1516147199!102675056.xml.gz": func(t *testing.T, r result) {
		rep := one(t, r)
		rec := rep.Records[0]
		eq(t, "Reporter", rep.Metadata.Reporter, "FastMail Pty Ltd")
		eq(t, "EnvelopeTo", rec.EnvelopeTo, "fastmail.fm")
		eq(t, "SPF result", rec.SPFResults[0].Result, "softfail")
		eq(t, "DKIM results", len(rec.DKIMResults), 0)
		eq(t, "ADKIM absent", rep.Policy.ADKIM, "")
		eq(t, "Failed", rep.Failed(), 1)
	},
	"invalid_xml.xml": func(t *testing.T, r result) {
		if r.err == nil {
			t.Fatal("broken XML read without error")
		}
		line := reason("invalid_xml.xml", r.err)
		for _, want := range []string{"invalid_xml.xml: ", "feedback/report_metadata/email", "line 5"} {
			if !strings.Contains(line, want) {
				t.Errorf("reason %q does not name %q", line, want)
			}
		}
		if strings.ContainsAny(line, "\r\n") {
			t.Errorf("reason %q is not one line", line)
		}
		if errors.Is(r.err, ErrNotDMARC) {
			t.Errorf("a broken report is not 'not a report': %v", r.err)
		}
	},
	"protection.outlook.com!example.com!1711756800!1711843200.xml": func(t *testing.T, r result) {
		rep := one(t, r)
		eq(t, "Reporter", rep.Metadata.Reporter, "Outlook.com")
		eq(t, "Begin", rep.Metadata.Begin, unix(1711756800))
		eq(t, "DMARCPass", rep.Records[0].DMARCPass(), false)
		eq(t, "Disposition", rep.Records[0].Disposition, "none")
	},
	"rfc9990-sample.xml": func(t *testing.T, r result) {
		rep := one(t, r) // in the urn:ietf:params:xml:ns:dmarc-2.0 namespace
		eq(t, "NP", rep.Policy.NP, "none")
		eq(t, "Testing", rep.Policy.Testing, "n")
		eq(t, "DiscoveryMethod", rep.Policy.DiscoveryMethod, "treewalk")
		eq(t, "Pct", rep.Policy.Pct, -1)
		eq(t, "Generator", rep.Metadata.Generator, "Example DMARC Aggregate Reporter v1.2")
		eq(t, "Disposition", rep.Records[0].Disposition, "pass")
		eq(t, "Count", rep.Records[0].Count, 123)
		eq(t, "Messages", rep.Messages(), 123)
	},
}

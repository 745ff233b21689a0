package promtext

import (
	"bytes"
	"compress/gzip"
	"fmt"
	"io"
	"math"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"sync"
	"testing"
	"unicode/utf8"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
)

// gatherText gathers r and writes the text, failing on a gather error.
func gatherText(t testing.TB, r *Registry) string {
	t.Helper()
	fams, err := r.Gather()
	if err != nil {
		t.Fatalf("gather: %v", err)
	}
	var b bytes.Buffer
	if err := Write(&b, fams); err != nil {
		t.Fatal(err)
	}
	return b.String()
}

// parse reads text with Prometheus's own parser, and checks that
// Prometheus's own encoder writes the families it read back to exactly
// the same text: the escaping, the value formats and the HELP and TYPE
// lines are the ones client_golang wrote.
func parse(t testing.TB, text string) map[string]*dto.MetricFamily {
	t.Helper()
	p := expfmt.NewTextParser(model.LegacyValidation)
	mfs, err := p.TextToMetricFamilies(strings.NewReader(text))
	if err != nil {
		t.Fatalf("the exposition does not parse: %v\n%q", err, text)
	}
	var again strings.Builder
	for _, name := range familyOrder(text) {
		if mf := mfs[name]; mf.Help == nil {
			mf.Help = new(string) // the parser drops an empty help text; client_golang wrote its line
		}
		if _, err := expfmt.MetricFamilyToText(&again, mfs[name]); err != nil {
			t.Fatal(err)
		}
	}
	// The parser drops the blanks that open a help text (the format
	// cannot keep them; client_golang wrote them as we do).
	if again.String() != helpBlanks.ReplaceAllString(text, "$1") {
		t.Fatalf("Prometheus's encoder writes it otherwise:\nours   %q\ntheirs %q", text, again.String())
	}
	return mfs
}

var helpBlanks = regexp.MustCompile(`(?m)^(# HELP [^ ]+ )[ \t]+`)

// familyOrder lists the families of text in the order written.
func familyOrder(text string) []string {
	var names []string
	for _, line := range strings.Split(text, "\n") {
		if rest, ok := strings.CutPrefix(line, "# TYPE "); ok {
			names = append(names, strings.Fields(rest)[0])
		}
	}
	return names
}

// labelsOf is a sample's labels as parsed.
func labelsOf(m *dto.Metric) map[string]string {
	out := map[string]string{}
	for _, l := range m.GetLabel() {
		out[l.GetName()] = l.GetValue()
	}
	return out
}

// valueOf is a parsed sample's value, counter or gauge.
func valueOf(m *dto.Metric) float64 {
	if m.Counter != nil {
		return m.GetCounter().GetValue()
	}
	return m.GetGauge().GetValue()
}

// fixed is a Collector of the samples given.
func fixed(ss ...Sample) Collector { return CollectorFunc(func() []Sample { return ss }) }

// TestHostileLabelValues: label values that would end the value, the
// label set or the line if written raw (quotes, backslashes, line
// breaks, `"}`, a forged HELP line, a megabyte) read back exactly, one
// line per sample; a value that is not UTF-8 is left out and named.
func TestHostileLabelValues(t *testing.T) {
	d := &Desc{Name: "hostile", Help: "Help with \\ a backslash,\na line break and \"quotes\".", Type: GaugeType, Labels: []string{"v"}}
	values := []string{`"`, `\`, "\n", `"}`, `\"}`, `\n`, "a\\\"b\nc\\", "x\"} 1\n# HELP forged evil\nforged 9", `"\\"`,
		"\r\t\x00\x7f", "é€😀", strings.Repeat(`"\`+"\n", 1<<18), ""}
	var ss []Sample
	for i, v := range values {
		ss = append(ss, d.Sample(float64(i), v))
	}
	r := NewRegistry()
	r.Register(fixed(ss...))
	text := gatherText(t, r)
	if n := strings.Count(text, "\n"); n != len(values)+2 {
		t.Errorf("%d lines, want %d: a value broke a line", n, len(values)+2)
	}
	mf := parse(t, text)["hostile"]
	if mf.GetHelp() != d.Help {
		t.Errorf("help %q, want %q", mf.GetHelp(), d.Help)
	}
	got := map[string]float64{}
	for _, m := range mf.GetMetric() {
		got[labelsOf(m)["v"]] = valueOf(m)
	}
	for i, v := range values {
		if g, ok := got[v]; !ok || g != float64(i) {
			t.Errorf("value %.40q: read back %v (%v), want %d", v, g, ok, i)
		}
	}
	if len(got) != len(values) {
		t.Errorf("%d series read back, want %d", len(got), len(values))
	}

	r.Register(fixed(d.Sample(1, "bad \xff utf8")))
	fams, err := r.Gather()
	if err == nil || !strings.Contains(err.Error(), "not valid UTF-8") || len(fams[0].Samples) != len(values) {
		t.Errorf("a value that is not UTF-8: error %v, %d samples kept, want it left out and named", err, len(fams[0].Samples))
	}
}

// TestValues: values are written as Prometheus writes them (+Inf, -Inf,
// NaN by name, 'g' form) and read back exactly.
func TestValues(t *testing.T) {
	vals := []float64{0, math.Copysign(0, -1), 1, -1, 0.5, 1e-7, 123456789012, 1 << 62, math.MaxFloat64, math.SmallestNonzeroFloat64,
		math.Inf(1), math.Inf(-1), math.NaN(), 1764590400}
	d := &Desc{Name: "v", Help: "Values.", Type: GaugeType, Labels: []string{"i"}}
	var ss []Sample
	for i, v := range vals {
		ss = append(ss, d.Sample(v, fmt.Sprintf("%02d", i)))
	}
	r := NewRegistry()
	r.Register(fixed(ss...))
	text := gatherText(t, r)
	for _, want := range []string{`v{i="10"} +Inf`, `v{i="11"} -Inf`, `v{i="12"} NaN`, `v{i="13"} 1.7645904e+09`, `v{i="01"} 0`} {
		if !strings.Contains(text, want+"\n") {
			t.Errorf("text lacks %q", want)
		}
	}
	for i, m := range parse(t, text)["v"].GetMetric() {
		if g := valueOf(m); g != vals[i] && !(math.IsNaN(g) && math.IsNaN(vals[i])) {
			t.Errorf("value %d: read back %v, want %v", i, g, vals[i])
		}
	}
}

// TestOrderAndEmpty: families by name, samples by their label values
// taken in the order of the label names (written in that order too),
// empty families left out, and no HELP/TYPE lines for them: as
// client_golang gathered.
func TestOrderAndEmpty(t *testing.T) {
	d := &Desc{Name: "b_family", Help: "B.", Type: GaugeType, Labels: []string{"zeta", "alpha"}}
	r := NewRegistry()
	r.Register(fixed(d.Sample(1, "1", "y"), d.Sample(2, "2", "x"), d.Sample(3, "0", "y")),
		GaugeFunc("a_family", "A.", func() float64 { return 7 }), NewCounterVec("c_empty", "Never counted.", "l"))
	want := "# HELP a_family A.\n# TYPE a_family gauge\na_family 7\n" +
		"# HELP b_family B.\n# TYPE b_family gauge\n" +
		`b_family{alpha="x",zeta="2"} 2` + "\n" + `b_family{alpha="y",zeta="0"} 3` + "\n" + `b_family{alpha="y",zeta="1"} 1` + "\n"
	for range 5 {
		if got := gatherText(t, r); got != want {
			t.Fatalf("got\n%s\nwant\n%s", got, want)
		}
	}
}

// TestRefused: what cannot be written as valid text is left out and
// named, the rest kept: a series given twice, the wrong number of label
// values, invalid names, a family described twice differently.
func TestRefused(t *testing.T) {
	good := &Desc{Name: "good", Help: "Good.", Type: GaugeType, Labels: []string{"l"}}
	for _, tc := range []struct {
		name string
		bad  Sample
		want string
	}{
		{"twice", good.Sample(2, "a"), `series {l="a"} given twice`},
		{"count", good.Sample(2, "a", "b"), "2 label values, want 1"},
		{"name", (&Desc{Name: "bad-name", Type: GaugeType}).Sample(1), "invalid metric name"},
		{"label", (&Desc{Name: "x", Type: GaugeType, Labels: []string{"__reserved"}}).Sample(1, "v"), "invalid or repeated label name"},
		{"repeated", (&Desc{Name: "x", Type: GaugeType, Labels: []string{"l", "l"}}).Sample(1, "v", "w"), "invalid or repeated label name"},
		{"type", (&Desc{Name: "x", Type: "summary"}).Sample(1), "invalid type"},
		{"help", (&Desc{Name: "x", Help: "\xff", Type: GaugeType}).Sample(1), "help text is not valid UTF-8"},
		{"differently", (&Desc{Name: "good", Help: "Other.", Type: GaugeType, Labels: []string{"l"}}).Sample(1, "b"), "described twice"},
	} {
		r := NewRegistry()
		r.Register(fixed(good.Sample(1, "a"), tc.bad))
		fams, err := r.Gather()
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: error %v, want %q", tc.name, err, tc.want)
		}
		if len(fams) != 1 || len(fams[0].Samples) != 1 || fams[0].Samples[0].Value != 1 {
			t.Errorf("%s: kept %v, want the good sample alone", tc.name, fams)
		}
	}
}

// TestCounter: whole and fractional additions add up exactly as in
// client_golang (the whole part kept as an integer), a negative addition
// panics, With is the same counter for the same values and apart for
// values that would join alike.
func TestCounter(t *testing.T) {
	v := NewCounterVec("c_total", "C.", "a", "b")
	v.With("x", "y").Add(1 << 60)
	v.With("x", "y").Inc()
	v.With("x", "y").Add(0.5)
	if got, want := v.With("x", "y").Value(), float64(1<<60+1)+0.5; got != want {
		t.Errorf("value %v, want %v", got, want)
	}
	v.With("x:1", "").Inc()
	v.With("x", ":1").Add(2)
	if n := len(v.Collect()); n != 3 {
		t.Errorf("%d series, want 3: values that join alike share a counter", n)
	}
	defer func() {
		if recover() == nil {
			t.Error("a negative addition did not panic")
		}
	}()
	v.With("x", "y").Add(-1)
}

// TestConcurrentCounts (run with -race): counters incremented by many
// goroutines while others scrape end exactly at the sum, and every
// scrape reads valid text.
func TestConcurrentCounts(t *testing.T) {
	v := NewCounterVec("hits_total", "Hits.", "worker")
	r := NewRegistry()
	r.Register(v)
	const workers, each = 8, 2000
	var wg sync.WaitGroup
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range each {
				v.With(fmt.Sprint(w % 4)).Inc()
				if i%100 == 0 {
					v.With("frac").Add(0.25)
				}
			}
		}()
	}
	done := make(chan struct{})
	scrapes := make(chan int)
	go func() {
		n := 0
		for {
			select {
			case <-done:
				scrapes <- n
				return
			default:
				fams, err := r.Gather()
				var b bytes.Buffer
				Write(&b, fams)
				p := expfmt.NewTextParser(model.LegacyValidation)
				if _, perr := p.TextToMetricFamilies(&b); err != nil || perr != nil {
					t.Errorf("a scrape during the counts: %v, %v", err, perr)
				}
				n++
			}
		}
	}()
	wg.Wait()
	close(done)
	<-scrapes
	total := 0.0
	for _, m := range parse(t, gatherText(t, r))["hits_total"].GetMetric() {
		total += valueOf(m)
	}
	if want := float64(workers*each) + workers*each/100*0.25; total != want {
		t.Errorf("total %v, want %v", total, want)
	}
}

// serveOnce serves r with opts and answers one GET with the headers
// given.
func serveOnce(t *testing.T, r *Registry, opts HandlerOpts, target string, header map[string]string) *http.Response {
	t.Helper()
	req := httptest.NewRequest("GET", target, nil)
	for k, v := range header {
		req.Header.Set(k, v)
	}
	w := httptest.NewRecorder()
	r.Handler(opts).ServeHTTP(w, req)
	return w.Result()
}

// TestHandler: the content type promhttp sent, Vary, gzip only when the
// client prefers it, name[] filters.
func TestHandler(t *testing.T) {
	r := NewRegistry()
	r.Register(GaugeFunc("a", "A.", func() float64 { return 1 }), GaugeFunc("b", "B.", func() float64 { return 2 }))
	resp := serveOnce(t, r, HandlerOpts{}, "/metrics", map[string]string{"Accept": "application/vnd.google.protobuf;proto=io.prometheus.client.MetricFamily;encoding=delimited;q=0.7,text/plain;version=0.0.4;q=0.3"})
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "text/plain; version=0.0.4; charset=utf-8; escaping=underscores" ||
		strings.Join(resp.Header.Values("Vary"), ",") != "Accept,Accept-Encoding" || resp.Header.Get("Content-Encoding") != "" {
		t.Errorf("%d %v", resp.StatusCode, resp.Header)
	}
	parse(t, string(b))
	for _, tc := range []struct {
		accept string
		gzip   bool
	}{
		{"gzip", true}, {"gzip, deflate, br", true}, {"identity;q=0.5, gzip", true}, {"GZIP;Q=0.9", true},
		{"", false}, {"gzip, identity", false}, {"*", false}, {"gzip;q=0", false}, {"deflate", false}, {"gzip;q=x", false},
	} {
		resp := serveOnce(t, r, HandlerOpts{}, "/metrics", map[string]string{"Accept-Encoding": tc.accept})
		if got := resp.Header.Get("Content-Encoding") == "gzip"; got != tc.gzip {
			t.Errorf("Accept-Encoding %q: gzip %v, want %v", tc.accept, got, tc.gzip)
			continue
		}
		body := io.Reader(resp.Body)
		if tc.gzip {
			zr, err := gzip.NewReader(resp.Body)
			if err != nil {
				t.Fatal(err)
			}
			body = zr
		}
		if b, _ := io.ReadAll(body); len(parse(t, string(b))) != 2 {
			t.Errorf("Accept-Encoding %q: %q", tc.accept, b)
		}
	}
	b, _ = io.ReadAll(serveOnce(t, r, HandlerOpts{}, "/metrics?name[]=b&name[]=c", nil).Body)
	if string(b) != "# HELP b B.\n# TYPE b gauge\nb 2\n" {
		t.Errorf("name[]=b: %q", b)
	}
}

// TestHandlerErrors: a sample that cannot be written fails the scrape
// with 500 by default (promhttp's HTTPErrorOnError, the dashboard's),
// and is left out with ContinueOnError (serve's), unless nothing is
// left.
func TestHandlerErrors(t *testing.T) {
	d := &Desc{Name: "d", Help: "D.", Type: GaugeType, Labels: []string{"l"}}
	r := NewRegistry()
	r.Register(fixed(d.Sample(1, "ok"), d.Sample(2, "\xff")))
	if resp := serveOnce(t, r, HandlerOpts{}, "/metrics", nil); resp.StatusCode != 500 {
		t.Errorf("default: %d, want 500", resp.StatusCode)
	}
	resp := serveOnce(t, r, HandlerOpts{ContinueOnError: true}, "/metrics", nil)
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 || string(b) != "# HELP d D.\n# TYPE d gauge\nd{l=\"ok\"} 1\n" {
		t.Errorf("ContinueOnError: %d %q", resp.StatusCode, b)
	}
	r = NewRegistry()
	r.Register(fixed(d.Sample(2, "\xff")))
	if resp := serveOnce(t, r, HandlerOpts{ContinueOnError: true}, "/metrics", nil); resp.StatusCode != 500 {
		t.Errorf("ContinueOnError, nothing left: %d, want 500", resp.StatusCode)
	}
}

// FuzzExposition: whatever the label values and help text, the text
// reads back with Prometheus's parser to exactly the family, help, label
// values and values given, or, for a text that is not UTF-8, the sample
// or family is left out and the error names it.
func FuzzExposition(f *testing.F) {
	f.Add("Help.", `"}`, "\\\n\"", 1.5)
	f.Add("a\\nb\nc", "x\"} 1\n# HELP forged", "", math.Inf(-1))
	f.Add("", "\xff", "é", math.NaN())
	f.Fuzz(func(t *testing.T, help, v1, v2 string, value float64) {
		d := &Desc{Name: "fuzz_total", Help: help, Type: CounterType, Labels: []string{"one", "two"}}
		r := NewRegistry()
		r.Register(fixed(d.Sample(value, v1, v2), d.Sample(value, v1+"!", v2)))
		fams, err := r.Gather()
		if !utf8ok(help, v1, v2) {
			if err == nil || len(fams) != 0 {
				t.Fatalf("not UTF-8: error %v, %d families", err, len(fams))
			}
			return
		}
		if err != nil {
			t.Fatal(err)
		}
		var b bytes.Buffer
		Write(&b, fams)
		mf := parse(t, b.String())["fuzz_total"]
		if mf == nil || mf.GetHelp() != strings.TrimLeft(help, " \t") || mf.GetType() != dto.MetricType_COUNTER || len(mf.GetMetric()) != 2 {
			t.Fatalf("read back %v from %q", mf, b.String())
		}
		for i, m := range mf.GetMetric() {
			l := labelsOf(m)
			g := valueOf(m)
			if l["one"] != v1+[]string{"", "!"}[i] || l["two"] != v2 || len(l) != 2 || (g != value && !(math.IsNaN(g) && math.IsNaN(value))) {
				t.Fatalf("sample %d read back %v %v, want %q %q %v", i, l, g, v1, v2, value)
			}
		}
	})
}

func utf8ok(ss ...string) bool {
	for _, s := range ss {
		if !utf8.ValidString(s) {
			return false
		}
	}
	return true
}

// Package promtext writes metrics in the Prometheus text exposition
// format, version 0.0.4, and serves them over HTTP: families with their
// HELP and TYPE lines, samples with their label pairs, sorted so that the
// same metrics always read the same; counters safe for concurrent use,
// gauges read when scraped, and collectors that read a store at scrape
// time.
//
// It is written by hand rather than taken from a library because of what
// a library costs every command before main runs: Go runs the init of
// every linked package in every command, and the mail filter runs once
// per message. Measured with GODEBUG=inittrace=1 on tlsrpt --version,
// prometheus/client_golang and what it brings in took about 1.3 ms of
// the 1.8 ms of init (client_golang 0.57 ms, procfs 0.22 ms, protobuf's
// detrand 0.15 ms, client_model 0.08 ms, expfmt 0.07 ms, runtime/metrics,
// protobuf's filedesc and timestamppb); github.com/VictoriaMetrics/metrics
// reads /proc/self/cgroup, the PSI and cgroup cpu.stat files and
// runtime/metrics.All() in its init. tlsrpt needs only counters, gauges
// and a text writer: this package, on the standard library, does no work
// at start-up (its descriptions are plain values, checked when gathered).
// Its tests read everything it writes back with Prometheus's own parser.
package promtext

import (
	"errors"
	"fmt"
	"io"
	"math"
	"slices"
	"strconv"
	"strings"
	"sync"
	"unicode/utf8"
)

// Type is the type of a family.
type Type string

// The types of family this package writes.
const (
	CounterType Type = "counter"
	GaugeType   Type = "gauge"
)

// Desc describes a family: a plain value, so that a package-level Desc
// costs nothing at start-up; it is checked when gathered.
type Desc struct {
	Name   string   // [a-zA-Z_:][a-zA-Z0-9_:]*
	Help   string   // UTF-8 text: backslashes and line breaks are escaped
	Type   Type     // CounterType or GaugeType
	Labels []string // label names, in the order samples give the values
}

// Sample returns the sample of d with value v and the label values, in
// the order of d.Labels.
func (d *Desc) Sample(v float64, labels ...string) Sample {
	return Sample{Desc: d, Labels: labels, Value: v}
}

// Sample is one value of a family.
type Sample struct {
	Desc   *Desc
	Labels []string // values, in the order of Desc.Labels
	Value  float64
}

// Collector gives samples when metrics are gathered. The samples must
// not change once given (a Cache hands them out again).
type Collector interface {
	Collect() []Sample
}

// CollectorFunc is a Collector that calls itself.
type CollectorFunc func() []Sample

// Collect returns f().
func (f CollectorFunc) Collect() []Sample { return f() }

// GaugeFunc is a gauge without labels whose value f gives at each
// gathering.
func GaugeFunc(name, help string, f func() float64) Collector {
	d := &Desc{Name: name, Help: help, Type: GaugeType}
	return CollectorFunc(func() []Sample { return []Sample{d.Sample(f())} })
}

// Family is the samples of one Desc.
type Family struct {
	Desc    *Desc
	Samples []Sample
}

// Registry gathers the samples of its collectors.
type Registry struct {
	mu sync.Mutex
	cs []Collector
}

// NewRegistry returns an empty Registry.
func NewRegistry() *Registry { return &Registry{} }

// Register adds collectors.
func (r *Registry) Register(cs ...Collector) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.cs = append(r.cs, cs...)
}

// Gather collects every collector and returns the families sorted by
// name, each with its samples sorted by label values (taken in the order
// of the label names sorted), as client_golang orders them; a family
// without samples is left out. What cannot be written as valid text is
// left out and named in the error: a family whose description is invalid
// or differs from another of the same name, a sample with the wrong
// number of label values or one that is not UTF-8, a series given twice
// (the first is kept).
func (r *Registry) Gather() ([]Family, error) {
	r.mu.Lock()
	cs := slices.Clone(r.cs)
	r.mu.Unlock()
	var errs []error
	byName := map[string]*Family{}
	seen := map[string]bool{}
	for _, c := range cs {
		for _, s := range c.Collect() {
			f, err := family(byName, s.Desc)
			if err == nil {
				err = checkSample(s, seen)
			}
			if err != nil {
				errs = append(errs, err)
				continue
			}
			f.Samples = append(f.Samples, s)
		}
	}
	out := make([]Family, 0, len(byName))
	for _, f := range byName {
		if len(f.Samples) > 0 {
			sortSamples(f)
			out = append(out, *f)
		}
	}
	slices.SortFunc(out, func(a, b Family) int { return strings.Compare(a.Desc.Name, b.Desc.Name) })
	return out, errors.Join(errs...)
}

// family returns the family of d in byName, made when new, or an error
// when d is invalid or differs from the family's description.
func family(byName map[string]*Family, d *Desc) (*Family, error) {
	if d == nil {
		return nil, errors.New("a sample without a description")
	}
	if f, ok := byName[d.Name]; ok {
		if f.Desc != d && !sameDesc(f.Desc, d) {
			return nil, fmt.Errorf("family %s described twice, differently", d.Name)
		}
		return f, nil
	}
	if err := checkDesc(d); err != nil {
		return nil, err
	}
	f := &Family{Desc: d}
	byName[d.Name] = f
	return f, nil
}

func sameDesc(a, b *Desc) bool {
	return a.Name == b.Name && a.Help == b.Help && a.Type == b.Type && slices.Equal(a.Labels, b.Labels)
}

// checkDesc says whether d can be written: a valid name, a UTF-8 help
// text, a valid type, label names valid and distinct, none reserved
// ("__" prefix).
func checkDesc(d *Desc) error {
	if !validName(d.Name, true) {
		return fmt.Errorf("invalid metric name %q", d.Name)
	}
	if !utf8.ValidString(d.Help) {
		return fmt.Errorf("family %s: help text is not valid UTF-8", d.Name)
	}
	if d.Type != CounterType && d.Type != GaugeType {
		return fmt.Errorf("family %s: invalid type %q", d.Name, d.Type)
	}
	for i, l := range d.Labels {
		if !validName(l, false) || strings.HasPrefix(l, "__") || slices.Contains(d.Labels[:i], l) {
			return fmt.Errorf("family %s: invalid or repeated label name %q", d.Name, l)
		}
	}
	return nil
}

// validName reports whether s is a legacy Prometheus metric name (colons
// allowed) or label name.
func validName(s string, metric bool) bool {
	for i, c := range []byte(s) {
		ok := c == '_' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || metric && c == ':' || i > 0 && c >= '0' && c <= '9'
		if !ok {
			return false
		}
	}
	return s != ""
}

// checkSample says whether s can be written and is not a series seen
// before, and records it.
func checkSample(s Sample, seen map[string]bool) error {
	d := s.Desc
	if len(s.Labels) != len(d.Labels) {
		return fmt.Errorf("family %s: %d label values, want %d", d.Name, len(s.Labels), len(d.Labels))
	}
	for i, v := range s.Labels {
		if !utf8.ValidString(v) {
			return fmt.Errorf("family %s: label %s value %q is not valid UTF-8", d.Name, d.Labels[i], v)
		}
	}
	key := seriesKey(s)
	if seen[key] {
		return fmt.Errorf("family %s: series %s given twice", d.Name, labelText(s))
	}
	seen[key] = true
	return nil
}

// seriesKey names one series: the family and its label values.
func seriesKey(s Sample) string { return s.Desc.Name + " " + joinKey(s.Labels) }

// order is the indices of d's labels in the order of their names.
func order(d *Desc) []int {
	idx := make([]int, len(d.Labels))
	for i := range idx {
		idx[i] = i
	}
	slices.SortFunc(idx, func(a, b int) int { return strings.Compare(d.Labels[a], d.Labels[b]) })
	return idx
}

// sortSamples sorts f's samples by their label values, compared in the
// order of the label names.
func sortSamples(f *Family) {
	idx := order(f.Desc)
	slices.SortStableFunc(f.Samples, func(a, b Sample) int {
		for _, i := range idx {
			if c := strings.Compare(a.Labels[i], b.Labels[i]); c != 0 {
				return c
			}
		}
		return 0
	})
}

// Write writes the families in the text format, version 0.0.4, as
// Gather returns them.
func Write(w io.Writer, fams []Family) error {
	var b []byte
	for _, f := range fams {
		b = appendFamily(b, f)
	}
	_, err := w.Write(b)
	return err
}

// appendFamily appends f's HELP and TYPE lines and its samples.
func appendFamily(b []byte, f Family) []byte {
	d := f.Desc
	b = append(b, "# HELP "+d.Name+" "...)
	b = appendEscaped(b, d.Help, false)
	b = append(b, "\n# TYPE "+d.Name+" "+string(d.Type)+"\n"...)
	idx := order(d)
	for _, s := range f.Samples {
		b = append(b, d.Name...)
		b = appendLabels(b, s, idx)
		b = append(b, ' ')
		b = AppendFloat(b, s.Value)
		b = append(b, '\n')
	}
	return b
}

// appendLabels appends s's label pairs, {name="value",...}, in the order
// idx gives; nothing when s has no labels.
func appendLabels(b []byte, s Sample, idx []int) []byte {
	sep := byte('{')
	for _, i := range idx {
		b = append(b, sep)
		sep = ','
		b = append(b, s.Desc.Labels[i]+`="`...)
		b = appendEscaped(b, s.Labels[i], true)
		b = append(b, '"')
	}
	if len(idx) > 0 {
		b = append(b, '}')
	}
	return b
}

// labelText is s's labels as the text format writes them, for messages.
func labelText(s Sample) string { return string(appendLabels(nil, s, order(s.Desc))) }

// appendEscaped appends s with backslash and line feed escaped, and the
// double quote too in a label value, as the text format wants.
func appendEscaped(b []byte, s string, label bool) []byte {
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c == '\\':
			b = append(b, `\\`...)
		case c == '\n':
			b = append(b, `\n`...)
		case c == '"' && label:
			b = append(b, `\"`...)
		default:
			b = append(b, c)
		}
	}
	return b
}

// AppendFloat appends v as Prometheus writes a value: 1, 0, -1, NaN,
// +Inf and -Inf by name, the rest in the shortest form that reads back
// exactly (strconv's 'g', -1).
func AppendFloat(b []byte, v float64) []byte {
	switch {
	case v == 1:
		return append(b, '1')
	case v == 0:
		return append(b, '0')
	case v == -1:
		return append(b, "-1"...)
	case math.IsNaN(v):
		return append(b, "NaN"...)
	case math.IsInf(v, 1):
		return append(b, "+Inf"...)
	case math.IsInf(v, -1):
		return append(b, "-Inf"...)
	}
	return strconv.AppendFloat(b, v, 'g', -1, 64)
}

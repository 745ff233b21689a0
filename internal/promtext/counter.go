package promtext

import (
	"math"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
)

// Counter is a value that only goes up, safe for concurrent use. As in
// client_golang, whole additions are kept exactly in an integer and the
// rest in a float.
type Counter struct {
	whole atomic.Uint64 // the sum of the whole additions
	bits  atomic.Uint64 // math.Float64bits of the sum of the others
}

// Inc adds 1.
func (c *Counter) Inc() { c.whole.Add(1) }

// Add adds v; it panics when v is negative, as client_golang does: a
// counter never goes down, and a caller adds only counts.
func (c *Counter) Add(v float64) {
	if v < 0 {
		panic("promtext: counter cannot decrease in value")
	}
	if w := uint64(v); float64(w) == v {
		c.whole.Add(w)
		return
	}
	for {
		old := c.bits.Load()
		if c.bits.CompareAndSwap(old, math.Float64bits(math.Float64frombits(old)+v)) {
			return
		}
	}
}

// Value is the counter's value now.
func (c *Counter) Value() float64 {
	return float64(c.whole.Load()) + math.Float64frombits(c.bits.Load())
}

// CounterVec is a family of counters, one per set of label values, safe
// for concurrent use.
type CounterVec struct {
	desc Desc
	mu   sync.RWMutex
	m    map[string]*labelled
}

// labelled is one counter of a CounterVec with its label values.
type labelled struct {
	labels []string
	c      Counter
}

// NewCounterVec returns an empty family of counters.
func NewCounterVec(name, help string, labels ...string) *CounterVec {
	return &CounterVec{desc: Desc{Name: name, Help: help, Type: CounterType, Labels: labels}, m: map[string]*labelled{}}
}

// With returns the counter of the label values, made at 0 (and shown
// from then on) the first time; it panics when their number is not the
// number of label names, a mistake of the caller's code.
func (v *CounterVec) With(values ...string) *Counter {
	if len(values) != len(v.desc.Labels) {
		panic("promtext: " + v.desc.Name + ": " + strconv.Itoa(len(values)) + " label values, want " + strconv.Itoa(len(v.desc.Labels)))
	}
	key := joinKey(values)
	v.mu.RLock()
	l, ok := v.m[key]
	v.mu.RUnlock()
	if ok {
		return &l.c
	}
	v.mu.Lock()
	defer v.mu.Unlock()
	if l, ok = v.m[key]; !ok {
		l = &labelled{labels: append([]string(nil), values...)}
		v.m[key] = l
	}
	return &l.c
}

// Collect returns a sample per counter made.
func (v *CounterVec) Collect() []Sample {
	v.mu.RLock()
	defer v.mu.RUnlock()
	out := make([]Sample, 0, len(v.m))
	for _, l := range v.m {
		out = append(out, v.desc.Sample(l.c.Value(), l.labels...))
	}
	return out
}

// joinKey joins label values, each with its length, so that no two sets
// of values share a key.
func joinKey(values []string) string {
	var b strings.Builder
	for _, v := range values {
		b.WriteString(strconv.Itoa(len(v)) + ":" + v)
	}
	return b.String()
}

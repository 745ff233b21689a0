package cmdutil

import (
	"errors"
	"fmt"
	"math"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/spf13/pflag"
)

// Units of a duration on the command line. "m" is not one: six months or
// six minutes? "min" says minutes.
var durationUnits = map[string]time.Duration{
	"s":   time.Second,
	"min": time.Minute,
	"h":   time.Hour,
	"d":   24 * time.Hour,
	"w":   7 * 24 * time.Hour,
}

// MaxDuration is the longest duration taken: a hundred years, far inside
// what a time.Duration and a time.Time minus it can hold.
const MaxDuration = 36500 * 24 * time.Hour

// DurationHelp names the accepted forms, for messages and flag usage.
const DurationHelp = "a number and a unit: 90s, 10min, 36h, 7d, 2w"

var durationRE = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`^([0-9]+(?:\.[0-9]+)?)([a-z]+)$`) })

// ParseDuration reads a duration given on the command line: a decimal
// number and one unit, s, min, h, d (24 h) or w (7 d). It refuses what
// cannot mean a span of time forward or back: zero, a negative value, NaN,
// infinity, an exponent, no unit, the ambiguous "m" (minutes or months?)
// and anything past MaxDuration. Its errors do not repeat the value.
func ParseDuration(s string) (time.Duration, error) {
	s = strings.TrimSpace(s)
	m := durationRE().FindStringSubmatch(s)
	if m == nil {
		return 0, badDuration(s)
	}
	v, err := strconv.ParseFloat(m[1], 64)
	if err != nil {
		return 0, badDuration(s)
	}
	unit, ok := durationUnits[m[2]]
	if !ok {
		if m[2] == "m" {
			return 0, fmt.Errorf("minutes or months? write %smin for minutes, or %s for months", m[1], monthsHint(v))
		}
		return 0, fmt.Errorf("unknown unit %q: want s, min, h, d or w (%s)", m[2], DurationHelp)
	}
	ns := v * float64(unit)
	switch {
	case ns > float64(MaxDuration):
		return 0, fmt.Errorf("too long: at most %s (100 years)", FormatDuration(MaxDuration))
	case ns < 1:
		return 0, errors.New("zero: want a duration above zero (" + DurationHelp + ")")
	}
	return time.Duration(ns), nil
}

// badDuration says why s is not a duration: the sign, a missing unit, or
// the form as a whole.
func badDuration(s string) error {
	switch {
	case s == "":
		return errors.New("empty: want " + DurationHelp)
	case strings.HasPrefix(s, "-"):
		return errors.New("negative: want a duration above zero (" + DurationHelp + ")")
	case strings.Trim(s, "0123456789.") == "":
		return errors.New("no unit: want " + DurationHelp)
	}
	return errors.New("not a duration: want " + DurationHelp)
}

// monthsHint writes n months as days (30 a month).
func monthsHint(n float64) string {
	d := n * 30
	if d > float64(MaxDuration/(24*time.Hour)) {
		return "days (30d a month)"
	}
	return strconv.FormatFloat(math.Round(d), 'f', -1, 64) + "d"
}

// FormatDuration writes d in the largest unit ParseDuration reads that
// divides it exactly: 3d, 2min, 90s; zero is "0" (a flag with no default).
func FormatDuration(d time.Duration) string {
	if d == 0 {
		return "0"
	}
	for _, u := range []struct {
		name string
		unit time.Duration
	}{{"w", 7 * 24 * time.Hour}, {"d", 24 * time.Hour}, {"h", time.Hour}, {"min", time.Minute}, {"s", time.Second}} {
		if d > 0 && d%u.unit == 0 {
			return strconv.FormatInt(int64(d/u.unit), 10) + u.name
		}
	}
	return d.String()
}

// durationValue is a flag that holds a duration read by ParseDuration.
type durationValue time.Duration

func (d *durationValue) Set(s string) error {
	v, err := ParseDuration(s)
	if err != nil {
		return err
	}
	*d = durationValue(v)
	return nil
}

func (d *durationValue) String() string { return FormatDuration(time.Duration(*d)) }

func (d *durationValue) Type() string { return "duration" }

// DurationVar defines a duration flag read by ParseDuration, in place of
// pflag's, whose units are Go's (m is minutes) and which takes zero and
// negative values.
func DurationVar(fs *pflag.FlagSet, p *time.Duration, name string, value time.Duration, usage string) {
	*p = value
	fs.Var((*durationValue)(p), name, usage)
}

package cmdutil

import (
	"strings"
	"testing"
	"time"

	"github.com/spf13/pflag"
)

func TestParseDuration(t *testing.T) {
	day := 24 * time.Hour
	for _, tc := range []struct {
		in   string
		want time.Duration
	}{
		{"90s", 90 * time.Second},
		{"10min", 10 * time.Minute},
		{"36h", 36 * time.Hour},
		{"1.5h", 90 * time.Minute},
		{"7d", 7 * day},
		{"400d", 400 * day},
		{"2w", 14 * day},
		{"36500d", MaxDuration},
	} {
		got, err := ParseDuration(tc.in)
		if err != nil || got != tc.want {
			t.Errorf("ParseDuration(%q) = %v, %v; want %v", tc.in, got, err, tc.want)
		}
	}
}

// TestParseDurationHostile feeds every value that once passed and meant
// nothing sensible (or everything: --older-than 0 --apply removed every
// report); each is refused with its reason.
func TestParseDurationHostile(t *testing.T) {
	for _, tc := range []struct{ in, why string }{
		{"6m", "minutes or months? write 6min for minutes, or 180d for months"},
		{"1.5m", "write 1.5min for minutes, or 45d for months"},
		{"0", "no unit"},
		{"400", "no unit"},
		{"0d", "zero"},
		{"0s", "zero"},
		{"0.0000000001s", "zero"},
		{"-0d", "negative"},
		{"-1d", "negative"},
		{"-5m", "negative"},
		{"NaNd", "not a duration"},
		{"nand", "not a duration"},
		{"Infd", "not a duration"},
		{"+Infd", "not a duration"},
		{"infd", "not a duration"},
		{"1e10d", "not a duration"},
		{"1e3d", "not a duration"},
		{"0x10d", "not a duration"},
		{"1_000d", "not a duration"},
		{"+1d", "not a duration"},
		{"10000000000d", "too long: at most"},
		{"36501d", "too long"},
		{"99999999999999999999999w", "too long"},
		{"5300w", "too long"},
		{"1y", "unknown unit \"y\""},
		{"100ms", "unknown unit \"ms\""},
		{"1h30m", "not a duration"},
		{"d", "not a duration"},
		{"", "empty"},
		{"1 d", "not a duration"},
	} {
		got, err := ParseDuration(tc.in)
		if err == nil {
			t.Errorf("ParseDuration(%q) = %v; want an error", tc.in, got)
			continue
		}
		if !strings.Contains(err.Error(), tc.why) {
			t.Errorf("ParseDuration(%q): %v; want it to say %q", tc.in, err, tc.why)
		}
	}
}

func TestFormatDuration(t *testing.T) {
	for d, want := range map[time.Duration]string{
		0: "0", 10 * time.Second: "10s", 120 * time.Second: "2min", 72 * time.Hour: "3d",
		14 * 24 * time.Hour: "2w", 36 * time.Hour: "36h", 1500 * time.Millisecond: "1.5s",
	} {
		if got := FormatDuration(d); got != want {
			t.Errorf("FormatDuration(%v) = %q; want %q", d, got, want)
		}
		if d%time.Second == 0 && d > 0 {
			if back, err := ParseDuration(want); err != nil || back != d {
				t.Errorf("ParseDuration(FormatDuration(%v)) = %v, %v", d, back, err)
			}
		}
	}
}

// TestDurationFlag checks the flag refuses what the parser refuses and
// says the default in the units it reads.
func TestDurationFlag(t *testing.T) {
	fs := pflag.NewFlagSet("x", pflag.ContinueOnError)
	var d time.Duration
	DurationVar(fs, &d, "quiet-after", 72*time.Hour, "usage")
	if got := fs.Lookup("quiet-after").DefValue; got != "3d" {
		t.Errorf("default shown as %q; want 3d", got)
	}
	for _, bad := range []string{"6m", "0", "-1h", "NaNd", "1e10d"} {
		if err := fs.Parse([]string{"--quiet-after", bad}); err == nil {
			t.Errorf("--quiet-after %s taken as %v", bad, d)
		}
	}
	if err := fs.Parse([]string{"--quiet-after=36h"}); err != nil || d != 36*time.Hour {
		t.Errorf("--quiet-after=36h: %v, %v", d, err)
	}
}

func TestParseSinceDuration(t *testing.T) {
	now := time.Date(2026, 12, 3, 0, 0, 0, 0, time.UTC)
	if got, err := ParseSince("2w", now); err != nil || !got.Equal(now.Add(-14*24*time.Hour)) {
		t.Errorf("ParseSince(2w) = %v, %v", got, err)
	}
	for in, why := range map[string]string{
		"6m":   "minutes or months",
		"-7d":  "negative",
		"0d":   "zero",
		"1e9w": "want a date",
		"NaNd": "want a date",
	} {
		if _, err := ParseSince(in, now); err == nil || !strings.Contains(err.Error(), why) {
			t.Errorf("ParseSince(%q): %v; want %q", in, err, why)
		}
	}
}

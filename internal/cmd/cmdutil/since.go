package cmdutil

import (
	"fmt"
	"strings"
	"time"
)

// ParseSince reads a --since value: a date (2006-01-02), an RFC 3339
// time, or a duration back from now read by ParseDuration (36h, 7d, 2w).
// Empty is the zero time.
func ParseSince(s string, now time.Time) (time.Time, error) {
	if s == "" {
		return time.Time{}, nil
	}
	if t, err := time.Parse("2006-01-02", s); err == nil {
		return t, nil
	}
	if t, err := time.Parse(time.RFC3339, s); err == nil {
		return t, nil
	}
	d, err := ParseDuration(s)
	if err == nil {
		return now.Add(-d), nil
	}
	if t := strings.TrimSpace(s); durationRE().MatchString(t) || strings.HasPrefix(t, "-") {
		// A duration, but a bad one: the parser's reason is the one to give.
		return time.Time{}, UsageErrorf("--since %q: %v", s, err)
	}
	return time.Time{}, UsageErrorf("--since %q: want a date (2024-02-01), an RFC 3339 time or a duration (36h, 7d, 2w)", s)
}

// Plural says "1 thing" or "N things".
func Plural(n int64, one, many string) string {
	if n == 1 {
		return "1 " + one
	}
	return fmt.Sprintf("%d %s", n, many)
}

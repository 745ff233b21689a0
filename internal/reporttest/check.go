package reporttest

import (
	"errors"
	"strings"
	"testing"

	"github.com/tlsrpt/tlsrpt/internal/mimewalk"
)

// The assertions here are the promises the parsers of TLS reports
// (report) and DMARC reports (dmarc) both keep, for their tests.

// WantErr asserts an error wrapping target (when not nil) and mentioning
// every fragment, on one line.
func WantErr(t testing.TB, err, target error, fragments ...string) {
	t.Helper()
	if err == nil {
		t.Fatalf("no error, want one mentioning %q", fragments)
	}
	if target != nil && !errors.Is(err, target) {
		t.Errorf("error %q does not wrap %v", err, target)
	}
	for _, f := range fragments {
		if !strings.Contains(err.Error(), f) {
			t.Errorf("error %q does not mention %q", err, f)
		}
	}
	OneLine(t, err)
}

// OneLine asserts that an error, if any, fits one line.
func OneLine(t testing.TB, err error) {
	t.Helper()
	if err != nil && strings.ContainsAny(err.Error(), "\r\n") {
		t.Errorf("error %q is not one line", err)
	}
}

// One asserts no error and exactly one report, and returns it.
func One[R any](t testing.TB, reps []*R, err error) *R {
	t.Helper()
	if err != nil {
		t.Fatalf("unexpected error: %v", err)
	}
	if len(reps) != 1 {
		t.Fatalf("got %d reports, want 1", len(reps))
	}
	return reps[0]
}

// Eq asserts that got is want.
func Eq[T comparable](t testing.TB, what string, got, want T) {
	t.Helper()
	if got != want {
		t.Errorf("%s = %v, want %v", what, got, want)
	}
}

// CheckFounds asserts what a message parser promises of the parts it
// found, with err the error it returned: a report or an error, at most
// max parts, each with exactly one of Report and Err, every error on one
// line. check is called on each report.
func CheckFounds[R any](t testing.TB, fs mimewalk.Founds[R], err error, max int, check func(*R)) {
	t.Helper()
	OneLine(t, err)
	if err == nil && len(fs.Reports()) == 0 {
		t.Fatal("no error and no report")
	}
	if len(fs) > max {
		t.Fatalf("%d Found over the limit", len(fs))
	}
	for _, found := range fs {
		if (found.Report == nil) == (found.Err == nil) {
			t.Fatalf("Found with both or neither Report and Err: %+v", found)
		}
		OneLine(t, found.Err)
		if found.Report != nil {
			check(found.Report)
		}
	}
}

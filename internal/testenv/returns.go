package testenv

import (
	"testing"
	"time"
)

// Patience is how long Returns waits: far beyond anything load on a
// shared machine explains, so that it only ever catches a hang.
const Patience = time.Minute

// Returns runs f and fails the test, naming what, when f has not returned
// within Patience. It replaces a wall-clock upper bound: set every timer
// of the code under test far beyond Patience (an hour), except the one the
// test means to see fire, so that nothing else can end f. A pass then
// shows that f waited for no other time-out, however slow the machine; a
// hang fails with a line saying what hung rather than the test binary's
// panic. f must not call t.FailNow.
func Returns(t testing.TB, what string, f func()) {
	t.Helper()
	done := make(chan struct{})
	go func() {
		defer close(done)
		f()
	}()
	select {
	case <-done:
	case <-time.After(Patience):
		t.Fatalf("%s: still waiting after %v", what, Patience)
	}
}

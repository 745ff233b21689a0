package web

import (
	"errors"
	"fmt"
	"strings"
	"testing"
)

// checkRefusal fails t unless err is nil for an allowed address (ok),
// and otherwise a *ListenError matching ErrListen that names addr and
// gives its reason (want, when it is not 0) without naming a flag: the
// command layer says what to give instead.
func checkRefusal(t *testing.T, call string, err error, addr string, ok bool, want ListenReason) {
	t.Helper()
	if (err == nil) != ok {
		t.Errorf("%s = %v, want allowed %v", call, err, ok)
	}
	if err == nil {
		return
	}
	var le *ListenError
	if !errors.Is(err, ErrListen) || !errors.As(err, &le) || le.Addr != addr || le.Reason == 0 || want != 0 && le.Reason != want ||
		strings.Contains(err.Error(), "--") {
		t.Errorf("%s: %q is not a ListenError with its reason, or names a flag", call, err)
	}
}

// TestCheckListen: without a password file the dashboard listens on
// loopback only; with one, anywhere, but over plain HTTP only on loopback
// (CheckClearAuth), unless it speaks TLS itself or is behind a proxy.
// An address that is no host:port is left to CheckListen.
func TestCheckListen(t *testing.T) {
	for _, tc := range []struct {
		addr          string
		open, inClear bool // CheckListen without a password file, CheckClearAuth over plain HTTP
	}{
		{"127.0.0.1:8461", true, true},
		{"[::1]:8461", true, true},
		{"localhost:8461", true, true},
		{"127.7.7.7:80", true, true},
		{"0.0.0.0:8461", false, false},
		{":8461", false, false},
		{"[::]:8461", false, false},
		{"192.0.2.10:8461", false, false},
		{"mx.example.com:8461", false, false},
		{"no-port", false, true},
	} {
		checkRefusal(t, fmt.Sprintf("CheckListen(%q, false)", tc.addr), CheckListen(tc.addr, false), tc.addr, tc.open, 0)
		checkRefusal(t, fmt.Sprintf("CheckListen(%q, true)", tc.addr), CheckListen(tc.addr, true), tc.addr, tc.addr != "no-port", 0)
		checkRefusal(t, fmt.Sprintf("CheckClearAuth(%q, false, false)", tc.addr), CheckClearAuth(tc.addr, false, false), tc.addr, tc.inClear, ListenClearAuth)
		checkRefusal(t, fmt.Sprintf("CheckClearAuth(%q, true, false)", tc.addr), CheckClearAuth(tc.addr, true, false), tc.addr, true, 0)
		checkRefusal(t, fmt.Sprintf("CheckClearAuth(%q, false, true)", tc.addr), CheckClearAuth(tc.addr, false, true), tc.addr, true, 0)
	}
}

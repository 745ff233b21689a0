package web

import (
	"fmt"
	"net"
	"net/netip"
	"strings"

	"github.com/tlsrpt/tlsrpt/internal/pkgerr"
)

// ErrListen is returned by CheckListen for an address the dashboard must
// not listen on without a password file.
var ErrListen = pkgerr.New("web", "refusing to listen")

// A ListenReason is why the dashboard refuses an address.
type ListenReason int

// Why an address is refused.
const (
	ListenBadAddress     ListenReason = iota + 1 // not host:port
	ListenEveryInterface                         // an empty host: every interface
	ListenNotIP                                  // a host name other than localhost
	ListenNotLoopback                            // an IP address off loopback
	ListenClearAuth                              // passwords over plain HTTP off loopback
)

// A ListenError is an address the dashboard refuses to listen on, and
// why; it matches ErrListen. Its text says what is wrong, and the caller
// says what to give instead.
type ListenError struct {
	Addr   string
	Reason ListenReason
	IP     netip.Addr // the address off loopback (ListenNotLoopback)
	Err    error      // why addr is not host:port (ListenBadAddress)
}

func (e *ListenError) Error() string {
	s := fmt.Sprintf("%v on %q", ErrListen, e.Addr)
	switch e.Reason {
	case ListenBadAddress:
		s += fmt.Sprintf(": want host:port (127.0.0.1:8461): %v", e.Err)
	case ListenEveryInterface:
		s += ": that is every interface; the dashboard shows who is banned and why"
	case ListenNotLoopback:
		s += fmt.Sprintf(": %s is not a loopback address; the dashboard shows who is banned and why", e.IP)
	case ListenClearAuth:
		s += " with a password file over plain HTTP: passwords would cross the network in clear"
	}
	return s
}

// Package is the package whose name the text starts with.
func (e *ListenError) Package() string { return "web" }

// Is reports whether target is ErrListen.
func (e *ListenError) Is(target error) bool { return target == ErrListen }

// Unwrap returns why the address is not host:port, if that is the reason.
func (e *ListenError) Unwrap() error { return e.Err }

// CheckListen allows a listening address: a loopback address
// (127.0.0.0/8, ::1, localhost) always; any other only with a password
// file (withAuth). An empty host (":8080") means every interface. A
// refused address is a *ListenError.
func CheckListen(addr string, withAuth bool) error {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return &ListenError{Addr: addr, Reason: ListenBadAddress, Err: err}
	}
	if withAuth || host == "localhost" {
		return nil
	}
	ip, err := netip.ParseAddr(strings.Trim(host, "[]"))
	switch {
	case host == "":
		return &ListenError{Addr: addr, Reason: ListenEveryInterface}
	case err != nil:
		return &ListenError{Addr: addr, Reason: ListenNotIP}
	case !ip.IsLoopback():
		return &ListenError{Addr: addr, Reason: ListenNotLoopback, IP: ip}
	}
	return nil
}

// CheckClearAuth refuses to ask for passwords over plain HTTP off
// loopback, where they would cross the network in clear: a password
// file on such an address needs TLS of the dashboard's own (tls), or
// the operator's word that a TLS reverse proxy is in front (behindProxy).
// A refusal is a *ListenError (ListenClearAuth).
func CheckClearAuth(addr string, tls, behindProxy bool) error {
	host, _, err := net.SplitHostPort(addr)
	if err != nil || tls || behindProxy || host == "localhost" {
		return nil // CheckListen says what is wrong with addr
	}
	if ip, err := netip.ParseAddr(strings.Trim(host, "[]")); err == nil && ip.IsLoopback() {
		return nil
	}
	return &ListenError{Addr: addr, Reason: ListenClearAuth}
}

// Package pkgerr marks the errors of tlsrpt's packages with the name of
// the package that made them ("store: database is busy"), so that the
// command layer, which names the command instead, can leave the name out
// where the message starts with it, without a list of the packages; and
// it marks an error as of a sentinel kind without changing its text.
package pkgerr

import (
	"errors"
	"fmt"
	"strings"
)

// Error is an error of package Pkg: its text is "Pkg: " and Err's.
type Error struct {
	Pkg string
	Err error
}

func (e *Error) Error() string { return e.Pkg + ": " + e.Err.Error() }

// Unwrap returns Err.
func (e *Error) Unwrap() error { return e.Err }

// Package is the name of the package that made the error.
func (e *Error) Package() string { return e.Pkg }

// New returns an error of package pkg with the text "pkg: text", for a
// sentinel.
func New(pkg, text string) error { return &Error{Pkg: pkg, Err: errors.New(text)} }

// Errorf returns an error of package pkg: "pkg: " and fmt.Errorf's text,
// wrapping what fmt.Errorf wraps.
func Errorf(pkg, format string, args ...any) error {
	return &Error{Pkg: pkg, Err: fmt.Errorf(format, args...)}
}

// Kind marks err as of the sentinel kind without changing its text:
// errors.Is matches kind, and Unwrap returns err.
func Kind(kind, err error) error { return Mark(err.Error(), err, kind) }

// Mark returns an error of the sentinel kinds with a text of its own: it
// prints text, errors.Is matches each of kinds (and what cause matches),
// and Unwrap returns cause, which may be nil. A package's message built
// on a sentinel thus says what happened without repeating the
// sentinel's "name: " in the middle of a sentence.
func Mark(text string, cause error, kinds ...error) error {
	return &marked{text: text, cause: cause, kinds: kinds}
}

type marked struct {
	text  string
	cause error
	kinds []error
}

func (m *marked) Error() string { return m.text }
func (m *marked) Unwrap() error { return m.cause }
func (m *marked) Is(target error) bool {
	for _, k := range m.kinds {
		if target == k {
			return true
		}
	}
	return false
}

// Packaged is an error that names the package that made it at the start
// of its text: an *Error, or an error type of a package that writes the
// name itself.
type Packaged interface {
	error
	Package() string
}

// TrimPackage returns msg, err's text, without the "name: " it starts
// with when name is that of the package of the first Packaged error in
// err's chain. A message that starts otherwise is returned as it is.
func TrimPackage(err error, msg string) string {
	p := first(err)
	if p == nil {
		return msg
	}
	rest, ok := strings.CutPrefix(msg, p.Package()+": ")
	if !ok {
		return msg
	}
	return rest
}

// first finds the first Packaged error in err's chain, depth first.
func first(err error) Packaged {
	if err == nil {
		return nil
	}
	if p, ok := err.(Packaged); ok {
		return p
	}
	switch u := err.(type) {
	case interface{ Unwrap() error }:
		return first(u.Unwrap())
	case interface{ Unwrap() []error }:
		for _, e := range u.Unwrap() {
			if p := first(e); p != nil {
				return p
			}
		}
	}
	return nil
}

package redeem

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"strings"

	"github.com/tlsrpt/tlsrpt/internal/pkgerr"
	"github.com/tlsrpt/tlsrpt/neutral"
)

// Sentinel errors; compare with errors.Is. Errors returned by this package
// match them without repeating their text: a message reads "invalid
// address \"x\"", not "...: redeem: invalid address".
var (
	// ErrInvalidAddr reports an address that is not a valid IP address.
	ErrInvalidAddr = pkgerr.New("redeem", "invalid address")
	// ErrZonedAddr reports an IPv6 address with a zone (fe80::1%eth0),
	// which no backend can ban or unban.
	ErrZonedAddr = pkgerr.New("redeem", "address has a zone")
	// ErrUnknownBackend reports an action for a backend that was not given.
	ErrUnknownBackend = pkgerr.New("redeem", "unknown backend")
	// ErrForeignAction reports an action that the backend asked to apply
	// did not plan (another backend's, or a command it would not run).
	ErrForeignAction = pkgerr.New("redeem", "action not planned by this backend")
	// ErrUnavailable reports a backend that cannot be used on this machine.
	ErrUnavailable = pkgerr.New("redeem", "backend unavailable")
	// ErrNotInstalled reports a backend whose program is not installed;
	// it also matches ErrUnavailable. A backend that is unavailable but
	// installed (fail2ban-client present, its server down) does not match
	// it: its ban status is unknown, not absent.
	ErrNotInstalled = pkgerr.New("redeem", "backend not installed")
	// ErrCommandsFile reports an ipqbdb commands file that cannot be used;
	// its message is "FILE:LINE: reason".
	ErrCommandsFile = pkgerr.New("redeem", "bad ipqbdb commands file")
	// ErrProbe reports that the installed ipqbdb tools do not take the
	// command lines of the commands file (the --help probe failed).
	ErrProbe = pkgerr.New("redeem", "ipqbdb command lines do not fit the installed tools")
	// ErrIPv6Refused reports an IPv6 address that the ipqbdb commands are
	// not declared to take.
	ErrIPv6Refused = pkgerr.New("redeem", "ipqbdb commands take no IPv6 address")
	// ErrListing reports a backend's listing that could not be read.
	ErrListing = pkgerr.New("redeem", "unreadable listing")
)

// mark returns an error printed as fmt.Sprintf(format, args...) that
// matches kind with errors.Is and wraps the last argument when it is an
// error.
func mark(kind error, format string, args ...any) error {
	var cause error
	if n := len(args); n > 0 {
		cause, _ = args[n-1].(error)
	}
	return pkgerr.Mark(fmt.Sprintf(format, args...), cause, kind)
}

// Kinds of Action.
const (
	KindUnban = "unban" // remove a ban that exists now
	KindKeep  = "keep"  // keep the address from being banned again
)

// Operations an Action carries out, in Action.Op.
const (
	OpExec     = "exec"     // run Argv with the backend's Runner
	OpWrite    = "write"    // rewrite the file named by Target (Argv describes the change)
	OpIPTables = "iptables" // carry out Argv, an iptables command, through go-iptables
)

// Ban is where an address is banned now.
type Ban struct {
	Backend string     // "fail2ban", "iptables" or "ipqbdb"
	Where   string     // jail name, "filter/f2b-sshd rule 3", "block record 192.0.2.7 (probability 25.00%)"
	Detail  string     // backend-specific detail: the iptables rule spec, the ipqbdb record line
	IP      netip.Addr // the banned address
}

// Action is one planned or applied step.
type Action struct {
	Backend  string     // the backend that planned it and will apply it
	Kind     string     // KindUnban or KindKeep
	Target   string     // jail, chain, drop-in file or database the step changes
	IP       netip.Addr // the address redeemed
	Op       string     // OpExec, OpWrite or OpIPTables
	Argv     []string   // the exact command, or its iptables equivalent, or a description for OpWrite
	Describe string     // one line for people, without the backend's name
}

// String returns the backend's name and the action's description.
func (a Action) String() string { return a.Backend + ": " + a.Describe }

// Result is the outcome of applying an Action.
type Result struct {
	Action Action
	OK     bool
	// Output is the command's output, trimmed. When the command failed
	// once and was retried, it says so: "attempt 1 failed: ...; attempt
	// 2: ...", so the audit log, which records Output, records the retry.
	Output string
	Err    error
	// Attempts is how many times the command ran: 2 when it failed once
	// and was retried (ipqbdb), else 1; 0 when nothing ran.
	Attempts int
}

// Lookup is what one backend found about one address.
type Lookup struct {
	Bans []Ban // where the address is banned now
	Err  error // why the backend could not tell; Bans is then empty
}

// Steps is what one backend plans for one address.
type Steps struct {
	Actions []Action // in order; empty when nothing is needed
	Err     error    // why the backend could not plan
}

// Backend finds bans of addresses and plans and applies their undoing.
//
// Banned and Plan take every address at once and read each listing they
// need once (fail2ban's banned IPs, each iptables chain, ipqbdb's block
// and whitelist records), so their cost in commands does not grow with
// the number of addresses.
type Backend interface {
	// Name returns the backend's name: "fail2ban", "iptables" or "ipqbdb".
	Name() string
	// Available returns nil when the backend can be used here (binary
	// present, server reachable...).
	Available(ctx context.Context) error
	// Banned returns, for each of ips (checked with CheckAddr), where it
	// is banned now: one Lookup per address, in order.
	Banned(ctx context.Context, ips []netip.Addr) []Lookup
	// Plan returns, for each of ips, the unban and keep-from-rebanning
	// steps, given its bans from Banned (bans[i] for ips[i]); nothing
	// when the address is already unbanned and kept. One Steps per
	// address, in order.
	Plan(ctx context.Context, ips []netip.Addr, bans [][]Ban) []Steps
	// Apply carries out one action this backend planned.
	Apply(ctx context.Context, a Action) Result
}

// Preparer is implemented by backends that must check something once
// before they run any other command (the ipqbdb backend probes its tools'
// --help). Prepare returns lines for the plan; an error means the backend
// must run nothing else.
type Preparer interface {
	Prepare(ctx context.Context) ([]string, error)
}

// Noter is implemented by backends that have something to tell people
// reading a plan or a review: what their keep means, what they assumed,
// a command that failed once and was retried.
type Noter interface {
	Notes() []string
}

// Runner runs the program name with args, never through a shell, and
// returns its standard output. A failing run returns an error that
// includes the program's standard error but not its name: the caller
// names what it ran.
type Runner func(ctx context.Context, name string, args ...string) ([]byte, error)

// ExecRunner is the default Runner: exec.CommandContext.
func ExecRunner(ctx context.Context, name string, args ...string) ([]byte, error) {
	cmd := exec.CommandContext(ctx, name, args...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		msg := strings.TrimSpace(stderr.String())
		if msg == "" {
			msg = strings.TrimSpace(string(out))
		}
		if msg != "" {
			return out, fmt.Errorf("%w: %s", err, oneLine(msg))
		}
		return out, err
	}
	return out, nil
}

// notInstalled returns the error for a program exec.LookPath could not
// find, without repeating its name the way exec's errors do; it matches
// ErrUnavailable, and ErrNotInstalled when the program is missing.
func notInstalled(prog string, err error, format string, args ...any) error {
	where := " in $PATH"
	if strings.Contains(prog, "/") {
		where = ""
	}
	hint := fmt.Sprintf(format, args...)
	if errors.Is(err, exec.ErrNotFound) || errors.Is(err, os.ErrNotExist) {
		return pkgerr.Mark(prog+" not found"+where+hint, nil, ErrUnavailable, ErrNotInstalled)
	}
	return pkgerr.Mark(fmt.Sprintf("%s not usable%s: %v", prog, where, err)+hint, err, ErrUnavailable)
}

// oneLine joins the lines of s with "; " (a program's stderr in an error),
// made safe for a log line by neutral.LogAttr.
func oneLine(s string) string {
	var parts []string
	for _, l := range strings.Split(s, "\n") {
		if l = strings.TrimSpace(l); l != "" {
			parts = append(parts, l)
		}
	}
	return neutral.LogAttr(strings.Join(parts, "; "))
}

// CheckAddr returns ip in the form every backend uses (IPv4-mapped IPv6
// addresses become IPv4), or an error when ip is invalid or has a zone.
func CheckAddr(ip netip.Addr) (netip.Addr, error) {
	if !ip.IsValid() {
		return netip.Addr{}, mark(ErrInvalidAddr, "invalid address (the zero netip.Addr)")
	}
	if ip.Zone() != "" {
		return netip.Addr{}, mark(ErrZonedAddr, "address %s has a zone", ip)
	}
	return ip.Unmap(), nil
}

// ParseAddr parses s as a single IP address (no prefix length, no zone).
func ParseAddr(s string) (netip.Addr, error) {
	ip, err := netip.ParseAddr(strings.TrimSpace(s))
	if err != nil {
		return netip.Addr{}, mark(ErrInvalidAddr, "invalid address %q (want an IP address without prefix length or zone)", s)
	}
	return CheckAddr(ip)
}

// checkAll checks every address and returns them deduplicated, in order.
func checkAll(ips []netip.Addr) ([]netip.Addr, error) {
	out := make([]netip.Addr, 0, len(ips))
	seen := make(map[netip.Addr]bool, len(ips))
	for _, ip := range ips {
		c, err := CheckAddr(ip)
		if err != nil {
			return nil, err
		}
		if !seen[c] {
			seen[c] = true
			out = append(out, c)
		}
	}
	return out, nil
}

// Entry is the plan for one address in one backend.
type Entry struct {
	IP      netip.Addr
	Backend string
	Bans    []Ban    // where the address is banned now
	Actions []Action // what to do; empty when nothing is needed
	// Err is why the backend could not be consulted or could not plan
	// for this address: the reason alone, since the Entry names the
	// backend and the address (Plan.Err adds them).
	Err error
}

// Note is one line a backend has for people reading a plan.
type Note struct {
	Backend string
	Text    string
}

// String returns "backend: text".
func (n Note) String() string { return n.Backend + ": " + n.Text }

// Plan is the plan for a list of addresses: Entries address by address,
// then backend by backend, in the order given, and the backends' Notes
// (the ipqbdb probe's result, what each keep means).
type Plan struct {
	Entries []Entry
	Notes   []Note
}

// Actions returns every action of the plan in order.
func (p Plan) Actions() []Action {
	var all []Action
	for _, e := range p.Entries {
		all = append(all, e.Actions...)
	}
	return all
}

// Err returns the errors met while planning, each as "backend address:
// reason", joined, or nil.
func (p Plan) Err() error {
	var errs []error
	for _, e := range p.Entries {
		if e.Err != nil {
			errs = append(errs, fmt.Errorf("%s %s: %w", e.Backend, e.IP, e.Err))
		}
	}
	return errors.Join(errs...)
}

// prepare runs Prepare on every backend that has it, in order.
func prepare(ctx context.Context, backends []Backend) ([]Note, map[string]error) {
	var notes []Note
	failed := map[string]error{}
	for _, b := range backends {
		p, ok := b.(Preparer)
		if !ok {
			continue
		}
		lines, err := p.Prepare(ctx)
		for _, l := range lines {
			notes = append(notes, Note{b.Name(), l})
		}
		if err != nil {
			failed[b.Name()] = err
		}
	}
	return notes, failed
}

func noteLines(backends []Backend) []Note {
	var notes []Note
	for _, b := range backends {
		if n, ok := b.(Noter); ok {
			for _, l := range n.Notes() {
				notes = append(notes, Note{b.Name(), l})
			}
		}
	}
	return notes
}

// MakePlan asks each backend where each address is banned and what undoing
// it takes. Every address is checked before any backend is consulted: an
// invalid or zoned address fails the whole plan and runs no command, and
// so does a backend whose preparation fails (the ipqbdb probe): its error,
// "backend: reason", is returned and nothing else runs. Duplicate addresses are planned once.
// A backend failing for an address is recorded in that Entry's Err.
//
// Each backend is asked once for all addresses (Backend.Banned, then
// Backend.Plan), so the number of commands does not grow with the number
// of addresses.
func MakePlan(ctx context.Context, backends []Backend, ips []netip.Addr) (Plan, error) {
	checked, err := checkAll(ips)
	if err != nil {
		return Plan{}, err
	}
	notes, failed := prepare(ctx, backends)
	for _, b := range backends {
		if err := failed[b.Name()]; err != nil {
			return Plan{Notes: notes}, fmt.Errorf("%s: %w", b.Name(), err)
		}
	}
	perBackend := make([][]Entry, len(backends))
	for i, b := range backends {
		perBackend[i] = planBackend(ctx, b, checked)
	}
	plan := Plan{Entries: make([]Entry, 0, len(checked)*len(backends))}
	for j := range checked {
		for i := range backends {
			plan.Entries = append(plan.Entries, perBackend[i][j])
		}
	}
	plan.Notes = append(notes, noteLines(backends)...)
	return plan, nil
}

// planBackend asks one backend about every address: one Entry per address.
func planBackend(ctx context.Context, b Backend, ips []netip.Addr) []Entry {
	entries := make([]Entry, len(ips))
	looks := b.Banned(ctx, ips)
	var okIPs []netip.Addr
	var okBans [][]Ban
	var okAt []int
	for j, ip := range ips {
		entries[j] = Entry{IP: ip, Backend: b.Name()}
		l := lookupAt(looks, j)
		if l.Err != nil {
			entries[j].Err = l.Err
			continue
		}
		entries[j].Bans = l.Bans
		okIPs, okBans, okAt = append(okIPs, ip), append(okBans, l.Bans), append(okAt, j)
	}
	if len(okIPs) == 0 {
		return entries
	}
	steps := b.Plan(ctx, okIPs, okBans)
	for k, j := range okAt {
		if k >= len(steps) {
			entries[j].Err = errors.New("no plan from the backend")
			continue
		}
		if steps[k].Err != nil {
			entries[j].Err = steps[k].Err
			continue
		}
		entries[j].Actions = steps[k].Actions
	}
	return entries
}

func lookupAt(looks []Lookup, j int) Lookup {
	if j >= len(looks) {
		return Lookup{Err: errors.New("no answer from the backend")}
	}
	return looks[j]
}

// ApplyAll carries out actions in order, each by the backend named in it,
// and returns one Result per action. It goes on after a failure: every
// action is independent enough that the rest still help, and the results
// say what failed.
func ApplyAll(ctx context.Context, backends []Backend, actions []Action) []Result {
	byName := make(map[string]Backend, len(backends))
	for _, b := range backends {
		byName[b.Name()] = b
	}
	results := make([]Result, 0, len(actions))
	for _, a := range actions {
		b, ok := byName[a.Backend]
		if !ok {
			results = append(results, Result{Action: a, Err: mark(ErrUnknownBackend, "applying %q: unknown backend %q", a.Describe, a.Backend)})
			continue
		}
		if _, err := CheckAddr(a.IP); err != nil {
			results = append(results, Result{Action: a, Err: err})
			continue
		}
		results = append(results, b.Apply(ctx, a))
	}
	return results
}

// Failed reports whether any result failed.
func Failed(results []Result) bool {
	for _, r := range results {
		if !r.OK {
			return true
		}
	}
	return false
}

// BackendError is a backend that could not be consulted, and why.
type BackendError struct {
	Backend string
	Err     error
}

// Error returns "backend: reason".
func (e BackendError) Error() string { return e.Backend + ": " + e.Err.Error() }

// Unwrap returns the reason.
func (e BackendError) Unwrap() error { return e.Err }

// Status is the ban status of one address across backends. A backend in
// Unknown could not be consulted: the address may be banned there, so a
// status with Unknown entries never means "not banned".
type Status struct {
	Bans    []Ban          // where the address is banned now, backend by backend
	Unknown []BackendError // the backends that could not tell, with the reason
}

// Known reports whether every backend could be consulted.
func (s Status) Known() bool { return len(s.Unknown) == 0 }

// BanStatusAll returns the ban status of every address in every backend,
// asking each backend once for all of them (one listing per backend, not
// one per address). Every address is checked first: an invalid or zoned
// address is the only error, and then no command runs. A backend that
// cannot be consulted (its preparation or its listing failed, or it
// cannot tell for an address) is named with the reason in that address's
// Status.Unknown; the bans found elsewhere are returned.
func BanStatusAll(ctx context.Context, backends []Backend, ips []netip.Addr) (map[netip.Addr]Status, error) {
	checked, err := checkAll(ips)
	if err != nil {
		return nil, err
	}
	out := make(map[netip.Addr]Status, len(checked))
	for _, ip := range checked {
		out[ip] = Status{}
	}
	_, failed := prepare(ctx, backends)
	for _, b := range backends {
		if err := failed[b.Name()]; err != nil {
			for _, ip := range checked {
				s := out[ip]
				s.Unknown = append(s.Unknown, BackendError{b.Name(), err})
				out[ip] = s
			}
			continue
		}
		looks := b.Banned(ctx, checked)
		for j, ip := range checked {
			s := out[ip]
			l := lookupAt(looks, j)
			if l.Err != nil {
				s.Unknown = append(s.Unknown, BackendError{b.Name(), l.Err})
			} else {
				s.Bans = append(s.Bans, l.Bans...)
			}
			out[ip] = s
		}
	}
	return out, nil
}

// BanStatus returns the ban status of one address: BanStatusAll for one.
func BanStatus(ctx context.Context, backends []Backend, ip netip.Addr) (Status, error) {
	m, err := BanStatusAll(ctx, backends, []netip.Addr{ip})
	if err != nil {
		return Status{}, err
	}
	return m[ip.Unmap()], nil
}

// result builds a Result from one run's output and error.
func result(a Action, out []byte, err error) Result {
	r := Result{Action: a, Output: strings.TrimSpace(string(out)), Err: err, OK: err == nil, Attempts: 1}
	if err != nil {
		r.Err = fmt.Errorf("applying %q: %w", a.Describe, err)
	}
	return r
}

// allStepsErr returns n Steps sharing one error.
func allStepsErr(n int, err error) []Steps {
	out := make([]Steps, n)
	for i := range out {
		out[i].Err = err
	}
	return out
}

// The backends implement Backend; ipqbdb also prepares and notes.
var (
	_ Backend  = (*Fail2ban)(nil)
	_ Backend  = (*IPTables)(nil)
	_ Backend  = (*IPQBDB)(nil)
	_ Preparer = (*IPQBDB)(nil)
	_ Noter    = (*IPQBDB)(nil)
)

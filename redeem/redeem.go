package redeem

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/netip"
	"os/exec"
	"strings"
)

// Sentinel errors; compare with errors.Is.
var (
	// ErrInvalidAddr reports an address that is not a valid IP address.
	ErrInvalidAddr = errors.New("redeem: invalid address")
	// ErrZonedAddr reports an IPv6 address with a zone (fe80::1%eth0),
	// which no backend can ban or unban.
	ErrZonedAddr = errors.New("redeem: address has a zone")
	// ErrUnknownBackend reports an action for a backend that was not given.
	ErrUnknownBackend = errors.New("redeem: unknown backend")
	// ErrForeignAction reports an action that the backend asked to apply
	// did not plan (another backend's, or a command it would not run).
	ErrForeignAction = errors.New("redeem: action not planned by this backend")
	// ErrUnavailable reports a backend that cannot be used on this machine.
	ErrUnavailable = errors.New("redeem: backend unavailable")
)

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
	Where   string     // jail name, "ipqbdb" record, or "filter/f2b-sshd rule 3"-style text
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
	Describe string     // one line for people
}

// String returns the action's one-line description.
func (a Action) String() string { return a.Describe }

// Result is the outcome of applying an Action.
type Result struct {
	Action Action
	OK     bool
	Output string // command output, trimmed
	Err    error
}

// Backend finds bans of an address and plans and applies their undoing.
type Backend interface {
	// Name returns the backend's name: "fail2ban", "iptables" or "ipqbdb".
	Name() string
	// Available returns nil when the backend can be used here (binary
	// present, server reachable...).
	Available(ctx context.Context) error
	// Banned returns where ip is banned now.
	Banned(ctx context.Context, ip netip.Addr) ([]Ban, error)
	// Plan returns the unban and keep-from-rebanning steps for ip, given
	// its bans from Banned; nothing when ip is already unbanned and kept.
	Plan(ctx context.Context, ip netip.Addr, bans []Ban) ([]Action, error)
	// Apply carries out one action this backend planned.
	Apply(ctx context.Context, a Action) Result
}

// Runner runs the program name with args, never through a shell, and
// returns its standard output. A failing run returns an error that
// includes the program's standard error.
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
			return out, fmt.Errorf("running %s: %w: %s", name, err, msg)
		}
		return out, fmt.Errorf("running %s: %w", name, err)
	}
	return out, nil
}

// CheckAddr returns ip in the form every backend uses (IPv4-mapped IPv6
// addresses become IPv4), or an error when ip is invalid or has a zone.
func CheckAddr(ip netip.Addr) (netip.Addr, error) {
	if !ip.IsValid() {
		return netip.Addr{}, fmt.Errorf("checking address %q: %w", ip.String(), ErrInvalidAddr)
	}
	if ip.Zone() != "" {
		return netip.Addr{}, fmt.Errorf("checking address %q: %w", ip.String(), ErrZonedAddr)
	}
	return ip.Unmap(), nil
}

// ParseAddr parses s as a single IP address (no prefix length, no zone).
func ParseAddr(s string) (netip.Addr, error) {
	ip, err := netip.ParseAddr(strings.TrimSpace(s))
	if err != nil {
		return netip.Addr{}, fmt.Errorf("parsing address %q: %w: %v", s, ErrInvalidAddr, err)
	}
	return CheckAddr(ip)
}

// Entry is the plan for one address in one backend.
type Entry struct {
	IP      netip.Addr
	Backend string
	Bans    []Ban    // where the address is banned now
	Actions []Action // what to do; empty when nothing is needed
	Err     error    // why the backend could not be consulted
}

// Plan is the plan for a list of addresses, address by address, then
// backend by backend, in the order given.
type Plan []Entry

// Actions returns every action of the plan in order.
func (p Plan) Actions() []Action {
	var all []Action
	for _, e := range p {
		all = append(all, e.Actions...)
	}
	return all
}

// Err returns the first error met while planning, or nil.
func (p Plan) Err() error {
	var errs []error
	for _, e := range p {
		if e.Err != nil {
			errs = append(errs, e.Err)
		}
	}
	return errors.Join(errs...)
}

// MakePlan asks each backend where each address is banned and what undoing
// it takes. Every address is checked before any backend is consulted: an
// invalid or zoned address fails the whole plan and runs no command.
// A backend failing for one address is recorded in that Entry's Err.
func MakePlan(ctx context.Context, backends []Backend, ips []netip.Addr) (Plan, error) {
	checked := make([]netip.Addr, 0, len(ips))
	for _, ip := range ips {
		c, err := CheckAddr(ip)
		if err != nil {
			return nil, err
		}
		checked = append(checked, c)
	}
	var plan Plan
	for _, ip := range checked {
		for _, b := range backends {
			plan = append(plan, planOne(ctx, b, ip))
		}
	}
	return plan, nil
}

func planOne(ctx context.Context, b Backend, ip netip.Addr) Entry {
	e := Entry{IP: ip, Backend: b.Name()}
	bans, err := b.Banned(ctx, ip)
	if err != nil {
		e.Err = fmt.Errorf("finding bans of %s in %s: %w", ip, b.Name(), err)
		return e
	}
	e.Bans = bans
	acts, err := b.Plan(ctx, ip, bans)
	if err != nil {
		e.Err = fmt.Errorf("planning redemption of %s in %s: %w", ip, b.Name(), err)
		return e
	}
	e.Actions = acts
	return e
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
			results = append(results, Result{Action: a, Err: fmt.Errorf("applying %q: %w %q", a.Describe, ErrUnknownBackend, a.Backend)})
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

// BanStatus returns where ip is banned in each backend. Backends that fail
// are reported in the joined error; the bans found elsewhere are returned.
func BanStatus(ctx context.Context, backends []Backend, ip netip.Addr) ([]Ban, error) {
	ip, err := CheckAddr(ip)
	if err != nil {
		return nil, err
	}
	var bans []Ban
	var errs []error
	for _, b := range backends {
		got, err := b.Banned(ctx, ip)
		if err != nil {
			errs = append(errs, fmt.Errorf("finding bans of %s in %s: %w", ip, b.Name(), err))
			continue
		}
		bans = append(bans, got...)
	}
	return bans, errors.Join(errs...)
}

// result builds a Result from a run's output and error.
func result(a Action, out []byte, err error) Result {
	r := Result{Action: a, Output: strings.TrimSpace(string(out)), Err: err, OK: err == nil}
	if err != nil {
		r.Err = fmt.Errorf("applying %q: %w", a.Describe, err)
	}
	return r
}

package redeem

import (
	"context"
	"fmt"
	"net/netip"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
)

// Fail2banOptions configures the fail2ban backend. The zero value talks to
// the default server with fail2ban-client from $PATH and writes the
// drop-in /etc/fail2ban/jail.d/tlsrpt-redeemed.local.
type Fail2banOptions struct {
	Client string   // fail2ban-client program; default "fail2ban-client"
	Socket string   // server socket (-s); default: the client's own default
	Config string   // configuration directory (-c); default: the client's own, /etc/fail2ban
	JailD  string   // directory of the drop-in; default Config/jail.d, else /etc/fail2ban/jail.d
	DropIn string   // drop-in file name; default "tlsrpt-redeemed.local"
	Jails  []string // consult only these jails; default every running jail
	// Reload adds "reload JAIL" after writing the drop-in. Off by default:
	// the runtime addignoreip already has the effect the drop-in will have
	// at the next reload, and a reload would also apply whatever else the
	// operator changed in the configuration meanwhile.
	Reload bool
	Run    Runner // default ExecRunner
}

// Fail2ban is the fail2ban backend: it talks to fail2ban-server through
// fail2ban-client and keeps redeemed addresses in a jail.d drop-in.
type Fail2ban struct{ opts Fail2banOptions }

// NewFail2ban returns the fail2ban backend.
func NewFail2ban(opts Fail2banOptions) *Fail2ban {
	if opts.Client == "" {
		opts.Client = "fail2ban-client"
	}
	if opts.JailD == "" {
		opts.JailD = "/etc/fail2ban/jail.d"
		if opts.Config != "" {
			opts.JailD = filepath.Join(opts.Config, "jail.d")
		}
	}
	if opts.DropIn == "" {
		opts.DropIn = "tlsrpt-redeemed.local"
	}
	if opts.Run == nil {
		opts.Run = ExecRunner
	}
	return &Fail2ban{opts: opts}
}

// Name returns "fail2ban".
func (f *Fail2ban) Name() string { return "fail2ban" }

// DropInPath returns the path of the drop-in file.
func (f *Fail2ban) DropInPath() string { return filepath.Join(f.opts.JailD, f.opts.DropIn) }

// argv returns the full fail2ban-client command line for args.
func (f *Fail2ban) argv(args ...string) []string {
	argv := []string{f.opts.Client}
	if f.opts.Config != "" {
		argv = append(argv, "-c", f.opts.Config)
	}
	if f.opts.Socket != "" {
		argv = append(argv, "-s", f.opts.Socket)
	}
	return append(argv, args...)
}

func (f *Fail2ban) run(ctx context.Context, args ...string) (string, error) {
	argv := f.argv(args...)
	out, err := f.opts.Run(ctx, argv[0], argv[1:]...)
	if err != nil {
		return string(out), fmt.Errorf("fail2ban-client %s: %w", strings.Join(args, " "), err)
	}
	return string(out), nil
}

// Available checks that fail2ban-client exists and the server answers ping.
func (f *Fail2ban) Available(ctx context.Context) error {
	if _, err := exec.LookPath(f.opts.Client); err != nil {
		return fmt.Errorf("looking for %q: %w: %v", f.opts.Client, ErrUnavailable, err)
	}
	out, err := f.run(ctx, "ping")
	if err != nil {
		return fmt.Errorf("%w: %v", ErrUnavailable, err)
	}
	if !strings.Contains(out, "pong") {
		return fmt.Errorf("fail2ban-client ping answered %q: %w", strings.TrimSpace(out), ErrUnavailable)
	}
	return nil
}

// Jails returns the running jails (restricted to Options.Jails when set).
func (f *Fail2ban) Jails(ctx context.Context) ([]string, error) {
	out, err := f.run(ctx, "status")
	if err != nil {
		return nil, err
	}
	var jails []string
	for _, j := range strings.Split(fieldAfter(out, "Jail list:"), ",") {
		if j = strings.TrimSpace(j); j != "" && f.wanted(j) {
			jails = append(jails, j)
		}
	}
	return jails, nil
}

func (f *Fail2ban) wanted(jail string) bool {
	return len(f.opts.Jails) == 0 || slices.Contains(f.opts.Jails, jail)
}

// fieldAfter returns the rest of the first line of out containing label.
func fieldAfter(out, label string) string {
	for _, line := range strings.Split(out, "\n") {
		if _, rest, ok := strings.Cut(line, label); ok {
			return strings.TrimSpace(rest)
		}
	}
	return ""
}

// Banned returns the jails where ip is banned, asking "banned IP" (fail2ban
// 0.10.6/0.11.2 and later) and falling back to each jail's "status JAIL"
// Banned IP list.
func (f *Fail2ban) Banned(ctx context.Context, ip netip.Addr) ([]Ban, error) {
	ip, err := CheckAddr(ip)
	if err != nil {
		return nil, err
	}
	jails, err := f.bannedIn(ctx, ip)
	if err != nil {
		jails, err = f.bannedByStatus(ctx, ip)
		if err != nil {
			return nil, err
		}
	}
	var bans []Ban
	for _, j := range jails {
		if f.wanted(j) {
			bans = append(bans, Ban{Backend: f.Name(), Where: j, Detail: "banned in fail2ban jail " + j, IP: ip})
		}
	}
	return bans, nil
}

var quoted = regexp.MustCompile(`'([^']*)'|"([^"]*)"`)

// validJail matches the jail names the backend acts on: no spaces, and
// nothing that would change the meaning of the drop-in ([ ] % = # ;).
var validJail = regexp.MustCompile(`^[^\s\[\]%=#;]+$`)

// bannedIn parses "banned IP", which answers a Python list with one list
// of jail names per address asked: [['sshd', 'postfix']].
func (f *Fail2ban) bannedIn(ctx context.Context, ip netip.Addr) ([]string, error) {
	out, err := f.run(ctx, "banned", ip.String())
	if err != nil {
		return nil, err
	}
	out = strings.TrimSpace(out)
	if !strings.HasPrefix(out, "[") {
		return nil, fmt.Errorf("fail2ban-client banned %s: unexpected answer %q", ip, out)
	}
	var jails []string
	for _, m := range quoted.FindAllStringSubmatch(out, -1) {
		jails = append(jails, m[1]+m[2])
	}
	return jails, nil
}

func (f *Fail2ban) bannedByStatus(ctx context.Context, ip netip.Addr) ([]string, error) {
	all, err := f.Jails(ctx)
	if err != nil {
		return nil, err
	}
	var jails []string
	for _, j := range all {
		out, err := f.run(ctx, "status", j)
		if err != nil {
			return nil, err
		}
		for _, s := range strings.Fields(fieldAfter(out, "Banned IP list:")) {
			if a, err := netip.ParseAddr(s); err == nil && a.Unmap() == ip {
				jails = append(jails, j)
				break
			}
		}
	}
	return jails, nil
}

// IgnoreList returns jail's runtime ignore list ("get JAIL ignoreip").
// Entries that are host names are returned as they are.
func (f *Fail2ban) IgnoreList(ctx context.Context, jail string) ([]string, error) {
	out, err := f.run(ctx, "get", jail, "ignoreip")
	if err != nil {
		return nil, err
	}
	return parseIgnoreList(out), nil
}

// parseIgnoreList reads fail2ban-client's tree:
//
//	These IP addresses/networks are ignored:
//	|- 127.0.0.0/8
//	`- 192.0.2.200
func parseIgnoreList(out string) []string {
	var entries []string
	for _, line := range strings.Split(out, "\n") {
		line = strings.TrimSpace(line)
		for _, p := range []string{"|- ", "`- "} {
			if rest, ok := strings.CutPrefix(line, p); ok {
				entries = append(entries, strings.TrimSpace(rest))
			}
		}
	}
	return entries
}

// ignoredHow tells whether entries cover ip: exactly (an entry that is ip
// itself, as a runtime addignoreip makes) or by a wider network (which
// only the operator's configuration makes).
func ignoredHow(entries []string, ip netip.Addr) (exact, wider bool) {
	for _, e := range entries {
		if a, err := netip.ParseAddr(e); err == nil && a.Unmap() == ip {
			exact = true
			continue
		}
		if p, err := netip.ParsePrefix(e); err == nil && p.Contains(ip) {
			if p.Bits() == ip.BitLen() {
				exact = true
			} else {
				wider = true
			}
		}
	}
	return exact, wider
}

// Plan returns, for each jail where ip is banned or that the drop-in says
// keeps ip: add ip to the jail's runtime ignore list (first, so a log line
// arriving meanwhile cannot ban it again), add it to the drop-in so a
// reload or restart keeps ignoring it, then unban it. Manual bans ("set
// JAIL banip") ignore ignoreip, so a kept address banned by hand again is
// unbanned again explicitly. A jail whose configuration already ignores a
// network containing ip needs no keep steps.
func (f *Fail2ban) Plan(ctx context.Context, ip netip.Addr, bans []Ban) ([]Action, error) {
	ip, err := CheckAddr(ip)
	if err != nil {
		return nil, err
	}
	d, err := readDropIn(f.DropInPath())
	if err != nil {
		return nil, err
	}
	banned := map[string]bool{}
	for _, b := range bans {
		if b.Backend == f.Name() && b.IP == ip {
			banned[b.Where] = true
		}
	}
	jails, err := f.jailsToPlan(ctx, ip, banned, d)
	if err != nil {
		return nil, err
	}
	var acts []Action
	for _, j := range jails {
		if !validJail.MatchString(j) {
			return nil, fmt.Errorf("planning for fail2ban jail %q: %w", j, ErrForeignAction)
		}
		ja, err := f.planJail(ctx, ip, j, banned[j], d.has(j, ip))
		if err != nil {
			return nil, err
		}
		acts = append(acts, ja...)
	}
	return acts, nil
}

// jailsToPlan returns the banned jails and the running jails the drop-in
// names ip in (their runtime list may have lost it), sorted.
func (f *Fail2ban) jailsToPlan(ctx context.Context, ip netip.Addr, banned map[string]bool, d dropIn) ([]string, error) {
	set := map[string]bool{}
	for j := range banned {
		set[j] = true
	}
	if kept := d.jailsWith(ip); len(kept) > 0 {
		running, err := f.Jails(ctx)
		if err != nil {
			return nil, err
		}
		for _, j := range kept {
			if slices.Contains(running, j) {
				set[j] = true
			}
		}
	}
	jails := make([]string, 0, len(set))
	for j := range set {
		jails = append(jails, j)
	}
	slices.Sort(jails)
	return jails, nil
}

func (f *Fail2ban) planJail(ctx context.Context, ip netip.Addr, jail string, banned, inDropIn bool) ([]Action, error) {
	ignore, err := f.IgnoreList(ctx, jail)
	if err != nil {
		return nil, err
	}
	exact, wider := ignoredHow(ignore, ip)
	var acts []Action
	if !exact && !wider {
		acts = append(acts, f.execAction(KindKeep, jail, ip,
			fmt.Sprintf("fail2ban: ignore %s in jail %s now (runtime ignoreip)", ip, jail),
			"set", jail, "addignoreip", ip.String()))
	}
	if !inDropIn && !wider {
		path := f.DropInPath()
		acts = append(acts, Action{
			Backend: f.Name(), Kind: KindKeep, Target: path, IP: ip, Op: OpWrite,
			Argv:     []string{"add-ignoreip", path, jail, ip.String()},
			Describe: fmt.Sprintf("fail2ban: add %s to [%s] ignoreip in %s, so a reload keeps ignoring it", ip, jail, path),
		})
		if f.opts.Reload {
			acts = append(acts, f.execAction(KindKeep, jail, ip,
				fmt.Sprintf("fail2ban: reload jail %s to read %s", jail, path), "reload", jail))
		}
	}
	if banned {
		acts = append(acts, f.execAction(KindUnban, jail, ip,
			fmt.Sprintf("fail2ban: unban %s in jail %s", ip, jail),
			"set", jail, "unbanip", ip.String()))
	}
	return acts, nil
}

func (f *Fail2ban) execAction(kind, jail string, ip netip.Addr, describe string, args ...string) Action {
	return Action{Backend: f.Name(), Kind: kind, Target: jail, IP: ip, Op: OpExec, Argv: f.argv(args...), Describe: describe}
}

// Apply carries out an action Plan made: a fail2ban-client command, or the
// drop-in update. It refuses anything else.
func (f *Fail2ban) Apply(ctx context.Context, a Action) Result {
	if err := f.check(a); err != nil {
		return Result{Action: a, Err: err}
	}
	switch a.Op {
	case OpWrite:
		err := addToDropIn(a.Target, a.Argv[2], a.IP)
		return result(a, nil, err)
	default:
		out, err := f.opts.Run(ctx, a.Argv[0], a.Argv[1:]...)
		return result(a, out, err)
	}
}

// check accepts only the shapes of action Plan makes, for a.IP.
func (f *Fail2ban) check(a Action) error {
	ip, err := CheckAddr(a.IP)
	if err != nil {
		return err
	}
	bad := fmt.Errorf("applying %q: %w", a.Describe, ErrForeignAction)
	if a.Backend != f.Name() {
		return bad
	}
	switch a.Op {
	case OpWrite:
		if a.Target != f.DropInPath() || len(a.Argv) != 4 || a.Argv[0] != "add-ignoreip" ||
			a.Argv[1] != a.Target || !validJail.MatchString(a.Argv[2]) || a.Argv[3] != ip.String() {
			return bad
		}
		return nil
	case OpExec:
		if !validJail.MatchString(a.Target) {
			return bad
		}
		want := map[string][]string{
			"addignoreip": f.argv("set", a.Target, "addignoreip", ip.String()),
			"unbanip":     f.argv("set", a.Target, "unbanip", ip.String()),
			"reload":      f.argv("reload", a.Target),
		}
		for _, w := range want {
			if slices.Equal(a.Argv, w) {
				return nil
			}
		}
	}
	return bad
}

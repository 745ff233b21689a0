package redeem

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"

	"github.com/tlsrpt/tlsrpt/internal/pkgerr"
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
		return string(out), fmt.Errorf("fail2ban-client %s: %w", strings.Join(args, " "), logPrefixless{err})
	}
	return string(out), nil
}

// logPrefix matches the head of fail2ban-client's log lines, "2026-12-03
// 09:39:47,563 fail2ban [6851]: ERROR ", which says nothing the error
// does not.
var logPrefix = sync.OnceValue(func() *regexp.Regexp {
	return regexp.MustCompile(`\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d+ +fail2ban[\w.]* +\[\d+\]: +[A-Z]+ +`)
})

// logPrefixless is an error of fail2ban-client whose message leaves out
// the head of its log lines.
type logPrefixless struct{ err error }

func (e logPrefixless) Error() string { return logPrefix().ReplaceAllString(e.err.Error(), "") }
func (e logPrefixless) Unwrap() error { return e.err }

// Available checks that fail2ban-client exists and the server answers
// ping. A missing client matches ErrNotInstalled; a server that does not
// answer matches only ErrUnavailable.
func (f *Fail2ban) Available(ctx context.Context) error {
	if _, err := exec.LookPath(f.opts.Client); err != nil {
		return notInstalled(f.opts.Client, err, "")
	}
	out, err := f.run(ctx, "ping")
	if err != nil {
		return mark(ErrUnavailable, "%v", err)
	}
	if !strings.Contains(out, "pong") {
		return mark(ErrUnavailable, "fail2ban-client ping answered %q", strings.TrimSpace(out))
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

// Banned returns the jails where each address is banned, from one
// "banned" (fail2ban 0.10.6/0.11.2 and later: every jail's banned
// addresses), falling back to "status" and one "status JAIL" per jail:
// the number of commands depends on the jails, not on the addresses.
func (f *Fail2ban) Banned(ctx context.Context, ips []netip.Addr) []Lookup {
	ips = slices.Clone(ips)
	out := make([]Lookup, len(ips))
	read := func(int) (f2bBans, error) { return f.readBans(ctx) }
	byGroup(ips, oneGroup, read, func(b f2bBans, i int) {
		for _, j := range b.jails {
			if b.byJail[j][ips[i]] {
				out[i].Bans = append(out[i].Bans, Ban{Backend: f.Name(), Where: j, Detail: "banned in fail2ban jail " + j, IP: ips[i]})
			}
		}
	}, func(i int, err error) { out[i].Err = err })
	return out
}

// f2bBans are the addresses each jail bans, and the jails the backend
// looks at, sorted.
type f2bBans struct {
	byJail map[string]map[netip.Addr]bool
	jails  []string
}

// readBans asks fail2ban what every jail bans: with "banned", else
// through each jail's status (before 0.10.6).
func (f *Fail2ban) readBans(ctx context.Context) (f2bBans, error) {
	byJail, err := f.bannedAll(ctx)
	if err != nil {
		if byJail, err = f.bannedByStatus(ctx); err != nil {
			return f2bBans{}, err
		}
	}
	b := f2bBans{byJail: byJail}
	for j := range byJail {
		if f.wanted(j) {
			b.jails = append(b.jails, j)
		}
	}
	slices.Sort(b.jails)
	return b, nil
}

// validJail matches the jail names the backend acts on: no spaces, and
// nothing that would change the meaning of the drop-in ([ ] % = # ;).
var validJail = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`^[^\s\[\]%=#;]+$`) })

// bannedAll runs "banned" without an address, which answers a Python
// list of one dict per jail: [{'sshd': ['192.0.2.1']}, {'postfix': []}].
func (f *Fail2ban) bannedAll(ctx context.Context) (map[string]map[netip.Addr]bool, error) {
	out, err := f.run(ctx, "banned")
	if err != nil {
		return nil, err
	}
	byJail, err := parseBannedAll(out)
	if err != nil {
		return nil, fmt.Errorf("fail2ban-client banned: %w", err)
	}
	return byJail, nil
}

// bannedByStatus reads each running jail's "Banned IP list".
func (f *Fail2ban) bannedByStatus(ctx context.Context) (map[string]map[netip.Addr]bool, error) {
	all, err := f.Jails(ctx)
	if err != nil {
		return nil, err
	}
	byJail := make(map[string]map[netip.Addr]bool, len(all))
	for _, j := range all {
		out, err := f.run(ctx, "status", j)
		if err != nil {
			return nil, err
		}
		set := map[netip.Addr]bool{}
		for _, s := range strings.Fields(fieldAfter(out, "Banned IP list:")) {
			if a, err := netip.ParseAddr(s); err == nil {
				set[a.Unmap()] = true
			}
		}
		byJail[j] = set
	}
	return byJail, nil
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

// Plan returns, for each address, for each jail where it is banned or
// that the drop-in says keeps it: add it to the jail's runtime ignore list
// (first, so a log line arriving meanwhile cannot ban it again), add it to
// the drop-in so a reload or restart keeps ignoring it, then unban it.
// Manual bans ("set JAIL banip") ignore ignoreip, so a kept address banned
// by hand again is unbanned again explicitly. A jail whose configuration
// already ignores a network containing the address needs no keep steps.
//
// The drop-in is read once, the running jails are listed at most once and
// each jail's ignore list is read at most once, whatever the number of
// addresses.
func (f *Fail2ban) Plan(ctx context.Context, ips []netip.Addr, bans [][]Ban) []Steps {
	d, err := readDropIn(f.DropInPath())
	if err != nil {
		return allStepsErr(len(ips), err)
	}
	p := &f2bPlanner{f: f, d: d, ignore: map[string][]string{}, ignoreErr: map[string]error{}}
	repair := f.repairAction(ctx, d)
	out := make([]Steps, len(ips))
	for i, ip := range ips {
		var b []Ban
		if i < len(bans) {
			b = bans[i]
		}
		out[i].Actions, out[i].Err = p.plan(ctx, ip, b)
		if repair != nil && out[i].Err == nil {
			repair.IP = ip.Unmap()
			out[i].Actions = append([]Action{*repair}, out[i].Actions...)
			repair = nil
		}
	}
	return out
}

// repairAction returns the step that writes BaseDropIn when the drop-in
// holds addresses, BaseDropIn is missing and fail2ban's configuration
// test fails on known/ignoreip: the state an earlier tlsrpt, which wrote
// no BaseDropIn, left on Debian's stock configuration, where fail2ban
// can neither reload nor start. It runs the test only in that case, once
// per plan; the step goes with the first address planned.
//
// When BaseDropIn is there, it returns instead the step that removes it,
// when fail2ban's configuration test passes without it (see
// removeBaseAction).
func (f *Fail2ban) repairAction(ctx context.Context, d dropIn) *Action {
	base := f.basePath()
	if _, err := os.Lstat(base); !errors.Is(err, fs.ErrNotExist) {
		return f.removeBaseAction(ctx)
	}
	if len(d) == 0 {
		return nil
	}
	_, err := f.testConfig(ctx)
	if !errors.Is(err, ErrConfigTest) || !strings.Contains(err.Error(), "'known/ignoreip'") {
		return nil
	}
	return &Action{
		Backend: f.Name(), Kind: KindKeep, Target: base, Op: OpWrite,
		Argv:     []string{"write-default-ignoreip", base},
		Describe: fmt.Sprintf("write %s, an empty [DEFAULT] ignoreip: without it fail2ban refuses %s (fail2ban-client -t: %%(known/ignoreip)s has no value), and can neither reload nor start", base, f.DropInPath()),
	}
}

// removeBaseAction returns the step that removes BaseDropIn when
// fail2ban's configuration test passes with it moved aside: an ignoreip
// is now set in [DEFAULT] elsewhere (by the operator, maybe in jail.conf
// or a jail.d/*.conf file read before it, whose value the file's empty
// one would replace), or nothing needs one any more. The file is put back
// right after the test, whatever its result; nil when it is needed still,
// or when nothing can be tested.
func (f *Fail2ban) removeBaseAction(ctx context.Context) *Action {
	if _, ok := f.configDir(); !ok {
		return nil
	}
	base := f.basePath()
	if _, err := f.testWithoutBase(ctx, false); err != nil {
		return nil
	}
	return &Action{
		Backend: f.Name(), Kind: KindKeep, Target: base, Op: OpWrite,
		Argv:     []string{"remove-default-ignoreip", base},
		Describe: fmt.Sprintf("remove %s, an empty [DEFAULT] ignoreip no longer needed (fail2ban-client -t passes without it): left, it would replace an ignoreip set in jail.conf or a jail.d/*.conf read before it", base),
	}
}

// testWithoutBase runs fail2ban's configuration test with BaseDropIn
// renamed to a hidden name in the same directory, which fail2ban does not
// read. When the test fails, or remove is false, the file is renamed
// back (the same file: bytes, mode and owner); when it passes and remove
// is true, the file is removed. A test that fails matches ErrConfigTest.
func (f *Fail2ban) testWithoutBase(ctx context.Context, remove bool) (string, error) {
	base := f.basePath()
	aside := filepath.Join(filepath.Dir(base), "."+BaseDropIn+".aside")
	if err := os.Rename(base, aside); err != nil {
		return "", fmt.Errorf("moving %q aside: %w", base, err)
	}
	out, err := f.testConfig(ctx)
	if err == nil && remove {
		if rerr := os.Remove(aside); rerr != nil {
			err = fmt.Errorf("removing %q: %w", aside, rerr)
		} else {
			return out + "; removed " + base, nil
		}
	}
	if rerr := os.Rename(aside, base); rerr != nil {
		return "", fmt.Errorf("putting %q back from %q: %w", base, aside, rerr)
	}
	if err != nil && remove {
		return "", fmt.Errorf("%w; undone: restored %s", err, base)
	}
	return out, err
}

// basePath returns the path of BaseDropIn, next to the drop-in.
func (f *Fail2ban) basePath() string { return filepath.Join(f.opts.JailD, BaseDropIn) }

// f2bPlanner holds what one Plan call has read, so each is read once.
type f2bPlanner struct {
	f          *Fail2ban
	d          dropIn
	running    []string
	runningErr error
	runningOK  bool
	ignore     map[string][]string
	ignoreErr  map[string]error
}

func (p *f2bPlanner) jails(ctx context.Context) ([]string, error) {
	if !p.runningOK {
		p.running, p.runningErr = p.f.Jails(ctx)
		p.runningOK = true
	}
	return p.running, p.runningErr
}

func (p *f2bPlanner) ignoreList(ctx context.Context, jail string) ([]string, error) {
	if l, ok := p.ignore[jail]; ok {
		return l, p.ignoreErr[jail]
	}
	l, err := p.f.IgnoreList(ctx, jail)
	p.ignore[jail], p.ignoreErr[jail] = l, err
	return l, err
}

func (p *f2bPlanner) plan(ctx context.Context, ip netip.Addr, bans []Ban) ([]Action, error) {
	ip, err := CheckAddr(ip)
	if err != nil {
		return nil, err
	}
	banned := map[string]bool{}
	for _, b := range bans {
		if b.Backend == p.f.Name() && b.IP == ip {
			banned[b.Where] = true
		}
	}
	jails, err := p.jailsToPlan(ctx, ip, banned)
	if err != nil {
		return nil, err
	}
	var acts []Action
	for _, j := range jails {
		if !validJail().MatchString(j) {
			return nil, mark(ErrForeignAction, "refusing to plan for fail2ban jail %q: its name would break the drop-in", j)
		}
		ignore, err := p.ignoreList(ctx, j)
		if err != nil {
			return nil, err
		}
		acts = append(acts, p.f.planJail(ip, j, banned[j], p.d.has(j, ip), ignore)...)
	}
	return acts, nil
}

// jailsToPlan returns the banned jails and the running jails the drop-in
// names ip in (their runtime list may have lost it), sorted.
func (p *f2bPlanner) jailsToPlan(ctx context.Context, ip netip.Addr, banned map[string]bool) ([]string, error) {
	set := map[string]bool{}
	for j := range banned {
		set[j] = true
	}
	if kept := p.d.jailsWith(ip); len(kept) > 0 {
		running, err := p.jails(ctx)
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

func (f *Fail2ban) planJail(ip netip.Addr, jail string, banned, inDropIn bool, ignore []string) []Action {
	exact, wider := ignoredHow(ignore, ip)
	var acts []Action
	if !exact && !wider {
		acts = append(acts, f.execAction(KindKeep, jail, ip,
			fmt.Sprintf("ignore %s in jail %s now (runtime ignoreip)", ip, jail),
			"set", jail, "addignoreip", ip.String()))
	}
	if !inDropIn && !wider {
		path := f.DropInPath()
		acts = append(acts, Action{
			Backend: f.Name(), Kind: KindKeep, Target: path, IP: ip, Op: OpWrite,
			Argv:     []string{"add-ignoreip", path, jail, ip.String()},
			Describe: fmt.Sprintf("add %s to [%s] ignoreip in %s, so a reload keeps ignoring it", ip, jail, path),
		})
		if f.opts.Reload {
			acts = append(acts, f.execAction(KindKeep, jail, ip,
				fmt.Sprintf("reload jail %s to read %s", jail, path), "reload", jail))
		}
	}
	if banned {
		acts = append(acts, f.execAction(KindUnban, jail, ip,
			fmt.Sprintf("unban %s in jail %s", ip, jail),
			"set", jail, "unbanip", ip.String()))
	}
	return acts
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
		if a.Argv[0] == "write-default-ignoreip" {
			out, err := f.writeBase(ctx)
			return result(a, []byte(out), err)
		}
		if a.Argv[0] == "remove-default-ignoreip" {
			out, err := f.removeBase(ctx)
			return result(a, []byte(out), err)
		}
		out, err := f.writeDropIn(ctx, a.Target, a.Argv[2], a.IP)
		return result(a, []byte(out), err)
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
	bad := mark(ErrForeignAction, "refusing to apply %q: not an action fail2ban planned", a.Describe)
	if a.Backend != f.Name() {
		return bad
	}
	switch a.Op {
	case OpWrite:
		for _, op := range []string{"write-default-ignoreip", "remove-default-ignoreip"} {
			if slices.Equal(a.Argv, []string{op, f.basePath()}) && a.Target == f.basePath() {
				return nil
			}
		}
		if a.Target != f.DropInPath() || len(a.Argv) != 4 || a.Argv[0] != "add-ignoreip" ||
			a.Argv[1] != a.Target || !validJail().MatchString(a.Argv[2]) || a.Argv[3] != ip.String() {
			return bad
		}
		return nil
	case OpExec:
		if !validJail().MatchString(a.Target) {
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

// ErrConfigTest reports that fail2ban's own configuration test
// (fail2ban-client -t) failed once the drop-in was written; the drop-in
// was then undone.
var ErrConfigTest = pkgerr.New("redeem", "fail2ban configuration test failed")

// writeDropIn adds ip to jail's list in the drop-in at path, then runs
// fail2ban's configuration test on the configuration that reads it. When
// the test fails and BaseDropIn is missing, it writes BaseDropIn and tests
// again: that file only gives [DEFAULT] an empty ignoreip, so it can only
// make the test pass where nothing set ignoreip in [DEFAULT] (Debian's
// stock configuration), and there it replaces nobody's. When the test
// still fails, both files are put back as they were (the same bytes and
// mode, or no file) and the error, which matches ErrConfigTest, gives
// fail2ban's reason.
func (f *Fail2ban) writeDropIn(ctx context.Context, path, jail string, ip netip.Addr) (string, error) {
	d, err := readDropIn(path)
	if err != nil {
		return "", err
	}
	if d.has(jail, ip) {
		return "already in " + path, nil
	}
	base := f.basePath()
	saved := make([]savedFile, 0, 2)
	for _, p := range []string{path, base} {
		sf, err := saveFile(p)
		if err != nil {
			return "", err
		}
		saved = append(saved, sf)
	}
	out := ""
	if err = addToDropIn(path, jail, ip); err == nil {
		out, err = f.testConfig(ctx)
	}
	if errors.Is(err, ErrConfigTest) && !saved[1].exists {
		if err = ensureBaseDropIn(base); err == nil {
			if out, err = f.testConfig(ctx); err == nil {
				return out + "; created " + base + ": nothing set ignoreip in [DEFAULT]", nil
			}
		}
	}
	if err == nil {
		return out, nil
	}
	return "", undo(saved, err)
}

// writeBase writes BaseDropIn when missing and runs fail2ban's
// configuration test; when the test fails, BaseDropIn is removed again.
func (f *Fail2ban) writeBase(ctx context.Context) (string, error) {
	base := f.basePath()
	saved, err := saveFile(base)
	if err != nil {
		return "", err
	}
	if saved.exists {
		return "already there: " + base, nil
	}
	out := ""
	if err = ensureBaseDropIn(base); err == nil {
		if out, err = f.testConfig(ctx); err == nil {
			return out, nil
		}
	}
	return "", undo([]savedFile{saved}, err)
}

// removeBase removes BaseDropIn when fail2ban's configuration test passes
// without it, and puts it back when the test fails.
func (f *Fail2ban) removeBase(ctx context.Context) (string, error) {
	base := f.basePath()
	if _, err := os.Lstat(base); errors.Is(err, fs.ErrNotExist) {
		return "already gone: " + base, nil
	}
	if _, ok := f.configDir(); !ok {
		return "", fmt.Errorf("not removing %q: no fail2ban configuration is known to read it, nothing can be tested", base)
	}
	return f.testWithoutBase(ctx, true)
}

// undo restores the saved files after err and says so in the error.
func undo(saved []savedFile, err error) error {
	var done []string
	for _, s := range saved {
		now, nerr := saveFile(s.path)
		if nerr == nil && now.exists == s.exists && now.mode == s.mode && bytes.Equal(now.data, s.data) {
			continue // unchanged
		}
		if rerr := s.restore(); rerr != nil {
			return fmt.Errorf("%w; undoing it failed too: %v", err, rerr)
		}
		if s.exists {
			done = append(done, "restored "+s.path)
		} else {
			done = append(done, "removed "+s.path)
		}
	}
	if len(done) == 0 {
		return err
	}
	return fmt.Errorf("%w; undone: %s", err, strings.Join(done, ", "))
}

// configDir returns the configuration directory that reads the drop-in,
// which fail2ban's configuration test checks: Config when given, else
// the parent of the drop-in's directory when that is a jail.d. ok is
// false when the drop-in's directory is not a jail.d and no Config was
// given: no configuration is known to read it.
func (f *Fail2ban) configDir() (dir string, ok bool) {
	if f.opts.Config != "" {
		return f.opts.Config, true
	}
	if filepath.Base(f.opts.JailD) == "jail.d" {
		return filepath.Dir(f.opts.JailD), true
	}
	return "", false
}

// testConfig runs fail2ban-client -c DIR -t on configDir.
func (f *Fail2ban) testConfig(ctx context.Context) (string, error) {
	dir, ok := f.configDir()
	if !ok {
		return "configuration not tested: " + f.opts.JailD + " is not a jail.d directory and no configuration directory was given", nil
	}
	argv := []string{"-c", dir, "-t"}
	if _, err := f.opts.Run(ctx, f.opts.Client, argv...); err != nil {
		return "", mark(ErrConfigTest, "%s %s fails after the change: %s",
			f.opts.Client, strings.Join(argv, " "), configTestReason(err.Error()))
	}
	return "configuration test passed (" + f.opts.Client + " " + strings.Join(argv, " ") + ")", nil
}

// configTestReason picks fail2ban's reason out of the error of a failed
// fail2ban-client -t, whose log lines ExecRunner joins with "; ": the
// text after "Failed during configuration:" (without the raw value that
// ends a "Bad value substitution"), else the first ERROR line that is not
// the closing "test configuration failed", else msg whole.
func configTestReason(msg string) string {
	if _, r, ok := strings.Cut(msg, "Failed during configuration:"); ok {
		r, _, _ = strings.Cut(r, "; ")
		r, _, _ = strings.Cut(r, " Raw value: ")
		return strings.TrimSpace(r)
	}
	for _, part := range strings.Split(msg, "; ") {
		if _, r, ok := strings.Cut(part, "ERROR"); ok && !strings.Contains(r, "test configuration failed") {
			return strings.TrimSpace(r)
		}
	}
	return msg
}

package redeem

import (
	"bytes"
	"context"
	"fmt"
	"net/netip"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"
)

// DefaultIPQBDBThreshold is the probability above which an ipqbdb block
// record counts as a ban when IPQBDBOptions.Threshold is 0: 1%. A new
// record banned with an initial count of 5 starts at 1/32, about 3%
// ("doubling it for that many times results in a probability of 100%",
// README), and falls below 1% after two decay periods.
const DefaultIPQBDBThreshold = 0.01

// DefaultIPQBDBRetryWait is how long the ipqbdb backend waits before
// running a failed command again when IPQBDBOptions.RetryWait is 0. Since
// 2.03, ibd-del and ibd-ban "just fail their current task" while a
// recovery runs, during which the daemons "sleep for one second"
// (release-notes.2.03.txt).
const DefaultIPQBDBRetryWait = 2 * time.Second

// ipqbdbRunning serializes every ipqbdb command of the process: ipqbdb's
// Berkeley DB Concurrent Data Store has a single writer, ibd-judge updates
// records in non-locked mode and "ibd-del may delete those records"
// (READMEconcurrency).
var ipqbdbRunning sync.Mutex

// IPQBDBOptions configures the ipqbdb backend. The zero value runs the
// built-in command lines (contrib/ipqbdb/commands.conf) with programs
// from $PATH, counts records above 1% as bans, probes the tools' --help
// and retries a failed command once after 2 s.
type IPQBDBOptions struct {
	BinDir   string          // directory of the programs named without a path; default: $PATH
	Commands *IPQBDBCommands // the command lines; default DefaultIPQBDBCommands()
	// Threshold is the probability (a fraction, 0 < Threshold <= 1)
	// above which a block record counts as a ban; 0 means
	// DefaultIPQBDBThreshold.
	Threshold float64
	// NoProbe skips the --help probe. Unsafe: the command lines are then
	// run unchecked against tools whose options may differ.
	NoProbe   bool
	RetryWait time.Duration // wait before the one retry; default DefaultIPQBDBRetryWait
	Run       Runner        // default ExecRunner
}

// IPQBDB is the ipqbdb backend (https://www.tana.it/sw/ipqbdb/, by
// Alessandro Vesely). It runs the four command lines of its commands
// file: list-blocked and list-kept once per plan or status, unban and
// keep per address. Before any of them, Prepare runs each program's
// --help once and refuses to go on when an option the lines use is not
// listed. Every command runs alone in the process and, when it fails, once
// more after RetryWait.
//
// A block record counts as a ban when its probability is above the
// threshold; the keep action (whitelisting) is soft: ipqbdb can still ban
// a whitelisted address, more slowly.
type IPQBDB struct {
	opts IPQBDBOptions

	mu       sync.Mutex
	prepared bool
	probe    []string // the probe's lines for the plan
	probeErr error
	retries  []string // commands that failed once and were retried
}

// NewIPQBDB returns the ipqbdb backend.
func NewIPQBDB(opts IPQBDBOptions) *IPQBDB {
	if opts.Commands == nil {
		opts.Commands = DefaultIPQBDBCommands()
	}
	if opts.Threshold <= 0 || opts.Threshold > 1 {
		opts.Threshold = DefaultIPQBDBThreshold
	}
	if opts.RetryWait <= 0 {
		opts.RetryWait = DefaultIPQBDBRetryWait
	}
	if opts.Run == nil {
		opts.Run = ExecRunner
	}
	return &IPQBDB{opts: opts}
}

// Name returns "ipqbdb".
func (q *IPQBDB) Name() string { return "ipqbdb" }

// Commands returns the command lines the backend runs.
func (q *IPQBDB) Commands() *IPQBDBCommands { return q.opts.Commands }

// program returns the path the command's program runs from.
func (q *IPQBDB) program(c IPQBDBCommand) string {
	if q.opts.BinDir == "" || strings.Contains(c.Program, "/") {
		return c.Program
	}
	return filepath.Join(q.opts.BinDir, c.Program)
}

// argv returns the full command line of c for ip (ip unused by listings).
func (q *IPQBDB) argv(c IPQBDBCommand, ip netip.Addr) []string {
	return append([]string{q.program(c)}, c.Expand(ip)...)
}

// programs returns the distinct programs of the commands, in order.
func (q *IPQBDB) programs() []string {
	var out []string
	for _, c := range q.opts.Commands.All() {
		if p := q.program(c); !slices.Contains(out, p) {
			out = append(out, p)
		}
	}
	return out
}

// Available checks that every program of the command lines can be found;
// a missing one matches ErrNotInstalled.
func (q *IPQBDB) Available(ctx context.Context) error {
	for _, p := range q.programs() {
		if _, err := exec.LookPath(p); err != nil {
			return notInstalled(p, err, ", named in %s", q.opts.Commands.Source)
		}
	}
	return nil
}

// run runs argv alone in the process; when it fails, it waits RetryWait
// and runs it once more. It returns the last output, the number of runs
// and, when it retried, the first failure.
func (q *IPQBDB) run(ctx context.Context, argv []string) (out []byte, attempts int, first error, err error) {
	out, err = q.runOnce(ctx, argv)
	if err == nil || ctx.Err() != nil {
		return out, 1, nil, err
	}
	first = err
	t := time.NewTimer(q.opts.RetryWait)
	select {
	case <-ctx.Done():
		t.Stop()
		return out, 1, nil, err
	case <-t.C:
	}
	out, err = q.runOnce(ctx, argv)
	return out, 2, first, err
}

func (q *IPQBDB) runOnce(ctx context.Context, argv []string) ([]byte, error) {
	ipqbdbRunning.Lock()
	defer ipqbdbRunning.Unlock()
	return q.opts.Run(ctx, argv[0], argv[1:]...)
}

// runListing runs a listing command and notes a retry.
func (q *IPQBDB) runListing(ctx context.Context, c IPQBDBCommand) ([]byte, error) {
	argv := q.argv(c, netip.Addr{})
	out, attempts, first, err := q.run(ctx, argv)
	if attempts > 1 {
		q.note(fmt.Sprintf("%s (%s) failed once and was run again after %s: %v", c.Name, strings.Join(argv, " "), q.opts.RetryWait, first))
	}
	if err != nil {
		return nil, fmt.Errorf("%s (%s): %w", c.Name, strings.Join(argv, " "), err)
	}
	return out, nil
}

func (q *IPQBDB) note(s string) {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.retries = append(q.retries, s)
}

// Prepare probes the tools once: each program's --help must list every
// option the command lines give it. It returns the probe's result for the
// plan; on failure, a *ProbeError (matching ErrProbe), and the backend
// runs nothing else. Later calls return the first result.
func (q *IPQBDB) Prepare(ctx context.Context) ([]string, error) {
	q.mu.Lock()
	defer q.mu.Unlock()
	if !q.prepared {
		q.probe, q.probeErr = q.runProbe(ctx)
		q.prepared = true
	}
	return slices.Clone(q.probe), q.probeErr
}

func (q *IPQBDB) runProbe(ctx context.Context) ([]string, error) {
	cs := q.opts.Commands
	lines := []string{"command lines from " + cs.Source}
	if q.opts.NoProbe {
		return append(lines, "probe skipped (--ipqbdb-no-probe): UNSAFE, the command lines were not checked against the installed tools' --help"), nil
	}
	perr := &ProbeError{Source: cs.Source}
	for _, p := range q.programs() {
		out, _, _, err := q.run(ctx, []string{p, "--help"})
		if err != nil {
			perr.NoHelp = append(perr.NoHelp, HelpFailure{Program: p, Err: err})
			continue
		}
		listed := helpOptions(string(out))
		var used []string
		for _, c := range cs.All() {
			if q.program(c) != p {
				continue
			}
			for _, o := range c.Options() {
				takesArg, ok := listed[o]
				switch {
				case !ok:
					perr.Missing = append(perr.Missing, MissingOption{Program: p, Option: o, Command: c.Name, Source: c.Source})
				case !takesArg && slices.Contains(c.ipOptions(), o):
					perr.Missing = append(perr.Missing, MissingOption{Program: p, Option: o, Command: c.Name, Source: c.Source, NoArg: true})
				case !slices.Contains(used, o):
					used = append(used, o)
				}
			}
		}
		if len(used) == 0 {
			lines = append(lines, fmt.Sprintf("probe: ran %s --help; the command lines give it no option", p))
		} else {
			lines = append(lines, fmt.Sprintf("probe: %s --help lists %s", p, strings.Join(used, ", ")))
		}
	}
	if len(perr.Missing) > 0 || len(perr.NoHelp) > 0 {
		return lines, perr
	}
	return append(lines, "probe: every option the command lines use is listed by the installed tools"), nil
}

// Notes returns what people reading a plan should know about ipqbdb: what
// counts as a ban, that its keep is soft, and the commands that failed
// once and were run again.
func (q *IPQBDB) Notes() []string {
	q.mu.Lock()
	defer q.mu.Unlock()
	notes := []string{
		fmt.Sprintf("banned means a block record whose probability is above %s (--ipqbdb-threshold); a record is not a block: its probability halves with every decay period", percent(q.opts.Threshold)),
		"keep is soft: whitelisting only sets the address's initial decay (README: \"whitelist IP addresses in order to establish their initial decay\"); ipqbdb can still ban it, more slowly. fail2ban's ignoreip and the iptables ACCEPT rule are hard keeps",
	}
	return append(notes, q.retries...)
}

func percent(p float64) string {
	return strings.TrimSuffix(strings.TrimRight(fmt.Sprintf("%.4f", p*100), "0"), ".") + "%"
}

// refuseIPv6 returns the error for an IPv6 address a command is not
// declared to take.
func refuseIPv6(c IPQBDBCommand) error {
	return mark(ErrIPv6Refused, "refusing the IPv6 address: the %s command (%s) is not declared to take IPv6 addresses; add the ipv6 flag to that line once your ipqbdb does (2.x keeps IPv6 ranges, READMEipv6)", c.Name, c.Source)
}

// Banned reads list-blocked once and returns, for each address, the block
// records holding it whose probability is above the threshold. IPv6
// addresses get ErrIPv6Refused unless list-blocked has the ipv6 flag. The
// probe runs first when it has not; when it fails, nothing else runs.
func (q *IPQBDB) Banned(ctx context.Context, ips []netip.Addr) []Lookup {
	ips = slices.Clone(ips)
	out := make([]Lookup, len(ips))
	lb := q.opts.Commands.ListBlocked
	listable := func(ip netip.Addr) (int, error) {
		if ip.Is6() && !lb.IPv6 {
			return 0, refuseIPv6(lb)
		}
		return 0, nil
	}
	read := func(int) (*ipqbdbIndex, error) { return q.prepareAndRead(ctx, lb) }
	byGroup(ips, listable, read, func(idx *ipqbdbIndex, i int) {
		for _, r := range idx.holding(ips[i]) {
			if r.Prob > q.opts.Threshold {
				out[i].Bans = append(out[i].Bans, q.ban(ips[i], r))
			}
		}
	}, func(i int, err error) { out[i].Err = err })
	return out
}

// prepareAndRead probes the tools (once) and reads a listing.
func (q *IPQBDB) prepareAndRead(ctx context.Context, c IPQBDBCommand) (*ipqbdbIndex, error) {
	if _, err := q.Prepare(ctx); err != nil {
		return nil, err
	}
	return q.readListing(ctx, c)
}

func (q *IPQBDB) ban(ip netip.Addr, r ipqbdbRecord) Ban {
	where := fmt.Sprintf("block record %s (probability %s)", r.Prefix.Addr(), percent(r.Prob))
	if !r.host() {
		where = fmt.Sprintf("block record for the range %s (probability %s)", r.Prefix, percent(r.Prob))
	}
	return Ban{Backend: q.Name(), Where: where, Detail: r.Line, IP: ip}
}

func (q *IPQBDB) readListing(ctx context.Context, c IPQBDBCommand) (*ipqbdbIndex, error) {
	out, err := q.runListing(ctx, c)
	if err != nil {
		return nil, err
	}
	recs, err := parseIPQBDBListing(bytes.NewReader(out), c)
	if err != nil {
		return nil, err
	}
	return indexRecords(recs), nil
}

// Plan returns, for each address with a ban here: whitelist it unless
// list-kept has it already (first, so that ibd-parse meanwhile bans it
// more slowly), then delete its block record. list-kept runs once, and
// only when an address is banned. An address banned through a range
// record is refused: deleting the record would unban the whole range. An
// IPv6 address is refused unless unban and keep have the ipv6 flag.
func (q *IPQBDB) Plan(ctx context.Context, ips []netip.Addr, bans [][]Ban) []Steps {
	ips = slices.Clone(ips)
	out := make([]Steps, len(ips))
	cs := q.opts.Commands
	var todo []int
	for i, ip := range ips {
		c, err := CheckAddr(ip)
		if err != nil {
			out[i].Err = err
			continue
		}
		ips[i] = c
		var mine []Ban
		if i < len(bans) {
			for _, b := range bans[i] {
				if b.Backend == q.Name() && b.IP == c {
					mine = append(mine, b)
				}
			}
		}
		if len(mine) == 0 {
			continue // neither banned here nor needing a keep
		}
		if err := q.refusePlan(c, mine); err != nil {
			out[i].Err = err
			continue
		}
		todo = append(todo, i)
	}
	if len(todo) == 0 {
		return out
	}
	var kept *ipqbdbIndex
	needKept := false
	for _, i := range todo {
		needKept = needKept || ips[i].Is4() || cs.ListKept.IPv6
	}
	if needKept {
		var err error
		if kept, err = q.prepareAndRead(ctx, cs.ListKept); err != nil {
			for _, i := range todo {
				out[i].Err = err
			}
			return out
		}
	}
	for _, i := range todo {
		ip := ips[i]
		isKept := kept != nil && (ip.Is4() || cs.ListKept.IPv6) && len(kept.holding(ip)) > 0
		if !isKept {
			out[i].Actions = append(out[i].Actions, q.action(KindKeep, cs.Keep, ip,
				fmt.Sprintf("whitelist %s (a soft keep: ipqbdb sets its initial decay and can still ban it, more slowly)", ip)))
		}
		out[i].Actions = append(out[i].Actions, q.action(KindUnban, cs.Unban, ip,
			fmt.Sprintf("delete the block record of %s", ip)))
	}
	return out
}

// refusePlan returns why ip's bans cannot be undone by the command lines.
func (q *IPQBDB) refusePlan(ip netip.Addr, bans []Ban) error {
	cs := q.opts.Commands
	if ip.Is6() {
		for _, c := range []IPQBDBCommand{cs.Keep, cs.Unban} {
			if !c.IPv6 {
				return refuseIPv6(c)
			}
		}
	}
	for _, b := range bans {
		if r, err := parseIPQBDBRecord(b.Detail, cs.ListBlocked); err == nil && !r.host() {
			return fmt.Errorf("banned through the range %s: deleting that record would unban the whole range; delete it by hand if you mean to", r.Prefix)
		}
	}
	return nil
}

func (q *IPQBDB) action(kind string, c IPQBDBCommand, ip netip.Addr, describe string) Action {
	target := "ipqbdb block database"
	if kind == KindKeep {
		target = "ipqbdb whitelist"
	}
	return Action{Backend: q.Name(), Kind: kind, Target: target, IP: ip, Op: OpExec, Argv: q.argv(c, ip), Describe: describe}
}

// Apply runs an unban or keep command Plan made, alone in the process,
// and once more after RetryWait when it fails; the Result says so.
func (q *IPQBDB) Apply(ctx context.Context, a Action) Result {
	ip, err := CheckAddr(a.IP)
	if err != nil {
		return Result{Action: a, Err: err}
	}
	if !q.planned(a, ip) {
		return Result{Action: a, Err: mark(ErrForeignAction, "refusing to apply %q: not a command line ipqbdb planned", a.Describe)}
	}
	if _, err := q.Prepare(ctx); err != nil {
		return Result{Action: a, Err: fmt.Errorf("applying %q: %w", a.Describe, err)}
	}
	out, attempts, first, err := q.run(ctx, a.Argv)
	r := result(a, out, err)
	r.Attempts = attempts
	if attempts > 1 {
		second := r.Output
		if err != nil {
			second = "failed again: " + oneLine(err.Error())
		}
		r.Output = fmt.Sprintf("attempt 1 failed: %s; attempt 2 after %s: %s", oneLine(first.Error()), q.opts.RetryWait, second)
		if err != nil {
			r.Err = fmt.Errorf("applying %q: failed twice, %s apart: %w (first: %v)", a.Describe, q.opts.RetryWait, err, first)
		}
	}
	return r
}

// planned reports whether a is an unban or keep Plan would make for ip.
func (q *IPQBDB) planned(a Action, ip netip.Addr) bool {
	if a.Backend != q.Name() || a.Op != OpExec {
		return false
	}
	cs := q.opts.Commands
	var c IPQBDBCommand
	switch a.Kind {
	case KindUnban:
		c = cs.Unban
	case KindKeep:
		c = cs.Keep
	default:
		return false
	}
	return (ip.Is4() || c.IPv6) && slices.Equal(a.Argv, q.argv(c, ip))
}

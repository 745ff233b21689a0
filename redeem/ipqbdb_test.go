package redeem

import (
	"bytes"
	"context"
	"errors"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

// The two sets of ipqbdb stand-ins: the built-in command lines' spelling,
// and another one with its own commands file.
var (
	standinDir, _    = filepath.Abs("../contrib/ipqbdb-standin")
	altStandinDir, _ = filepath.Abs("../contrib/ipqbdb-standin-alt")
)

// standins is the state directory of the stand-ins for one test.
type standins struct {
	t     *testing.T
	state string
}

func newStandins(t *testing.T) *standins {
	t.Helper()
	s := &standins{t: t, state: t.TempDir()}
	t.Setenv("IPQBDB_STANDIN_DIR", s.state)
	return s
}

// run runs a stand-in and returns its stdout, stderr and exit code.
func (s *standins) run(dir, tool string, args ...string) (stdout, stderr string, code int) {
	s.t.Helper()
	cmd := exec.Command(filepath.Join(dir, tool), args...)
	var o, e bytes.Buffer
	cmd.Stdout, cmd.Stderr = &o, &e
	err := cmd.Run()
	var ee *exec.ExitError
	switch {
	case errors.As(err, &ee):
		code = ee.ExitCode()
	case err != nil:
		s.t.Fatalf("running %s: %v", tool, err)
	}
	return o.String(), e.String(), code
}

// ban bans with the stand-in ibd-ban.
func (s *standins) ban(args ...string) {
	s.t.Helper()
	if out, errOut, code := s.run(standinDir, "ibd-ban", args...); code != 0 {
		s.t.Fatalf("ibd-ban %v: exit %d: %s%s", args, code, out, errOut)
	}
}

// calls returns the calls.log lines other than ibd-ban's.
func (s *standins) calls() []string {
	s.t.Helper()
	data, err := os.ReadFile(filepath.Join(s.state, "calls.log"))
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		s.t.Fatal(err)
	}
	var out []string
	for _, l := range strings.Split(strings.TrimSpace(string(data)), "\n") {
		if l != "" && !strings.HasPrefix(l, "ibd-ban ") {
			out = append(out, l)
		}
	}
	return out
}

func (s *standins) file(name string) string {
	data, _ := os.ReadFile(filepath.Join(s.state, name))
	return string(data)
}

// recorder is a Runner that runs the programs and records each argv
// exactly, element by element.
type recorder struct {
	mu   sync.Mutex
	runs [][]string
}

func (r *recorder) Run(ctx context.Context, name string, args ...string) ([]byte, error) {
	r.mu.Lock()
	r.runs = append(r.runs, append([]string{name}, args...))
	r.mu.Unlock()
	return ExecRunner(ctx, name, args...)
}

func (r *recorder) argvs() [][]string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.runs)
}

func equalArgvs(got, want [][]string) bool {
	return slices.EqualFunc(got, want, func(a, b []string) bool { return slices.Equal(a, b) })
}

func addrs(ss ...string) []netip.Addr {
	out := make([]netip.Addr, len(ss))
	for i, s := range ss {
		out[i] = netip.MustParseAddr(s)
	}
	return out
}

func TestIPQBDBDefaultCommands(t *testing.T) {
	cs := DefaultIPQBDBCommands()
	if cs.Source != DefaultIPQBDBCommandsName {
		t.Errorf("Source = %q", cs.Source)
	}
	for _, c := range []struct {
		got       IPQBDBCommand
		program   string
		args      []string
		ipv6      bool
		addr, prb int
	}{
		{cs.ListBlocked, "ibd-del", []string{"--list"}, true, 1, 2},
		{cs.Unban, "ibd-del", []string{"-i", "<ip>"}, false, 0, 0},
		{cs.Keep, "ibd-white", []string{"-i", "<ip>"}, false, 0, 0},
		{cs.ListKept, "ibd-white", []string{"--list"}, false, 1, 0},
	} {
		g := c.got
		if g.Program != c.program || !slices.Equal(g.Args, c.args) || g.IPv6 != c.ipv6 || g.AddrField != c.addr || g.ProbField != c.prb {
			t.Errorf("%s = %+v", g.Name, g)
		}
	}
	// The shipped file and the embedded copy are the same file.
	shipped, err := os.ReadFile("../contrib/ipqbdb/commands.conf")
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(shipped, defaultIPQBDBCommands) {
		t.Fatal("contrib/ipqbdb/commands.conf and redeem/ipqbdb_commands.conf differ: copy the first over the second")
	}
	// Every command line says what is verified and what is not, in the
	// comment block just above it.
	lines := strings.Split(string(shipped), "\n")
	for i, l := range lines {
		c, ok, err := parseCommandLine(l)
		if err != nil || !ok {
			continue
		}
		var block []string
		for j := i - 1; j >= 0 && strings.HasPrefix(lines[j], "#"); j-- {
			block = append(block, lines[j])
		}
		text := strings.Join(block, "\n")
		if !strings.Contains(text, "#   verified:") || !strings.Contains(text, "#   NOT verified:") {
			t.Errorf("line %d (%s) has no verified/NOT verified comment above it", i+1, c.Name)
		}
	}
}

func TestParseIPQBDBCommandsForms(t *testing.T) {
	in := "# comment\n\n" +
		"list-blocked ipv6 prob=4 addr=2 = /opt/ipqbdb/bin/ibd-del --dump # trailing comment\n" +
		"unban\tipv6\t=\tibd-del --remove --ip-addr=<ip>\n" +
		"  keep = ibd-white -v -- <ip>\n" +
		"list-kept = ibd-white --dump --min-count -1\n"
	cs, err := ParseIPQBDBCommands(strings.NewReader(in), "x.conf")
	if err != nil {
		t.Fatal(err)
	}
	lb := cs.ListBlocked
	if lb.Program != "/opt/ipqbdb/bin/ibd-del" || !slices.Equal(lb.Args, []string{"--dump"}) || !lb.IPv6 ||
		lb.AddrField != 2 || lb.ProbField != 4 || lb.Source != "x.conf:3" {
		t.Errorf("list-blocked = %+v", lb)
	}
	ip := netip.MustParseAddr("2001:db8::1")
	if got := cs.Unban.Expand(ip); !slices.Equal(got, []string{"--remove", "--ip-addr=2001:db8::1"}) || !cs.Unban.IPv6 {
		t.Errorf("unban expands to %q", got)
	}
	if got := cs.Keep.Expand(ip); !slices.Equal(got, []string{"-v", "--", "2001:db8::1"}) {
		t.Errorf("keep expands to %q", got)
	}
	if got := cs.Keep.Options(); !slices.Equal(got, []string{"-v"}) {
		t.Errorf("keep options %q (nothing after --)", got)
	}
	if got := cs.ListKept.Options(); !slices.Equal(got, []string{"--dump", "--min-count"}) {
		t.Errorf("list-kept options %q (-1 is a number)", got)
	}
	if got := cs.Unban.Options(); !slices.Equal(got, []string{"--remove", "--ip-addr"}) {
		t.Errorf("unban options %q", got)
	}
}

func TestParseIPQBDBCommandsErrors(t *testing.T) {
	const ok = "list-blocked = ibd-del --list\nunban = ibd-del -i <ip>\nkeep = ibd-white -i <ip>\nlist-kept = ibd-white --list\n"
	for _, c := range []struct{ in, want string }{
		{"lists-blocked = ibd-del --list\n", `f:1: unknown command "lists-blocked" (want list-blocked, unban, keep or list-kept)`},
		{"unban = ibd-del -i\n", `f:1: unban needs <ip> standing for the address`},
		{"keep = ibd-white\n", `f:1: keep needs <ip> standing for the address`},
		{"list-blocked = ibd-del --list <ip>\n", `f:1: list-blocked lists every record: <ip> has no place in it`},
		{"unban =\n", `f:1: unban has an empty program`},
		{"unban = \t # nothing\n", `f:1: unban has an empty program`},
		{"unban ibd-del -i <ip>\n", `f:1: no " = " between the name and the program (want NAME [FLAG...] = PROGRAM [ARG...])`},
		{"unban=ibd-del -i <ip>\n", `f:1: no " = " between the name and the program (want NAME [FLAG...] = PROGRAM [ARG...])`},
		{"= ibd-del\n", `f:1: no command name before "="`},
		{"unban = <ip> -i\n", `f:1: unban: program "<ip>" holds a placeholder`},
		{"unban = -i <ip>\n", `f:1: unban: program "-i" looks like an option`},
		{"unban = bin/ibd-del -i <ip>\n", `f:1: unban: program "bin/ibd-del" is neither a name nor an absolute path`},
		{"unban = ibd-del -i <IP>\n", `f:1: unban: unknown placeholder "<IP>" (only <ip> stands for the address)`},
		{"unban = ibd-del -i <addr>\n", `f:1: unban: unknown placeholder "<addr>" (only <ip> stands for the address)`},
		{"unban = ibd-del -i<ip>\n", `f:1: unban: "-i<ip>": <ip> must be a whole argument or follow "=" in --option=<ip>`},
		{"unban = ibd-del --ip=x<ip>\n", `f:1: unban: "--ip=x<ip>": <ip> must be a whole argument or follow "=" in --option=<ip>`},
		{"unban = ibd-del <ip>=<ip>\n", `f:1: unban: "<ip>=<ip>": <ip> must be a whole argument or follow "=" in --option=<ip>`},
		{"unban = ibd-del -i <ip> -j <ip>\n", `f:1: unban has <ip> 2 times; give it once`},
		{"unban = ibd-del -iv <ip>\n", `f:1: unban: "-iv": write short options one to an argument (-i <ip>, not -i<ip> or -iv), so the probe can check each`},
		{"unban = ibd-del --a!b <ip>\n", `f:1: unban: "--a!b" is not an option name`},
		{"unban ipv4 = ibd-del -i <ip>\n", `f:1: unknown flag "ipv4" (want ipv6, addr=N or prob=N)`},
		{"unban prob=2 = ibd-del -i <ip>\n", `f:1: flag "prob=2" does not apply to unban`},
		{"list-kept prob=2 = ibd-white --list\n", `f:1: flag "prob=2" does not apply to list-kept`},
		{"list-blocked addr=0 = ibd-del --list\n", `f:1: flag "addr=0": want a field number from 1 to 64`},
		{"list-blocked addr=x = ibd-del --list\n", `f:1: flag "addr=x": want a field number from 1 to 64`},
		{"list-blocked addr=2 = ibd-del --list\n", `f:1: list-blocked: addr and prob name the same field 2`},
		{"unban = ibd-del -i <ip>\x1b[2J\n", `f:1: control character '\x1b'`},
		{"unban = ibd-del -i \xff<ip>\n", `f:1: not UTF-8`},
		{ok + "unban = ibd-del -i <ip>\n", `f:5: unban given twice (first at f:2)`},
		{"list-blocked = ibd-del --list\nunban = ibd-del -i <ip>\nkeep = ibd-white -i <ip>\n", `f:3: no list-kept line (every one of list-blocked, unban, keep and list-kept is needed)`},
		{"", `f:0: no list-blocked line (every one of list-blocked, unban, keep and list-kept is needed)`},
		{"# x\n" + strings.Repeat("a", 5000) + "\n", `f:2: bufio.Scanner: token too long (lines are at most 4096 bytes)`},
		{strings.Repeat("#\n", 40000), `f: longer than 64 KiB`},
	} {
		_, err := ParseIPQBDBCommands(strings.NewReader(c.in), "f")
		if err == nil || err.Error() != c.want || !errors.Is(err, ErrCommandsFile) {
			t.Errorf("%q:\n got  %v\n want %s", c.in, err, c.want)
		}
		if err != nil && strings.Contains(err.Error(), "redeem:") {
			t.Errorf("%q: doubled prefix in %q", c.in, err)
		}
	}
	if _, err := ParseIPQBDBCommands(strings.NewReader(ok), "f"); err != nil {
		t.Fatal(err)
	}
	if _, err := LoadIPQBDBCommands(filepath.Join(t.TempDir(), "none.conf")); !errors.Is(err, ErrCommandsFile) || !strings.Contains(err.Error(), "none.conf") {
		t.Errorf("missing file: %v", err)
	}
}

func TestIPQBDBStandinsRefuseLikePopt(t *testing.T) {
	s := newStandins(t)
	for _, c := range []struct {
		dir, tool string
		args      []string
		stderr    string
	}{
		{standinDir, "ibd-del", []string{"--bogus"}, "ibd-del: --bogus: unknown option\n"},
		{standinDir, "ibd-del", []string{"--db-path", "/x", "--list"}, "ibd-del: --db-path: unknown option\n"},
		{standinDir, "ibd-del", []string{"-x"}, "ibd-del: -x: unknown option\n"},
		{standinDir, "ibd-del", []string{"-i"}, "ibd-del: -i: missing argument\n"},
		{standinDir, "ibd-del", []string{"--dump"}, "ibd-del: --dump: unknown option\n"},
		{standinDir, "ibd-white", []string{"--add", "192.0.2.1"}, "ibd-white: --add: unknown option\n"},
		{standinDir, "ibd-ban", []string{"--ban=192.0.2.1"}, "ibd-ban: --ban: unknown option\n"},
		{altStandinDir, "ibd-del", []string{"--list"}, "ibd-del: --list: unknown option\n"},
		{altStandinDir, "ibd-del", []string{"-i", "192.0.2.1"}, "ibd-del: -i: unknown option\n"},
		{altStandinDir, "ibd-white", []string{"--list"}, "ibd-white: --list: unknown option\n"},
		{altStandinDir, "ibd-white", []string{"--add"}, "ibd-white: --add: missing argument\n"},
		// The stand-ins' own refusals (not popt's wording).
		{standinDir, "ibd-del", nil, "ibd-del: give one of --list, -i ADDR\n"},
		{standinDir, "ibd-del", []string{"-i", "2001:db8::1"}, "ibd-del: not an IPv4 address: 2001:db8::1\n"},
		{standinDir, "ibd-white", []string{"-i", "192.0.2.1; rm -rf /"}, "ibd-white: not an IPv4 address: 192.0.2.1; rm -rf /\n"},
		{standinDir, "ibd-white", []string{"192.0.2.1"}, "ibd-white: unexpected argument: 192.0.2.1\n"},
		{altStandinDir, "ibd-del", []string{"--remove", "--ip-addr=$(reboot)"}, "ibd-del: not an address: $(reboot)\n"},
	} {
		out, errOut, code := s.run(c.dir, c.tool, c.args...)
		if code != 2 || errOut != c.stderr || out != "" {
			t.Errorf("%s %s %q: exit %d, stdout %q, stderr %q; want exit 2, stderr %q",
				filepath.Base(c.dir), c.tool, c.args, code, out, errOut, c.stderr)
		}
	}
	// --help: exit 0, popt's layout, naming them stand-ins.
	for _, c := range []struct {
		dir, tool string
		want      []string
	}{
		{standinDir, "ibd-del", []string{"--help", "--ip-addr", "--list", "--usage", "-?", "-i"}},
		{standinDir, "ibd-white", []string{"--help", "--ip-addr", "--list", "--usage", "-?", "-i"}},
		{altStandinDir, "ibd-del", []string{"--dump", "--help", "--ip-addr", "--remove", "--usage", "-?"}},
		{altStandinDir, "ibd-white", []string{"--add", "--dump", "--help", "--usage", "-?", "-a"}},
	} {
		out, _, code := s.run(c.dir, c.tool, "--help")
		got := helpOptions(out)
		var names []string
		for o := range got {
			names = append(names, o)
		}
		slices.Sort(names)
		if code != 0 || !slices.Equal(names, c.want) || !strings.HasPrefix(out, "Usage: "+c.tool+" [OPTION...]\n") ||
			!strings.Contains(out, "STAND-IN") || !strings.Contains(out, "\nHelp options:\n  -?, --help ") {
			t.Errorf("%s %s --help: exit %d, options %q:\n%s", filepath.Base(c.dir), c.tool, code, names, out)
		}
	}
}

// TestIPQBDBRedeem plans and applies with the built-in command lines
// against the stand-ins that take them.
func TestIPQBDBRedeem(t *testing.T) {
	s := newStandins(t)
	ctx := t.Context()
	s.ban("-i", "192.0.2.7", "--reason=spam")         // 25%
	s.ban("-i", "192.0.2.99")                         // 25%, a bystander
	s.ban("-i", "198.51.100.1", "--initial-count=10") // 0.1%: a record, not a ban
	s.ban("-i", "2001:db8::5")                        // 25%
	s.ban("-i", "203.0.113.0/24")                     // a range
	rec := &recorder{}
	q := NewIPQBDB(IPQBDBOptions{BinDir: standinDir, Run: rec.Run, RetryWait: time.Millisecond})
	if err := q.Available(ctx); err != nil {
		t.Fatalf("Available: %v", err)
	}

	ips := addrs("192.0.2.7", "192.0.2.8", "198.51.100.1", "2001:db8::5", "203.0.113.5")
	st, err := BanStatusAll(ctx, []Backend{q}, ips)
	if err != nil {
		t.Fatal(err)
	}
	wantWhere := map[string]string{
		"192.0.2.7":   "block record 192.0.2.7 (probability 25%)",
		"2001:db8::5": "block record 2001:db8::5 (probability 25%)",
		"203.0.113.5": "block record for the range 203.0.113.0/24 (probability 25%)",
	}
	for _, ip := range ips {
		got := st[ip]
		if !got.Known() {
			t.Fatalf("%s: unknown %v", ip, got.Unknown)
		}
		w, banned := wantWhere[ip.String()]
		if banned != (len(got.Bans) == 1) || (banned && got.Bans[0].Where != w) {
			t.Errorf("status of %s = %+v, want %q", ip, got.Bans, w)
		}
	}
	if d := st[ips[0]].Bans[0].Detail; d != "192.0.2.7\t25.00%\t1\tspam" {
		t.Errorf("detail %q", d)
	}
	// A lower threshold makes the 0.1% record a ban.
	low := NewIPQBDB(IPQBDBOptions{BinDir: standinDir, Threshold: 0.0005})
	if l := low.Banned(ctx, addrs("198.51.100.1")); l[0].Err != nil || len(l[0].Bans) != 1 {
		t.Errorf("threshold 0.05%%: %+v", l)
	}

	plan, err := MakePlan(ctx, []Backend{q}, ips)
	if err != nil {
		t.Fatal(err)
	}
	bin := standinDir + "/"
	wantPlan(t, "", plan,
		"keep exec ipqbdb whitelist "+bin+"ibd-white -i 192.0.2.7",
		"unban exec ipqbdb block database "+bin+"ibd-del -i 192.0.2.7",
	)
	for _, e := range plan.Entries {
		switch e.IP.String() {
		case "2001:db8::5":
			if !errors.Is(e.Err, ErrIPv6Refused) || !strings.Contains(e.Err.Error(), "add the ipv6 flag") || !strings.Contains(e.Err.Error(), DefaultIPQBDBCommands().Keep.Source) {
				t.Errorf("IPv6: %v", e.Err)
			}
		case "203.0.113.5":
			if e.Err == nil || !strings.Contains(e.Err.Error(), "through the range 203.0.113.0/24: deleting that record would unban the whole range") {
				t.Errorf("range: %v", e.Err)
			}
		default:
			if e.Err != nil {
				t.Errorf("%s: %v", e.IP, e.Err)
			}
		}
	}
	notes := strings.Join(noteTexts(plan.Notes), "\n")
	for _, w := range []string{
		"command lines from " + DefaultIPQBDBCommandsName,
		"probe: " + bin + "ibd-del --help lists --list, -i",
		"probe: " + bin + "ibd-white --help lists -i, --list",
		"probe: every option the command lines use is listed",
		"above 1% (--ipqbdb-threshold)",
		"keep is soft",
		"fail2ban's ignoreip and the iptables ACCEPT rule are hard keeps",
	} {
		if !strings.Contains(notes, w) {
			t.Errorf("plan notes lack %q:\n%s", w, notes)
		}
	}
	if !strings.Contains(plan.Actions()[0].Describe, "soft keep") {
		t.Errorf("keep action %q does not say it is soft", plan.Actions()[0].Describe)
	}

	results := ApplyAll(ctx, []Backend{q}, plan.Actions())
	if Failed(results) {
		t.Fatalf("apply: %+v", results)
	}
	if r := results[1]; r.Output != "deleted 192.0.2.7" || r.Attempts != 1 {
		t.Errorf("ibd-del result %+v", r)
	}
	if b := s.file("block.tsv"); strings.Contains(b, "192.0.2.7\t") || !strings.Contains(b, "192.0.2.99\t") {
		t.Fatalf("block records after apply:\n%s", b)
	}
	if w := s.file("white.tsv"); w != "192.0.2.7\t3600\n" {
		t.Fatalf("whitelist after apply: %q", w)
	}

	// Second run: nothing. Banned again: only the deletion.
	wantPlan(t, "again", mustPlan(t, "again", q, addrs("192.0.2.7")...))
	s.ban("-i", "192.0.2.7")
	plan = mustPlan(t, "after rebanning", q, addrs("192.0.2.7")...)
	wantPlan(t, "after rebanning", plan, "unban exec ipqbdb block database "+bin+"ibd-del -i 192.0.2.7")

	// Every run used exactly the built-in command lines; --help ran once
	// per program.
	allowed := map[string]bool{}
	for _, a := range [][]string{
		{bin + "ibd-del", "--help"}, {bin + "ibd-white", "--help"},
		{bin + "ibd-del", "--list"}, {bin + "ibd-white", "--list"},
		{bin + "ibd-del", "-i", "192.0.2.7"}, {bin + "ibd-white", "-i", "192.0.2.7"},
	} {
		allowed[strings.Join(a, "\x00")] = true
	}
	helps := 0
	for _, a := range rec.argvs() {
		if !allowed[strings.Join(a, "\x00")] {
			t.Errorf("unexpected run %q", a)
		}
		if a[len(a)-1] == "--help" {
			helps++
		}
	}
	if helps != 2 {
		t.Errorf("--help ran %d times, want once per program", helps)
	}

	// Apply refuses what Plan would not make.
	good := plan.Actions()[0]
	for name, a := range map[string]Action{
		"ibd-ban":       func() Action { a := good; a.Argv = []string{bin + "ibd-ban", "-i", "192.0.2.7"}; return a }(),
		"other address": func() Action { a := good; a.IP = netip.MustParseAddr("192.0.2.99"); return a }(),
		"keep as unban": func() Action { a := good; a.Argv = []string{bin + "ibd-white", "-i", "192.0.2.7"}; return a }(),
		"shell":         func() Action { a := good; a.Argv = []string{"/bin/sh", "-c", "ibd-del -i 192.0.2.7"}; return a }(),
		"IPv6 unban": {Backend: "ipqbdb", Kind: KindUnban, IP: netip.MustParseAddr("2001:db8::5"), Op: OpExec,
			Argv: []string{bin + "ibd-del", "-i", "2001:db8::5"}},
	} {
		if r := q.Apply(ctx, a); r.OK || !errors.Is(r.Err, ErrForeignAction) || r.Attempts != 0 {
			t.Errorf("%s: Apply = %+v", name, r)
		}
	}
}

func noteTexts(notes []Note) []string {
	var out []string
	for _, n := range notes {
		out = append(out, n.String())
	}
	return out
}

// TestIPQBDBOtherSpellings runs the other stand-ins with their commands
// file: exactly its argv run, the address one argument, IPv4 and IPv6.
func TestIPQBDBOtherSpellings(t *testing.T) {
	s := newStandins(t)
	ctx := t.Context()
	cs, err := LoadIPQBDBCommands(filepath.Join(altStandinDir, "commands.conf"))
	if err != nil {
		t.Fatal(err)
	}
	s.ban("-i", "192.0.2.7")
	s.ban("-i", "2001:db8::7")
	s.ban("-i", "192.0.2.99")
	rec := &recorder{}
	q := NewIPQBDB(IPQBDBOptions{BinDir: altStandinDir, Commands: cs, Run: rec.Run})
	ips := addrs("192.0.2.7", "::ffff:192.0.2.8", "2001:db8::7")
	plan, err := MakePlan(ctx, []Backend{q}, ips)
	if err != nil || plan.Err() != nil {
		t.Fatalf("MakePlan: %v %v", err, plan.Err())
	}
	results := ApplyAll(ctx, []Backend{q}, plan.Actions())
	if Failed(results) {
		t.Fatalf("apply: %+v", results)
	}
	d, w := altStandinDir+"/ibd-del", altStandinDir+"/ibd-white"
	want := [][]string{
		{d, "--help"}, {w, "--help"},
		{d, "--dump"}, {w, "--dump"},
		{w, "--add", "192.0.2.7"}, {d, "--remove", "--ip-addr=192.0.2.7"},
		{w, "--add", "2001:db8::7"}, {d, "--remove", "--ip-addr=2001:db8::7"},
	}
	if got := rec.argvs(); !equalArgvs(got, want) {
		t.Fatalf("ran:\n%q\nwant:\n%q", got, want)
	}
	if b := s.file("block.tsv"); b != "192.0.2.99\t0.250000\t1\tbanned\n" {
		t.Errorf("block records after apply: %q", b)
	}
	if w := s.file("white.tsv"); w != "192.0.2.7\t3600\n2001:db8::7\t3600\n" {
		t.Errorf("whitelist after apply: %q", w)
	}
	plan, err = MakePlan(ctx, []Backend{q}, ips)
	if err != nil || len(plan.Actions()) != 0 {
		t.Fatalf("second plan: %v %v", actionSummary(plan.Actions()), err)
	}
	// The built-in command lines against these tools: the probe refuses.
	s2 := newStandins(t)
	q2 := NewIPQBDB(IPQBDBOptions{BinDir: altStandinDir})
	if _, err := MakePlan(ctx, []Backend{q2}, ips); !errors.Is(err, ErrProbe) {
		t.Fatalf("built-in lines on the other tools: %v", err)
	}
	if c := s2.calls(); !slices.Equal(c, []string{"ibd-del --help", "ibd-white --help"}) {
		t.Errorf("calls %q", c)
	}
}

// TestIPQBDBProbeRefusal: tools whose --help lacks the options of the
// command lines get nothing but --help, and the error names the program,
// the option and --ipqbdb-commands.
func TestIPQBDBProbeRefusal(t *testing.T) {
	s := newStandins(t)
	ctx := t.Context()
	s.ban("-i", "192.0.2.7")
	q := NewIPQBDB(IPQBDBOptions{BinDir: altStandinDir}) // built-in lines, other spellings
	ip := addrs("192.0.2.7")
	_, err := MakePlan(ctx, []Backend{q}, ip)
	var pe *ProbeError
	if !errors.Is(err, ErrProbe) || !errors.As(err, &pe) {
		t.Fatalf("MakePlan: %v", err)
	}
	d, w := altStandinDir+"/ibd-del", altStandinDir+"/ibd-white"
	cs := DefaultIPQBDBCommands()
	wantMissing := []MissingOption{
		{d, "--list", CmdListBlocked, cs.ListBlocked.Source, false},
		{d, "-i", CmdUnban, cs.Unban.Source, false},
		{w, "-i", CmdKeep, cs.Keep.Source, false},
		{w, "--list", CmdListKept, cs.ListKept.Source, false},
	}
	if !slices.Equal(pe.Missing, wantMissing) || len(pe.NoHelp) != 0 {
		t.Errorf("missing %+v", pe.Missing)
	}
	msg := err.Error()
	for _, want := range []string{
		"ipqbdb: probing the tools with --help: " + d + " --help does not list --list, which list-blocked uses (" + cs.ListBlocked.Source + ")",
		w + " --help does not list -i, which keep uses",
		": nothing else was run",
	} {
		if !strings.Contains(msg, want) {
			t.Errorf("message lacks %q:\n%s", want, msg)
		}
	}
	if strings.Contains(msg, "--ipqbdb") || strings.Contains(msg, "redeem:") {
		t.Errorf("message: %s", msg)
	}
	// Review: the status is unknown, with the reason; nothing more runs.
	st, err := BanStatusAll(ctx, []Backend{q}, ip)
	if err != nil {
		t.Fatal(err)
	}
	if u := st[ip[0]].Unknown; len(u) != 1 || u[0].Backend != "ipqbdb" || !errors.Is(u[0], ErrProbe) || len(st[ip[0]].Bans) != 0 {
		t.Errorf("status %+v", st[ip[0]])
	}
	a := Action{Backend: "ipqbdb", Kind: KindUnban, IP: ip[0], Op: OpExec, Argv: []string{d, "-i", "192.0.2.7"}}
	if r := q.Apply(ctx, a); r.OK || !errors.Is(r.Err, ErrProbe) {
		t.Errorf("Apply after a failed probe: %+v", r)
	}
	if c := s.calls(); !slices.Equal(c, []string{"ibd-del --help", "ibd-white --help"}) {
		t.Errorf("the stand-ins saw %q; want only --help, once each", c)
	}
}

// An option the help lists as a flag cannot be given the address: the
// address would become a stray argument.
func TestIPQBDBProbeOptionWithoutArgument(t *testing.T) {
	newStandins(t)
	dir := t.TempDir()
	help := map[string]string{
		"ibd-del":   "Usage: ibd-del [OPTION...]\n  -i, --interactive   ask first\n      --list   list\n",
		"ibd-white": "Usage: ibd-white [OPTION...]\n  -i, --ip-addr=ip   whitelist\n      --list   list\n",
	}
	for tool, h := range help {
		script := "#!/bin/sh\nprintf '" + strings.ReplaceAll(h, "\n", "\\n") + "'\n"
		if err := os.WriteFile(filepath.Join(dir, tool), []byte(script), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	q := NewIPQBDB(IPQBDBOptions{BinDir: dir})
	_, err := q.Prepare(t.Context())
	var pe *ProbeError
	if !errors.As(err, &pe) || len(pe.Missing) != 1 || !pe.Missing[0].NoArg || pe.Missing[0].Command != CmdUnban ||
		!strings.Contains(err.Error(), dir+"/ibd-del --help lists -i as taking no argument, but unban gives it the address") {
		t.Fatalf("Prepare: %v", err)
	}
}

func TestIPQBDBProbeWithoutHelp(t *testing.T) {
	newStandins(t)
	dir := t.TempDir()
	for _, tool := range []string{"ibd-del", "ibd-white"} {
		script := "#!/bin/sh\necho \"$0: no such option: $1\" >&2\nexit 1\n"
		if err := os.WriteFile(filepath.Join(dir, tool), []byte(script), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	q := NewIPQBDB(IPQBDBOptions{BinDir: dir, RetryWait: time.Millisecond})
	_, err := q.Prepare(t.Context())
	var pe *ProbeError
	if !errors.As(err, &pe) || len(pe.NoHelp) != 2 || strings.Contains(err.Error(), "--ipqbdb") ||
		!strings.Contains(err.Error(), dir+"/ibd-del --help failed: exit status 1: "+dir+"/ibd-del: no such option: --help") {
		t.Fatalf("Prepare: %v", err)
	}
}

func TestIPQBDBNoProbe(t *testing.T) {
	s := newStandins(t)
	ctx := t.Context()
	s.ban("-i", "192.0.2.7")
	cs, err := LoadIPQBDBCommands(filepath.Join(altStandinDir, "commands.conf"))
	if err != nil {
		t.Fatal(err)
	}
	q := NewIPQBDB(IPQBDBOptions{BinDir: altStandinDir, Commands: cs, NoProbe: true})
	plan, err := MakePlan(ctx, []Backend{q}, addrs("192.0.2.7"))
	if err != nil || len(plan.Actions()) != 2 {
		t.Fatalf("MakePlan: %v %v", err, plan)
	}
	if n := strings.Join(noteTexts(plan.Notes), "\n"); !strings.Contains(n, "probe skipped (--ipqbdb-no-probe): UNSAFE") {
		t.Errorf("notes:\n%s", n)
	}
	for _, c := range s.calls() {
		if strings.HasSuffix(c, "--help") {
			t.Errorf("ran %q without a probe", c)
		}
	}
	// Unprobed lines the tools refuse: the status is unknown, with the
	// tool's own words, after one retry.
	q = NewIPQBDB(IPQBDBOptions{BinDir: altStandinDir, NoProbe: true, RetryWait: time.Millisecond})
	st, err := BanStatusAll(ctx, []Backend{q}, addrs("192.0.2.7"))
	if err != nil {
		t.Fatal(err)
	}
	u := st[netip.MustParseAddr("192.0.2.7")].Unknown
	if len(u) != 1 || !strings.Contains(u[0].Error(), "ibd-del: --list: unknown option") {
		t.Errorf("unknown %v", u)
	}
	if n := strings.Join(q.Notes(), "\n"); !strings.Contains(n, "list-blocked ("+altStandinDir+"/ibd-del --list) failed once and was run again after 1ms") {
		t.Errorf("notes:\n%s", n)
	}
}

func TestIPQBDBRetry(t *testing.T) {
	s := newStandins(t)
	ctx := t.Context()
	s.ban("-i", "192.0.2.7")
	t.Setenv("IPQBDB_STANDIN_FAIL_ONCE", "ibd-del ibd-white")
	q := NewIPQBDB(IPQBDBOptions{BinDir: standinDir, RetryWait: 20 * time.Millisecond})
	plan, err := MakePlan(ctx, []Backend{q}, addrs("192.0.2.7"))
	if err != nil || plan.Err() != nil || len(plan.Actions()) != 2 {
		t.Fatalf("MakePlan: %v %v %v", err, plan.Err(), actionSummary(plan.Actions()))
	}
	notes := strings.Join(noteTexts(plan.Notes), "\n")
	for _, w := range []string{
		"ipqbdb: list-blocked (" + standinDir + "/ibd-del --list) failed once and was run again after 20ms: exit status 1: ibd-del: cannot open the database environment: a recovery is running (stand-in: failing once)",
		"ipqbdb: list-kept (" + standinDir + "/ibd-white --list) failed once and was run again after 20ms",
	} {
		if !strings.Contains(notes, w) {
			t.Errorf("notes lack %q:\n%s", w, notes)
		}
	}
	// Each action fails once, then succeeds; the result says so.
	for _, f := range []string{"failed-once.ibd-del", "failed-once.ibd-white"} {
		os.Remove(filepath.Join(s.state, f))
	}
	results := ApplyAll(ctx, []Backend{q}, plan.Actions())
	if Failed(results) {
		t.Fatalf("apply: %+v", results)
	}
	for i, out := range []string{"whitelisted 192.0.2.7", "deleted 192.0.2.7"} {
		r := results[i]
		tool := []string{"ibd-white", "ibd-del"}[i]
		want := "attempt 1 failed: exit status 1: " + tool + ": cannot open the database environment: a recovery is running (stand-in: failing once); attempt 2 after 20ms: " + out
		if r.Attempts != 2 || r.Output != want {
			t.Errorf("result %d: attempts %d, output %q\nwant %q", i, r.Attempts, r.Output, want)
		}
	}
	// Failing twice: the action fails, saying both.
	s.ban("-i", "192.0.2.7")
	t.Setenv("IPQBDB_STANDIN_FAIL", "ibd-del")
	n := len(s.calls())
	r := q.Apply(ctx, plan.Actions()[1])
	if r.OK || r.Attempts != 2 || !strings.Contains(r.Err.Error(), "failed twice, 20ms apart") ||
		!strings.HasPrefix(r.Output, "attempt 1 failed: ") || !strings.Contains(r.Output, "attempt 2 after 20ms: failed again: ") {
		t.Errorf("failing twice: %+v", r)
	}
	if c := s.calls()[n:]; !slices.Equal(c, []string{"ibd-del -i 192.0.2.7", "ibd-del -i 192.0.2.7"}) {
		t.Errorf("calls %q", c)
	}
	// A listing failing twice: unknown status, never "not banned".
	st, err := BanStatusAll(ctx, []Backend{q}, addrs("192.0.2.7"))
	if err != nil {
		t.Fatal(err)
	}
	if s := st[netip.MustParseAddr("192.0.2.7")]; s.Known() || !strings.Contains(s.Unknown[0].Error(), "told to fail") {
		t.Errorf("status %+v", s)
	}
}

// TestIPQBDBSerialized runs ipqbdb commands from several goroutines and
// two backends: the stand-ins never overlap.
func TestIPQBDBSerialized(t *testing.T) {
	s := newStandins(t)
	ctx := t.Context()
	for i := 1; i <= 4; i++ {
		s.ban("-i", "192.0.2."+string(rune('0'+i)))
	}
	t.Setenv("IPQBDB_STANDIN_SLEEP", "0.02")
	qs := []*IPQBDB{NewIPQBDB(IPQBDBOptions{BinDir: standinDir}), NewIPQBDB(IPQBDBOptions{BinDir: standinDir})}
	var wg sync.WaitGroup
	for i := 1; i <= 4; i++ {
		q := qs[i%2]
		ip := netip.MustParseAddr("192.0.2." + string(rune('0'+i)))
		wg.Add(1)
		go func() {
			defer wg.Done()
			plan, err := MakePlan(ctx, []Backend{q}, []netip.Addr{ip})
			if err != nil || plan.Err() != nil {
				t.Errorf("MakePlan %s: %v %v", ip, err, plan.Err())
				return
			}
			if Failed(ApplyAll(ctx, []Backend{q}, plan.Actions())) {
				t.Errorf("apply %s failed", ip)
			}
		}()
	}
	wg.Wait()
	if o := s.file("overlap.log"); o != "" {
		t.Fatalf("ipqbdb commands overlapped:\n%s", o)
	}
	if n := len(s.calls()); n != 4+4*4 { // 2 --help per backend, 4 runs per address
		t.Errorf("%d calls:\n%s", n, strings.Join(s.calls(), "\n"))
	}
	if b := s.file("block.tsv"); b != "" {
		t.Errorf("block records left: %q", b)
	}
}

func TestIPQBDBUnreadableListing(t *testing.T) {
	s := newStandins(t)
	ctx := t.Context()
	s.ban("-i", "192.0.2.7")
	// The listing has no field 5: the format is not the assumed one.
	in := string(defaultIPQBDBCommands)
	in = strings.Replace(in, "list-blocked ipv6 addr=1 prob=2 =", "list-blocked ipv6 addr=1 prob=5 =", 1)
	cs, err := ParseIPQBDBCommands(strings.NewReader(in), "mine.conf")
	if err != nil {
		t.Fatal(err)
	}
	q := NewIPQBDB(IPQBDBOptions{BinDir: standinDir, Commands: cs})
	ip := netip.MustParseAddr("192.0.2.7")
	st, err := BanStatusAll(ctx, []Backend{q}, []netip.Addr{ip})
	if err != nil {
		t.Fatal(err)
	}
	u := st[ip].Unknown
	if len(u) != 1 || !errors.Is(u[0], ErrListing) ||
		u[0].Error() != "ipqbdb: list-blocked output line 1: no field 5 for the probability (the format "+cs.ListBlocked.Source+" assumes; see docs/ipqbdb.md)" {
		t.Errorf("unknown %v", u)
	}
}

func TestIPQBDBUnavailable(t *testing.T) {
	q := NewIPQBDB(IPQBDBOptions{BinDir: t.TempDir()})
	err := q.Available(t.Context())
	if !errors.Is(err, ErrUnavailable) || !errors.Is(err, ErrNotInstalled) || !strings.Contains(err.Error(), "ibd-del not found, named in built-in contrib/ipqbdb/commands.conf") || strings.Contains(err.Error(), "redeem:") {
		t.Fatalf("Available with no tools = %v", err)
	}
}

func TestParseIPQBDBListing(t *testing.T) {
	lb := DefaultIPQBDBCommands().ListBlocked
	recs, err := parseIPQBDBListing(strings.NewReader(
		"192.0.2.7\t25.00%\t1\tspam\n\n  2001:DB8::/48 1.5% 2 x\n::ffff:192.0.2.8 100% 9\n192.0.2.9 0% 1\n"), lb)
	if err != nil {
		t.Fatal(err)
	}
	want := []struct {
		prefix string
		prob   float64
	}{{"192.0.2.7/32", 0.25}, {"2001:db8::/48", 0.015}, {"192.0.2.8/32", 1}, {"192.0.2.9/32", 0}}
	if len(recs) != len(want) {
		t.Fatalf("records %+v", recs)
	}
	for i, w := range want {
		if recs[i].Prefix.String() != w.prefix || recs[i].Prob != w.prob {
			t.Errorf("record %d = %+v, want %v", i, recs[i], w)
		}
	}
	for in, wantErr := range map[string]string{
		"ADDRESS PROB\n":            `line 1: field 1 "ADDRESS" is not an address or range`,
		"192.0.2.7\n":               "line 1: no field 2 for the probability",
		"192.0.2.7 0.25 x\n\nfoo 1": `line 3: field 1 "foo" is not an address or range`,
		"192.0.2.7 25\n":            `line 1: field 2: probability "25" is out of range`,
		"192.0.2.7 101%\n":          `line 1: field 2: probability "101%" is out of range`,
		"192.0.2.7 -1%\n":           `line 1: field 2: "-1%" is not a probability`,
		"192.0.2.7 1e-3\n":          `line 1: field 2: "1e-3" is not a probability`,
		"192.0.2.7 NaN\n":           `line 1: field 2: "NaN" is not a probability`,
		"fe80::1%eth0 1%\n":         `line 1: field 1 "fe80::1%eth0" is not an address or range`,
		"192.0.2.7/33 1%\n":         `line 1: field 1 "192.0.2.7/33" is not an address or range`,
		strings.Repeat("1", 5000):   "line 1: bufio.Scanner: token too long",
	} {
		_, err := parseIPQBDBListing(strings.NewReader(in), lb)
		if err == nil || !errors.Is(err, ErrListing) || !strings.Contains(err.Error(), "list-blocked output "+wantErr) {
			t.Errorf("%.40q: %v, want %q", in, err, wantErr)
		}
	}
	// "25" would be a fraction of 25: out of range. A fraction up to 1 is one.
	if _, err := parseIPQBDBListing(strings.NewReader("192.0.2.7 1\n"), lb); err != nil {
		t.Errorf("fraction 1: %v", err)
	}
	for in, want := range map[string]float64{"1%": 0.01, "0.5%": 0.005, "0.05": 0.05, " 5% ": 0.05, "100%": 1} {
		if got, err := ParseIPQBDBThreshold(in); err != nil || got != want {
			t.Errorf("ParseIPQBDBThreshold(%q) = %v, %v", in, got, err)
		}
	}
	for _, in := range []string{"0", "0%", "2", "-1", "abc", ""} {
		if _, err := ParseIPQBDBThreshold(in); err == nil {
			t.Errorf("ParseIPQBDBThreshold(%q) accepted", in)
		}
	}
}

func TestHelpOptions(t *testing.T) {
	data, err := os.ReadFile("testdata/popt/logrotate-3.21.0-help.txt")
	if err != nil {
		t.Fatal(err)
	}
	got := helpOptions(string(data) + "  Options such as --bogus in a description are not listed\n")
	var names []string
	for o := range got {
		names = append(names, o)
	}
	slices.Sort(names)
	want := []string{"--debug", "--force", "--help", "--log", "--mail", "--skip-state-lock", "--state", "--usage",
		"--verbose", "--version", "--wait-for-state-lock", "-?", "-d", "-f", "-l", "-m", "-s", "-v"}
	if !slices.Equal(names, want) {
		t.Errorf("options %q\nwant %q", names, want)
	}
	// Which take an argument: logrotate's -m, -s, -l do.
	for o, arg := range got {
		if want := o == "-m" || o == "--mail" || o == "-s" || o == "--state" || o == "-l" || o == "--log"; arg != want {
			t.Errorf("%s takes an argument: %v", o, arg)
		}
	}
	got = helpOptions("  --opt[=ARG]   x\n\t-t\tdesc\n  -x, --ex=y, --why\n  -a ADDR   x\n  -b   flag\n")
	for o, arg := range map[string]bool{"--opt": true, "-t": false, "-x": true, "--ex": true, "--why": true, "-a": true, "-b": false} {
		if a, ok := got[o]; !ok || a != arg {
			t.Errorf("odd layouts: %s: %v, %v", o, a, ok)
		}
	}
}

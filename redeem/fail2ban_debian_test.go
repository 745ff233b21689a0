package redeem

import (
	"context"
	"errors"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/tlsrpt/tlsrpt/internal/f2btest"
	"github.com/tlsrpt/tlsrpt/internal/testenv"
)

// stockDebian is the copy of Debian's stock /etc/fail2ban (fail2ban
// 1.0.2-2): jail.conf sets no ignoreip, and nothing else does.
const stockDebian = "testdata/fail2ban-debian"

// startStock starts a real fail2ban-server on a copy of Debian's stock
// configuration, with opts' local files (see f2btest.Options.Base).
func startStock(t *testing.T, opts f2btest.Options) *f2btest.Server {
	t.Helper()
	base, err := filepath.Abs(stockDebian)
	if err != nil {
		t.Fatal(err)
	}
	opts.Base = base
	return f2btest.Start(t, opts)
}

// redeemIn bans ip by hand in the test server's sshd jail, then plans and
// applies its redemption, and returns the results.
func redeemIn(t *testing.T, s *f2btest.Server, ip string) []Result {
	t.Helper()
	s.Client("set", "sshd", "banip", ip)
	ctx := t.Context()
	f := NewFail2ban(fail2banOpts(s))
	plan := mustPlan(t, "", f, netip.MustParseAddr(ip))
	return ApplyAll(ctx, []Backend{f}, plan.Actions())
}

// wantAllOK fails the test unless every result is ok, and returns the
// output of the drop-in step.
func wantAllOK(t *testing.T, results []Result) string {
	t.Helper()
	write := -1
	for i, r := range results {
		if !r.OK {
			t.Errorf("%s: %v", r.Action, r.Err)
		}
		if r.Action.Op == OpWrite {
			write = i
		}
	}
	if write < 0 {
		t.Fatalf("no drop-in step in %+v", results)
	}
	return results[write].Output
}

// configTest runs the real fail2ban-client -c dir -t.
func configTest(t *testing.T, dir string) error {
	t.Helper()
	client := testenv.MustHaveExec(t, "fail2ban-client", "fail2ban")
	out, err := exec.Command(client, "-c", dir, "-t").CombinedOutput()
	if err != nil {
		return errors.New(string(out))
	}
	return nil
}

// wantIgnoredNotBanned logs a failure of each address of ignored, then of
// a bystander, and checks, once the bystander is banned (the lines before
// it were read), that none of ignored is.
func wantIgnoredNotBanned(t *testing.T, s *f2btest.Server, ignored ...string) {
	t.Helper()
	const bystander = "198.51.100.99"
	for _, ip := range ignored {
		s.LogLine("fail from " + ip)
	}
	s.LogLine("fail from " + bystander)
	f2btest.WaitFor(t, "the log line to ban "+bystander, func() bool { return slices.Contains(s.Banned("sshd"), bystander) })
	for _, ip := range ignored {
		if slices.Contains(s.Banned("sshd"), ip) {
			t.Errorf("%s banned; want it ignored (sshd ignores %v)", ip, s.Ignored("sshd"))
		}
	}
}

// TestFail2banStockDebian attacks the drop-in with Debian's stock
// configuration, where nothing sets ignoreip: "%(known/ignoreip)s" alone
// made fail2ban-client -t, reload and the next start fail ("Bad value
// substitution"), every jail gone. After the apply, the configuration test
// passes, a fail2ban-server started anew has its jails and ignores the
// redeemed address.
func TestFail2banStockDebian(t *testing.T) {
	s := startStock(t, f2btest.Options{Jails: []f2btest.Jail{{Name: "sshd"}, {Name: "postfix"}}})
	const ip = "192.0.2.7"
	out := wantAllOK(t, redeemIn(t, s, ip))
	base := s.DropIn(BaseDropIn)
	if !strings.Contains(out, "configuration test passed") || !strings.Contains(out, "created "+base) {
		t.Errorf("drop-in step output %q", out)
	}
	if err := configTest(t, s.Dir); err != nil {
		t.Fatalf("fail2ban-client -t after the apply: %s", err)
	}
	s.Restart()
	if st := fieldOf(s.Client("status"), "Jail list:"); st != "postfix, sshd" {
		t.Fatalf("after a restart, jails %q, want postfix and sshd", st)
	}
	if got := s.Ignored("sshd"); !slices.Equal(got, []string{ip}) {
		t.Errorf("after a restart, sshd ignores %v, want [%s]", got, ip)
	}
	if got := s.Ignored("postfix"); len(got) != 0 {
		t.Errorf("after a restart, postfix ignores %v, want nothing", got)
	}
	wantIgnoredNotBanned(t, s, ip)

	// A second address: the base file is there, one test, still valid.
	const second = "2001:db8::7"
	if out := wantAllOK(t, redeemIn(t, s, second)); strings.Contains(out, "created") {
		t.Errorf("second drop-in step output %q", out)
	}
	s.Restart()
	if got := s.Ignored("sshd"); !sameEntries(got, ip, second) {
		t.Errorf("after the second address and a restart, sshd ignores %v", got)
	}
}

// TestFail2banStockDebianKeepsOperatorIgnoreIP: where the operator sets
// ignoreip (in [DEFAULT] or in the jail, in jail.conf, a jail.d/*.conf,
// jail.local or a jail.d/*.local), their addresses are still ignored after
// the apply and a restart, plus ours; the empty [DEFAULT] ignoreip of
// BaseDropIn is not written, since nothing needs it.
func TestFail2banStockDebianKeepsOperatorIgnoreIP(t *testing.T) {
	jailConf := func(dir string) map[string]string {
		data, err := os.ReadFile(filepath.Join(dir, "jail.conf"))
		if err != nil {
			t.Fatal(err)
		}
		const stock = "\n#ignoreip = 127.0.0.1/8 ::1\n"
		if !strings.Contains(string(data), stock) {
			t.Fatalf("jail.conf has no %q", stock)
		}
		return map[string]string{"jail.conf": strings.Replace(string(data), stock, "\nignoreip = 127.0.0.1/8 ::1 203.0.113.0/24\n", 1)}
	}
	cases := []struct {
		name string
		opts f2btest.Options
	}{
		{"default in jail.local", f2btest.Options{DefaultIgnoreIP: "127.0.0.1/8 ::1 203.0.113.0/24"}},
		{"jail's own in jail.local", f2btest.Options{Jails: []f2btest.Jail{{Name: "sshd", IgnoreIP: "127.0.0.1/8 ::1 203.0.113.0/24"}}}},
		{"default in jail.conf", f2btest.Options{Files: jailConf}},
		{"default in a jail.d .conf", f2btest.Options{Files: func(string) map[string]string {
			return map[string]string{"jail.d/mine.conf": "[DEFAULT]\nignoreip = 127.0.0.1/8 ::1 203.0.113.0/24\n"}
		}}},
		{"jail's own in a jail.d .local", f2btest.Options{Files: func(string) map[string]string {
			return map[string]string{"jail.d/mine.local": "[sshd]\nignoreip = 127.0.0.1/8 ::1 203.0.113.0/24\n"}
		}}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			s := startStock(t, c.opts)
			const ip = "192.0.2.7"
			if got := s.Ignored("sshd"); !sameEntries(got, "127.0.0.0/8", "::1", "203.0.113.0/24") {
				t.Fatalf("before: sshd ignores %v", got)
			}
			wantAllOK(t, redeemIn(t, s, ip))
			if err := configTest(t, s.Dir); err != nil {
				t.Fatalf("fail2ban-client -t after the apply: %s", err)
			}
			if _, err := os.Stat(s.DropIn(BaseDropIn)); !errors.Is(err, os.ErrNotExist) {
				t.Errorf("%s written where ignoreip is set: %v", BaseDropIn, err)
			}
			s.Restart()
			if got := s.Ignored("sshd"); !sameEntries(got, "127.0.0.0/8", "::1", "203.0.113.0/24", ip) {
				t.Errorf("after a restart, sshd ignores %v; want the operator's and %s", got, ip)
			}
			wantIgnoredNotBanned(t, s, ip, "203.0.113.9")
		})
	}
}

// TestFail2banDropInUndoneWhenConfigTestFails: when fail2ban's test fails
// with the drop-in (here a broken file of the operator's, written after
// the server started), the drop-in step is not ok, says why, and both
// files are as they were: a drop-in that was there has the same bytes and
// mode, one that was not is removed, and so is the base file.
func TestFail2banDropInUndoneWhenConfigTestFails(t *testing.T) {
	const broken = "[sshd]\nbantime = %(no_such_option)s\n"
	const previous = "# hand edited\n[sshd]\nignoreip = %(known/ignoreip)s 192.0.2.1\n"
	for _, withPrevious := range []bool{false, true} {
		name := "no drop-in before"
		if withPrevious {
			name = "a drop-in before"
		}
		t.Run(name, func(t *testing.T) {
			s := startStock(t, f2btest.Options{DefaultIgnoreIP: "127.0.0.1/8"})
			dropIn := s.DropIn("tlsrpt-redeemed.local")
			if withPrevious {
				if err := os.WriteFile(dropIn, []byte(previous), 0o600); err != nil {
					t.Fatal(err)
				}
			}
			if err := os.WriteFile(s.DropIn("broken.local"), []byte(broken), 0o644); err != nil {
				t.Fatal(err)
			}
			if err := configTest(t, s.Dir); err == nil {
				t.Fatal("the broken file does not break the configuration")
			}
			const ip = "192.0.2.7"
			results := redeemIn(t, s, ip)
			var write *Result
			for i, r := range results {
				if r.Action.Op == OpWrite {
					write = &results[i]
				} else if !r.OK {
					t.Errorf("%s: %v", r.Action, r.Err)
				}
			}
			if write == nil || write.OK || !errors.Is(write.Err, ErrConfigTest) {
				t.Fatalf("drop-in step: %+v", write)
			}
			msg := write.Err.Error()
			t.Logf("drop-in step: %s", msg)
			for _, want := range []string{"fail2ban-client -c " + s.Dir + " -t", "no_such_option", "undone", dropIn} {
				if !strings.Contains(msg, want) {
					t.Errorf("error %q does not say %q", msg, want)
				}
			}
			if _, err := os.Stat(s.DropIn(BaseDropIn)); !errors.Is(err, os.ErrNotExist) {
				t.Errorf("%s left behind: %v", BaseDropIn, err)
			}
			// The runtime steps still did their part.
			if slices.Contains(s.Banned("sshd"), ip) || !slices.Contains(s.Ignored("sshd"), ip) {
				t.Errorf("runtime: banned %v, ignored %v", s.Banned("sshd"), s.Ignored("sshd"))
			}
			data, err := os.ReadFile(dropIn)
			if !withPrevious {
				if !errors.Is(err, os.ErrNotExist) {
					t.Errorf("drop-in left behind: %q %v", data, err)
				}
				return
			}
			if err != nil || string(data) != previous {
				t.Errorf("drop-in not restored: %q %v", data, err)
			}
			if fi, err := os.Stat(dropIn); err != nil || fi.Mode().Perm() != 0o600 {
				t.Errorf("drop-in mode not restored: %v %v", fi.Mode(), err)
			}
		})
	}
}

// sameEntries reports whether got holds exactly want, in any order.
func sameEntries(got []string, want ...string) bool {
	g, w := slices.Clone(got), slices.Clone(want)
	slices.Sort(g)
	slices.Sort(w)
	return slices.Equal(g, w)
}

// TestFail2banRepairsEarlierDropIn: an earlier tlsrpt wrote the drop-in
// without BaseDropIn on Debian's stock configuration, which fail2ban then
// refuses (the running server keeps going; a reload or restart fails).
// The next plan has a step that writes BaseDropIn, before the others;
// once applied, fail2ban's test passes and a restarted server has its
// jail and ignores the address.
func TestFail2banRepairsEarlierDropIn(t *testing.T) {
	s := startStock(t, f2btest.Options{})
	const ip = "192.0.2.7"
	dropIn := s.DropIn("tlsrpt-redeemed.local")
	if err := os.WriteFile(dropIn, []byte("[sshd]\nignoreip = %(known/ignoreip)s "+ip+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := configTest(t, s.Dir); err == nil || !strings.Contains(err.Error(), "known/ignoreip") {
		t.Fatalf("the earlier drop-in does not break the stock configuration: %v", err)
	}
	ctx := t.Context()
	f := NewFail2ban(fail2banOpts(s))
	plan := mustPlan(t, "", f, netip.MustParseAddr(ip))
	acts := plan.Actions()
	base := s.DropIn(BaseDropIn)
	wantFirstOn(t, "write", acts, base)
	if acts[0].Op != OpWrite {
		t.Fatalf("first step on %s is %s, want %s", base, acts[0].Op, OpWrite)
	}
	if _, err := os.Stat(base); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("the plan wrote %s: %v", base, err)
	}
	wantAllOK(t, ApplyAll(ctx, []Backend{f}, acts))
	if err := configTest(t, s.Dir); err != nil {
		t.Fatalf("fail2ban-client -t after the apply: %s", err)
	}
	s.Restart()
	if got := s.Ignored("sshd"); !slices.Equal(got, []string{ip}) {
		t.Errorf("after a restart, sshd ignores %v", got)
	}
	// Repaired: the next plan has nothing to do.
	wantPlan(t, "after the repair", mustPlan(t, "after the repair", f, netip.MustParseAddr(ip)))
}

// TestFail2banConfigTestDir: the configuration tested is --fail2ban-config,
// else the parent of a jail.d drop-in directory; a drop-in directory that
// is not a jail.d, with no configuration named, is read by no fail2ban
// configuration known, so nothing is tested (and the output says so)
// rather than the machine's /etc/fail2ban.
func TestFail2banConfigTestDir(t *testing.T) {
	ip := netip.MustParseAddr("192.0.2.7")
	tmp := t.TempDir()
	for _, c := range []struct {
		opts Fail2banOptions
		want []string // the -t command, or nil for none
	}{
		{Fail2banOptions{Config: filepath.Join(tmp, "a")}, []string{"fail2ban-client", "-c", filepath.Join(tmp, "a"), "-t"}},
		{Fail2banOptions{JailD: filepath.Join(tmp, "b", "jail.d")}, []string{"fail2ban-client", "-c", filepath.Join(tmp, "b"), "-t"}},
		{Fail2banOptions{JailD: filepath.Join(tmp, "c")}, nil},
	} {
		var ran [][]string
		c.opts.Run = func(_ context.Context, name string, args ...string) ([]byte, error) {
			ran = append(ran, append([]string{name}, args...))
			return []byte("OK: configuration test is successful\n"), nil
		}
		f := NewFail2ban(c.opts)
		path := f.DropInPath()
		a := Action{Backend: "fail2ban", Kind: KindKeep, Target: path, IP: ip, Op: OpWrite,
			Argv: []string{"add-ignoreip", path, "sshd", ip.String()}, Describe: "add"}
		r := f.Apply(t.Context(), a)
		if !r.OK {
			t.Fatalf("%+v: %v", c.opts, r.Err)
		}
		switch {
		case c.want == nil && (len(ran) != 0 || !strings.HasPrefix(r.Output, "configuration not tested: ")):
			t.Errorf("JailD %s: ran %q, output %q", c.opts.JailD, ran, r.Output)
		case c.want != nil && (len(ran) != 1 || !slices.Equal(ran[0], c.want)):
			t.Errorf("%+v: ran %q, want %q", c.opts, ran, c.want)
		}
	}
}

// fieldOf returns the rest of the line of out that holds label, trimmed.
func fieldOf(out, label string) string {
	for _, line := range strings.Split(out, "\n") {
		if _, rest, ok := strings.Cut(line, label); ok {
			return strings.TrimSpace(rest)
		}
	}
	return ""
}

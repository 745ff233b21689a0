package redeem

import (
	"errors"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/tlsrpt/tlsrpt/internal/f2btest"
)

// operatorIgnoreIP is the [DEFAULT] ignoreip an operator adds after the
// apply wrote BaseDropIn.
const operatorIgnoreIP = "127.0.0.1/8 10.6.0.0/16"

// addOperatorIgnoreIP sets operatorIgnoreIP in [DEFAULT] of the file name
// under dir: jail.conf (its commented-out stock line uncommented) or a new
// jail.d file.
func addOperatorIgnoreIP(t *testing.T, dir, name string) {
	t.Helper()
	path := filepath.Join(dir, name)
	if name != "jail.conf" {
		if err := os.WriteFile(path, []byte("[DEFAULT]\nignoreip = "+operatorIgnoreIP+"\n"), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	const stock = "\n#ignoreip = 127.0.0.1/8 ::1\n"
	if !strings.Contains(string(data), stock) {
		t.Fatalf("jail.conf has no %q", stock)
	}
	if err := os.WriteFile(path, []byte(strings.Replace(string(data), stock, "\nignoreip = "+operatorIgnoreIP+"\n", 1)), 0o644); err != nil {
		t.Fatal(err)
	}
}

// TestFail2banBaseRemovedForOperatorIgnoreIP attacks BaseDropIn, the empty
// [DEFAULT] ignoreip written on Debian's stock configuration: an operator
// later sets their own [DEFAULT] ignoreip in jail.conf, in
// jail.d/00-admin.conf or in a jail.d/*.conf sorting before BaseDropIn.
// The base file's name sorts before 00-admin.conf, whose ignoreip takes
// effect at once; left in place, the base file would replace the others:
// after a restart sshd would ignore only the redeemed addresses. The next
// plan has a first step removing the base file (the plan itself leaves it
// as it was), the apply removes it, fail2ban's test passes, and after a
// restart sshd ignores the operator's ranges and both redeemed addresses.
func TestFail2banBaseRemovedForOperatorIgnoreIP(t *testing.T) {
	for _, name := range []string{"jail.conf", "jail.d/00-admin.conf", "jail.d/!admin.conf"} {
		t.Run(name, func(t *testing.T) {
			const ip, second = "192.0.2.7", "192.0.2.8"
			s, base, before := stockRedeemed(t, ip)
			addOperatorIgnoreIP(t, s.Dir, name)

			// Before the next redeem run: the base file's name sorts before
			// 00-admin.conf, whose ignoreip already takes effect; one in
			// jail.conf or in a name sorting before it is replaced (the
			// residual window docs/security.md tells).
			s.Restart()
			want := []string{ip}
			if name == "jail.d/00-admin.conf" {
				want = []string{"127.0.0.0/8", "10.6.0.0/16", ip}
			}
			if got := s.Ignored("sshd"); !sameEntries(got, want...) {
				t.Fatalf("before the next run, sshd ignores %v; want %v", got, want)
			}

			s.Client("set", "sshd", "banip", second)
			ctx := t.Context()
			f := NewFail2ban(fail2banOpts(s))
			plan := mustPlan(t, "", f, netip.MustParseAddr(second))
			acts := plan.Actions()
			wantFirstOn(t, "remove", acts, base)
			if acts[0].Argv[0] != "remove-default-ignoreip" {
				t.Fatalf("first step %v, want remove-default-ignoreip", acts[0].Argv)
			}
			if why := baseChanged(base, before); why != "" {
				t.Fatalf("the plan changed %s: %s", base, why)
			}
			results := ApplyAll(ctx, []Backend{f}, acts)
			wantAllOK(t, results)
			if !strings.Contains(results[0].Output, "removed "+base) {
				t.Errorf("removal step output %q", results[0].Output)
			}
			if _, err := os.Lstat(base); !errors.Is(err, os.ErrNotExist) {
				t.Fatalf("%s still there after the apply: %v", base, err)
			}
			if err := configTest(t, s.Dir); err != nil {
				t.Fatalf("fail2ban-client -t after the apply: %s", err)
			}
			s.Restart()
			if got := s.Ignored("sshd"); !sameEntries(got, "127.0.0.0/8", "10.6.0.0/16", ip, second) {
				t.Fatalf("after a restart, sshd ignores %v; want the operator's %s and %s, %s", got, operatorIgnoreIP, ip, second)
			}
			wantIgnoredNotBanned(t, s, ip, second, "10.6.1.2")
			// Removed: the next plan has nothing to do.
			wantPlan(t, "after the removal", mustPlan(t, "after the removal", f, netip.MustParseAddr(second)))
		})
	}
}

// TestFail2banBaseKeptWhileNeeded: on the stock configuration the base
// file stays (no plan removes it), and a removal step applied after the
// operator's ignoreip is gone again (the plan was made while it was set)
// fails, with the base file restored: same bytes, same mode, and
// fail2ban's test passes.
func TestFail2banBaseKeptWhileNeeded(t *testing.T) {
	const ip, second = "192.0.2.7", "192.0.2.8"
	s, base, before := stockRedeemed(t, ip)
	ctx := t.Context()
	f := NewFail2ban(fail2banOpts(s))
	s.Client("set", "sshd", "banip", second)
	plan := mustPlan(t, "", f, netip.MustParseAddr(second))
	for _, a := range plan.Actions() {
		if a.Target == base {
			t.Fatalf("plan touches %s, still needed:\n%s", base, strings.Join(actionSummary(plan.Actions()), "\n"))
		}
	}

	admin := s.DropIn("00-admin.conf")
	addOperatorIgnoreIP(t, s.Dir, "jail.d/00-admin.conf")
	plan = mustPlan(t, "", f, netip.MustParseAddr(second))
	acts := plan.Actions()
	wantFirstOn(t, "remove", acts, base)
	if err := os.Remove(admin); err != nil {
		t.Fatal(err)
	}
	r := f.Apply(ctx, acts[0])
	if r.OK || !errors.Is(r.Err, ErrConfigTest) || !strings.Contains(r.Err.Error(), "restored "+base) {
		t.Fatalf("removal step with the base file needed: %+v", r)
	}
	if why := baseChanged(base, before); why != "" {
		t.Fatalf("%s not restored: %s", base, why)
	}
	if err := configTest(t, s.Dir); err != nil {
		t.Fatalf("fail2ban-client -t after the failed removal: %s", err)
	}
}

// stockRedeemed starts fail2ban on the stock configuration and redeems
// ip, which writes the base file; it makes the base file mode 0640, so
// that a restore that loses the mode shows, and returns the server, the
// base file and its bytes.
func stockRedeemed(t *testing.T, ip string) (s *f2btest.Server, base string, before []byte) {
	t.Helper()
	s = startStock(t, f2btest.Options{})
	wantAllOK(t, redeemIn(t, s, ip))
	base = s.DropIn(BaseDropIn)
	before, err := os.ReadFile(base)
	if err != nil {
		t.Fatalf("the stock apply wrote no %s: %v", BaseDropIn, err)
	}
	if err := os.Chmod(base, 0o640); err != nil {
		t.Fatal(err)
	}
	return s, base, before
}

// baseChanged says how the base file differs from before and mode 0640
// (stockRedeemed), "" when it does not.
func baseChanged(base string, before []byte) string {
	after, err := os.ReadFile(base)
	if err != nil {
		return err.Error()
	}
	if string(after) != string(before) {
		return fmt.Sprintf("its bytes are now %q", after)
	}
	fi, err := os.Stat(base)
	if err != nil {
		return err.Error()
	}
	if fi.Mode().Perm() != 0o640 {
		return fmt.Sprintf("its mode is now %v", fi.Mode().Perm())
	}
	return ""
}

package redeem

import (
	"context"
	"maps"
	"net/netip"
	"os"
	"slices"
	"strings"
	"testing"

	"github.com/tlsrpt/tlsrpt/internal/f2btest"
)

// startFail2ban starts a real fail2ban-server with two jails on the same
// log: testjail, with ignoreip of its own, and otherjail, with the
// default's.
func startFail2ban(t *testing.T) *f2btest.Server {
	t.Helper()
	return f2btest.Start(t, f2btest.Options{
		DefaultIgnoreIP: "127.0.0.1/8 ::1",
		Jails: []f2btest.Jail{
			{Name: "testjail", IgnoreIP: "127.0.0.1/8 192.0.2.200"},
			{Name: "otherjail"},
		},
	})
}

// fail2banOpts are the options of a backend talking to the test server.
func fail2banOpts(s *f2btest.Server) Fail2banOptions {
	return Fail2banOptions{Socket: s.Socket, Config: s.Dir}
}

func actionSummary(acts []Action) []string {
	var out []string
	for _, a := range acts {
		out = append(out, a.Kind+" "+a.Op+" "+a.Target+" "+strings.Join(a.Argv, " "))
	}
	return out
}

// mustPlan makes the plan of b for ips, and fails t, naming when, if
// making it fails or the plan holds an error.
func mustPlan(t *testing.T, when string, b Backend, ips ...netip.Addr) Plan {
	t.Helper()
	what := strings.TrimSpace("MakePlan " + when)
	plan, err := MakePlan(t.Context(), []Backend{b}, ips)
	if err != nil {
		t.Fatalf("%s: %v", what, err)
	}
	if err := plan.Err(); err != nil {
		t.Fatalf("%s: %v", what, err)
	}
	return plan
}

// wantPlan fails t unless plan's actions, as actionSummary lists them,
// are want (none when want is empty), naming when.
func wantPlan(t *testing.T, when string, plan Plan, want ...string) {
	t.Helper()
	if got := actionSummary(plan.Actions()); !slices.Equal(got, want) {
		t.Fatalf("plan %s:\n%s\nwant:\n%s", when, strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

// wantFirstOn fails t unless acts begin with a step on target, what
// naming the step (remove, write).
func wantFirstOn(t *testing.T, what string, acts []Action, target string) {
	t.Helper()
	if len(acts) == 0 || acts[0].Target != target {
		t.Fatalf("plan does not %s %s first:\n%s", what, target, strings.Join(actionSummary(acts), "\n"))
	}
}

func TestFail2banRedeem(t *testing.T) {
	s := startFail2ban(t)
	ctx := t.Context()
	f := NewFail2ban(fail2banOpts(s))
	if err := f.Available(ctx); err != nil {
		t.Fatalf("Available: %v", err)
	}
	if got := f.DropInPath(); got != s.DropIn("tlsrpt-redeemed.local") {
		t.Fatalf("DropInPath = %q", got)
	}

	logged := netip.MustParseAddr("203.0.113.5")
	manual := netip.MustParseAddr("203.0.113.6")
	bystander := "198.51.100.99"
	s.LogLine("fail from " + logged.String())
	s.LogLine("fail from " + bystander)
	f2btest.WaitFor(t, "the log lines to ban", func() bool {
		l, o := s.Banned("testjail"), s.Banned("otherjail")
		return slices.Contains(l, logged.String()) && slices.Contains(l, bystander) && slices.Contains(o, logged.String())
	})
	s.Client("set", "otherjail", "banip", manual.String())

	// Ban status, through "banned IP" and through the status fallback.
	looks := f.Banned(ctx, []netip.Addr{logged})
	if looks[0].Err != nil {
		t.Fatal(looks[0].Err)
	}
	var where []string
	for _, b := range looks[0].Bans {
		where = append(where, b.Where)
	}
	if !slices.Equal(where, []string{"otherjail", "testjail"}) { // both jails read the same log
		t.Fatalf("Banned(%s) in %v, want otherjail and testjail", logged, where)
	}
	byStatus, err := f.bannedByStatus(ctx)
	if err != nil {
		t.Fatal(err)
	}
	byBanned, err := f.bannedAll(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if !maps.EqualFunc(byStatus, byBanned, maps.Equal) || !byBanned["otherjail"][manual] || !byBanned["testjail"][logged] {
		t.Fatalf("status fallback found %v, banned found %v", byStatus, byBanned)
	}

	// Plan: keep at runtime, keep in the drop-in, then unban, jail by jail.
	plan := mustPlan(t, "", f, logged, manual)
	base := "fail2ban-client -c " + s.Dir + " -s " + s.Socket
	drop := f.DropInPath()
	wantPlan(t, "", plan,
		"keep exec otherjail "+base+" set otherjail addignoreip 203.0.113.5",
		"keep write "+drop+" add-ignoreip "+drop+" otherjail 203.0.113.5",
		"unban exec otherjail "+base+" set otherjail unbanip 203.0.113.5",
		"keep exec testjail "+base+" set testjail addignoreip 203.0.113.5",
		"keep write "+drop+" add-ignoreip "+drop+" testjail 203.0.113.5",
		"unban exec testjail "+base+" set testjail unbanip 203.0.113.5",
		"keep exec otherjail "+base+" set otherjail addignoreip 203.0.113.6",
		"keep write "+drop+" add-ignoreip "+drop+" otherjail 203.0.113.6",
		"unban exec otherjail "+base+" set otherjail unbanip 203.0.113.6",
	)
	for _, a := range plan.Actions() {
		if a.Describe == "" {
			t.Errorf("action %v has no description", a.Argv)
		}
	}

	results := ApplyAll(ctx, []Backend{f}, plan.Actions())
	for _, r := range results {
		if !r.OK {
			t.Errorf("%s: %v", r.Action.Describe, r.Err)
		}
	}
	if Failed(results) {
		t.FailNow()
	}

	checkRedeemed := func(when string) {
		t.Helper()
		for _, jail := range []string{"testjail", "otherjail"} {
			if l := s.Banned(jail); slices.Contains(l, logged.String()) || slices.Contains(l, manual.String()) {
				t.Errorf("%s: %s still bans: %v", when, jail, l)
			}
		}
		if l := s.Banned("testjail"); !slices.Contains(l, bystander) {
			t.Errorf("%s: the bystander %s was unbanned too: %v", when, bystander, l)
		}
		ti := s.Ignored("testjail")
		for _, e := range []string{"127.0.0.0/8", "192.0.2.200", "203.0.113.5"} {
			if !slices.Contains(ti, e) {
				t.Errorf("%s: testjail ignores %v, missing %s", when, ti, e)
			}
		}
		oi := s.Ignored("otherjail")
		for _, e := range []string{"127.0.0.0/8", "::1", "203.0.113.5", "203.0.113.6"} {
			if !slices.Contains(oi, e) {
				t.Errorf("%s: otherjail ignores %v, missing %s", when, oi, e)
			}
		}
	}
	checkRedeemed("after apply")

	data, err := os.ReadFile(drop)
	if err != nil {
		t.Fatal(err)
	}
	for _, w := range []string{
		"# Generated by tlsrpt",
		"[otherjail]\nignoreip = %(known/ignoreip)s 203.0.113.5 203.0.113.6\n",
		"[testjail]\nignoreip = %(known/ignoreip)s 203.0.113.5\n",
	} {
		if !strings.Contains(string(data), w) {
			t.Errorf("drop-in lacks %q:\n%s", w, data)
		}
	}

	// A reload drops runtime changes; the drop-in keeps ours and the
	// operator's own ignoreip.
	s.Client("reload", "testjail")
	s.Client("reload", "otherjail")
	checkRedeemed("after reload")

	// Second run: nothing to do.
	wantPlan(t, "again", mustPlan(t, "again", f, logged, manual))

	// The log ban no longer happens: fail2ban ignores the address.
	s.LogLine("fail from " + logged.String())
	f2btest.WaitFor(t, "fail2ban to ignore the redeemed address", func() bool {
		log, _ := os.ReadFile(s.ServerLog)
		return strings.Count(string(log), "Ignore "+logged.String()) >= 2 // one per jail
	})
	if l := s.Banned("testjail"); slices.Contains(l, logged.String()) {
		t.Fatalf("redeemed address banned again from the log: %v", l)
	}

	// A manual ban ignores ignoreip: the plan unbans it again, and only that.
	s.Client("set", "testjail", "banip", logged.String())
	plan = mustPlan(t, "after manual ban", f, logged)
	wantPlan(t, "after manual ban", plan, "unban exec testjail "+base+" set testjail unbanip 203.0.113.5")
	if results := ApplyAll(ctx, []Backend{f}, plan.Actions()); Failed(results) {
		t.Fatalf("apply after manual ban: %v", results[0].Err)
	}
	if l := s.Banned("testjail"); slices.Contains(l, logged.String()) {
		t.Fatalf("manual ban not undone: %v", l)
	}

	// A runtime list that lost the address (a restart without the
	// drop-in would) is repaired from the drop-in even without a ban.
	s.Client("set", "testjail", "delignoreip", logged.String())
	wantPlan(t, "after delignoreip", mustPlan(t, "after delignoreip", f, logged),
		"keep exec testjail "+base+" set testjail addignoreip 203.0.113.5")
}

func TestFail2banReloadOptionAndWiderIgnore(t *testing.T) {
	s := startFail2ban(t)
	ctx := t.Context()
	opts := fail2banOpts(s)
	opts.Reload = true
	opts.Jails = []string{"testjail"}
	f := NewFail2ban(opts)

	// 127.0.0.5 is in a network of the operator's own ignoreip: a manual
	// ban is only unbanned, no keep steps.
	s.Client("set", "testjail", "banip", "127.0.0.5")
	s.Client("set", "otherjail", "banip", "192.0.2.201")
	plan := mustPlan(t, "", f, netip.MustParseAddr("127.0.0.5"), netip.MustParseAddr("192.0.2.201"))
	var kinds []string
	for _, a := range plan.Actions() {
		kinds = append(kinds, a.Kind+" "+strings.Join(a.Argv[len(a.Argv)-3:], " "))
	}
	// otherjail is not consulted (Jails), so 192.0.2.201 has no plan.
	want := []string{"unban testjail unbanip 127.0.0.5"}
	if !slices.Equal(kinds, want) {
		t.Fatalf("plan %v, want %v", kinds, want)
	}

	s.Client("set", "testjail", "banip", "198.51.100.1")
	plan = mustPlan(t, "", f, netip.MustParseAddr("198.51.100.1"))
	acts := plan.Actions()
	if len(acts) != 4 || !slices.Equal(acts[2].Argv[len(acts[2].Argv)-2:], []string{"reload", "testjail"}) {
		t.Fatalf("with Reload, plan is:\n%s", strings.Join(actionSummary(acts), "\n"))
	}
	if results := ApplyAll(ctx, []Backend{f}, acts); Failed(results) {
		for _, r := range results {
			t.Errorf("%s: ok=%v %v", r.Action.Describe, r.OK, r.Err)
		}
		t.FailNow()
	}
	if l := s.Banned("testjail"); slices.Contains(l, "198.51.100.1") {
		t.Fatalf("still banned after reload and unban: %v", l)
	}
	if l := s.Ignored("testjail"); !slices.Contains(l, "198.51.100.1") || !slices.Contains(l, "192.0.2.200") {
		t.Fatalf("ignore list after reload: %v", l)
	}
}

func TestFail2banApplyRefusesForeignActions(t *testing.T) {
	run := func(ctx context.Context, name string, args ...string) ([]byte, error) {
		t.Fatalf("runner called: %s %v", name, args)
		return nil, nil
	}
	f := NewFail2ban(Fail2banOptions{Socket: "/run/x.sock", JailD: t.TempDir(), Run: run})
	ip := netip.MustParseAddr("192.0.2.1")
	good := f.execAction(KindUnban, "sshd", ip, "unban", "set", "sshd", "unbanip", ip.String())
	cases := map[string]Action{
		"ban instead of unban": func() Action { a := good; a.Argv = f.argv("set", "sshd", "banip", ip.String()); return a }(),
		"other address":        func() Action { a := good; a.IP = netip.MustParseAddr("192.0.2.2"); return a }(),
		"other program":        func() Action { a := good; a.Argv = append([]string{"/bin/sh"}, good.Argv[1:]...); return a }(),
		"other backend":        func() Action { a := good; a.Backend = "ipqbdb"; return a }(),
		"drop-in elsewhere": {Backend: "fail2ban", Kind: KindKeep, Op: OpWrite, IP: ip, Target: "/etc/passwd",
			Argv: []string{"add-ignoreip", "/etc/passwd", "sshd", ip.String()}},
	}
	for name, a := range cases {
		r := f.Apply(t.Context(), a)
		if r.OK || r.Err == nil {
			t.Errorf("%s: applied", name)
		}
	}
}

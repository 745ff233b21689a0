package redeem

import (
	"context"
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

// f2bServer is a real fail2ban-server running on a configuration of its own.
type f2bServer struct {
	dir, sock string
	opts      Fail2banOptions
}

// startFail2ban writes a self-contained configuration (no Debian paths)
// with two jails on a polled log file and a dummy action, starts
// fail2ban-server in the foreground and waits for it to answer ping.
func startFail2ban(t *testing.T) *f2bServer {
	t.Helper()
	for _, prog := range []string{"fail2ban-server", "fail2ban-client"} {
		if _, err := exec.LookPath(prog); err != nil {
			t.Fatalf("%s not found (install Debian's fail2ban): %v", prog, err)
		}
	}
	dir := t.TempDir()
	if len(dir) > 80 { // keep the socket path under the 108-byte limit
		d, err := os.MkdirTemp("/tmp", "f2b")
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { os.RemoveAll(d) })
		dir = d
	}
	s := &f2bServer{dir: dir, sock: filepath.Join(dir, "f2b.sock")}
	files := map[string]string{
		"fail2ban.conf":       fmt.Sprintf("[Definition]\nloglevel = INFO\nlogtarget = %s/fail2ban.log\nsyslogsocket = auto\nsocket = %s\npidfile = %s/f2b.pid\ndbfile = :memory:\ndbpurgeage = 1d\nallowipv6 = auto\n", dir, s.sock, dir),
		"filter.d/test.conf":  "[Definition]\nfailregex = ^fail from <HOST>$\ndatepattern = {NONE}\n",
		"action.d/dummy.conf": fmt.Sprintf("[Definition]\nactionban = echo ban <ip> >> %[1]s/actions.log\nactionunban = echo unban <ip> >> %[1]s/actions.log\n", dir),
		"jail.conf": fmt.Sprintf(`[DEFAULT]
ignoreip = 127.0.0.1/8 ::1
backend = polling
logpath = %s/auth.log
filter = test
action = dummy
maxretry = 1
findtime = 3600
bantime = 3600

[testjail]
enabled = true
ignoreip = 127.0.0.1/8 192.0.2.200

[otherjail]
enabled = true
`, dir),
		"jail.d/README": "drop-ins go here\n",
		"auth.log":      "",
	}
	for name, content := range files {
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	cmd := exec.Command("fail2ban-server", "-c", dir, "-s", s.sock, "-p", filepath.Join(dir, "f2b.pid"), "-x", "-f")
	out, err := os.Create(filepath.Join(dir, "server.out"))
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		t.Fatalf("starting fail2ban-server: %v", err)
	}
	t.Cleanup(func() {
		exec.Command("fail2ban-client", "-s", s.sock, "stop").Run()
		done := make(chan struct{})
		go func() { cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(5 * time.Second):
			cmd.Process.Kill()
			<-done
		}
		out.Close()
	})
	s.opts = Fail2banOptions{Socket: s.sock, Config: dir}
	deadline := time.Now().Add(15 * time.Second)
	for {
		if err := exec.Command("fail2ban-client", "-c", dir, "-s", s.sock, "ping").Run(); err == nil {
			break
		}
		if time.Now().After(deadline) {
			log, _ := os.ReadFile(filepath.Join(dir, "server.out"))
			t.Fatalf("fail2ban-server did not answer ping within 15s; its output:\n%s", log)
		}
		time.Sleep(100 * time.Millisecond)
	}
	return s
}

// client runs fail2ban-client against the test server.
func (s *f2bServer) client(t *testing.T, args ...string) string {
	t.Helper()
	all := append([]string{"-c", s.dir, "-s", s.sock}, args...)
	out, err := exec.Command("fail2ban-client", all...).Output()
	if err != nil {
		t.Fatalf("fail2ban-client %s: %v", strings.Join(args, " "), err)
	}
	return string(out)
}

func (s *f2bServer) logLine(t *testing.T, line string) {
	t.Helper()
	f, err := os.OpenFile(filepath.Join(s.dir, "auth.log"), os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := fmt.Fprintln(f, line); err != nil {
		t.Fatal(err)
	}
}

// waitFor polls cond every 100ms for up to 15s.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func (s *f2bServer) bannedList(t *testing.T, jail string) []string {
	return strings.Fields(fieldAfter(s.client(t, "status", jail), "Banned IP list:"))
}

func (s *f2bServer) ignoreList(t *testing.T, jail string) []string {
	return parseIgnoreList(s.client(t, "get", jail, "ignoreip"))
}

func actionSummary(acts []Action) []string {
	var out []string
	for _, a := range acts {
		out = append(out, a.Kind+" "+a.Op+" "+a.Target+" "+strings.Join(a.Argv, " "))
	}
	return out
}

func TestFail2banRedeem(t *testing.T) {
	s := startFail2ban(t)
	ctx := context.Background()
	f := NewFail2ban(s.opts)
	if err := f.Available(ctx); err != nil {
		t.Fatalf("Available: %v", err)
	}
	if got := f.DropInPath(); got != filepath.Join(s.dir, "jail.d", "tlsrpt-redeemed.local") {
		t.Fatalf("DropInPath = %q", got)
	}

	logged := netip.MustParseAddr("203.0.113.5")
	manual := netip.MustParseAddr("203.0.113.6")
	bystander := "198.51.100.99"
	s.logLine(t, "fail from "+logged.String())
	s.logLine(t, "fail from "+bystander)
	waitFor(t, "the log lines to ban", func() bool {
		l, o := s.bannedList(t, "testjail"), s.bannedList(t, "otherjail")
		return slices.Contains(l, logged.String()) && slices.Contains(l, bystander) && slices.Contains(o, logged.String())
	})
	s.client(t, "set", "otherjail", "banip", manual.String())

	// Ban status, through "banned IP" and through the status fallback.
	bans, err := f.Banned(ctx, logged)
	if err != nil {
		t.Fatal(err)
	}
	var where []string
	for _, b := range bans {
		where = append(where, b.Where)
	}
	slices.Sort(where)
	if !slices.Equal(where, []string{"otherjail", "testjail"}) { // both jails read the same log
		t.Fatalf("Banned(%s) in %v, want otherjail and testjail", logged, where)
	}
	byStatus, err := f.bannedByStatus(ctx, logged)
	if err != nil {
		t.Fatal(err)
	}
	slices.Sort(byStatus)
	if !slices.Equal(byStatus, where) {
		t.Fatalf("status fallback found %v, banned found %v", byStatus, where)
	}

	// Plan: keep at runtime, keep in the drop-in, then unban, jail by jail.
	plan, err := MakePlan(ctx, []Backend{f}, []netip.Addr{logged, manual})
	if err != nil || plan.Err() != nil {
		t.Fatalf("MakePlan: %v %v", err, plan.Err())
	}
	got := actionSummary(plan.Actions())
	base := "fail2ban-client -c " + s.dir + " -s " + s.sock
	drop := f.DropInPath()
	want := []string{
		"keep exec otherjail " + base + " set otherjail addignoreip 203.0.113.5",
		"keep write " + drop + " add-ignoreip " + drop + " otherjail 203.0.113.5",
		"unban exec otherjail " + base + " set otherjail unbanip 203.0.113.5",
		"keep exec testjail " + base + " set testjail addignoreip 203.0.113.5",
		"keep write " + drop + " add-ignoreip " + drop + " testjail 203.0.113.5",
		"unban exec testjail " + base + " set testjail unbanip 203.0.113.5",
		"keep exec otherjail " + base + " set otherjail addignoreip 203.0.113.6",
		"keep write " + drop + " add-ignoreip " + drop + " otherjail 203.0.113.6",
		"unban exec otherjail " + base + " set otherjail unbanip 203.0.113.6",
	}
	if !slices.Equal(got, want) {
		t.Fatalf("plan:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
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
			if l := s.bannedList(t, jail); slices.Contains(l, logged.String()) || slices.Contains(l, manual.String()) {
				t.Errorf("%s: %s still bans: %v", when, jail, l)
			}
		}
		if l := s.bannedList(t, "testjail"); !slices.Contains(l, bystander) {
			t.Errorf("%s: the bystander %s was unbanned too: %v", when, bystander, l)
		}
		ti := s.ignoreList(t, "testjail")
		for _, e := range []string{"127.0.0.0/8", "192.0.2.200", "203.0.113.5"} {
			if !slices.Contains(ti, e) {
				t.Errorf("%s: testjail ignores %v, missing %s", when, ti, e)
			}
		}
		oi := s.ignoreList(t, "otherjail")
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
	s.client(t, "reload", "testjail")
	s.client(t, "reload", "otherjail")
	checkRedeemed("after reload")

	// Second run: nothing to do.
	plan, err = MakePlan(ctx, []Backend{f}, []netip.Addr{logged, manual})
	if err != nil || plan.Err() != nil {
		t.Fatalf("MakePlan again: %v %v", err, plan.Err())
	}
	if acts := plan.Actions(); len(acts) != 0 {
		t.Fatalf("second plan not empty:\n%s", strings.Join(actionSummary(acts), "\n"))
	}

	// The log ban no longer happens: fail2ban ignores the address.
	s.logLine(t, "fail from "+logged.String())
	waitFor(t, "fail2ban to ignore the redeemed address", func() bool {
		log, _ := os.ReadFile(filepath.Join(s.dir, "fail2ban.log"))
		return strings.Count(string(log), "Ignore "+logged.String()) >= 2 // one per jail
	})
	if l := s.bannedList(t, "testjail"); slices.Contains(l, logged.String()) {
		t.Fatalf("redeemed address banned again from the log: %v", l)
	}

	// A manual ban ignores ignoreip: the plan unbans it again, and only that.
	s.client(t, "set", "testjail", "banip", logged.String())
	plan, err = MakePlan(ctx, []Backend{f}, []netip.Addr{logged})
	if err != nil || plan.Err() != nil {
		t.Fatalf("MakePlan after manual ban: %v %v", err, plan.Err())
	}
	got = actionSummary(plan.Actions())
	want = []string{"unban exec testjail " + base + " set testjail unbanip 203.0.113.5"}
	if !slices.Equal(got, want) {
		t.Fatalf("plan after manual ban:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	if results := ApplyAll(ctx, []Backend{f}, plan.Actions()); Failed(results) {
		t.Fatalf("apply after manual ban: %v", results[0].Err)
	}
	if l := s.bannedList(t, "testjail"); slices.Contains(l, logged.String()) {
		t.Fatalf("manual ban not undone: %v", l)
	}

	// A runtime list that lost the address (a restart without the
	// drop-in would) is repaired from the drop-in even without a ban.
	s.client(t, "set", "testjail", "delignoreip", logged.String())
	plan, err = MakePlan(ctx, []Backend{f}, []netip.Addr{logged})
	if err != nil || plan.Err() != nil {
		t.Fatalf("MakePlan after delignoreip: %v %v", err, plan.Err())
	}
	got = actionSummary(plan.Actions())
	want = []string{"keep exec testjail " + base + " set testjail addignoreip 203.0.113.5"}
	if !slices.Equal(got, want) {
		t.Fatalf("plan after delignoreip:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

func TestFail2banReloadOptionAndWiderIgnore(t *testing.T) {
	s := startFail2ban(t)
	ctx := context.Background()
	opts := s.opts
	opts.Reload = true
	opts.Jails = []string{"testjail"}
	f := NewFail2ban(opts)

	// 127.0.0.5 is in a network of the operator's own ignoreip: a manual
	// ban is only unbanned, no keep steps.
	s.client(t, "set", "testjail", "banip", "127.0.0.5")
	s.client(t, "set", "otherjail", "banip", "192.0.2.201")
	plan, err := MakePlan(ctx, []Backend{f}, []netip.Addr{netip.MustParseAddr("127.0.0.5"), netip.MustParseAddr("192.0.2.201")})
	if err != nil || plan.Err() != nil {
		t.Fatalf("MakePlan: %v %v", err, plan.Err())
	}
	var kinds []string
	for _, a := range plan.Actions() {
		kinds = append(kinds, a.Kind+" "+strings.Join(a.Argv[len(a.Argv)-3:], " "))
	}
	// otherjail is not consulted (Jails), so 192.0.2.201 has no plan.
	want := []string{"unban testjail unbanip 127.0.0.5"}
	if !slices.Equal(kinds, want) {
		t.Fatalf("plan %v, want %v", kinds, want)
	}

	s.client(t, "set", "testjail", "banip", "198.51.100.1")
	plan, err = MakePlan(ctx, []Backend{f}, []netip.Addr{netip.MustParseAddr("198.51.100.1")})
	if err != nil || plan.Err() != nil {
		t.Fatalf("MakePlan: %v %v", err, plan.Err())
	}
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
	if l := s.bannedList(t, "testjail"); slices.Contains(l, "198.51.100.1") {
		t.Fatalf("still banned after reload and unban: %v", l)
	}
	if l := s.ignoreList(t, "testjail"); !slices.Contains(l, "198.51.100.1") || !slices.Contains(l, "192.0.2.200") {
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
		r := f.Apply(context.Background(), a)
		if r.OK || r.Err == nil {
			t.Errorf("%s: applied", name)
		}
	}
}

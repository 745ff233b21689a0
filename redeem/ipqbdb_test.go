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
)

// standinDir is where the ipqbdb stand-in scripts live.
var standinDir, _ = filepath.Abs("../contrib/ipqbdb-standin")

// standin prepares a state directory for the stand-ins and returns a
// function running one of them in it.
func standin(t *testing.T) (state string, run func(tool string, args ...string) (string, error)) {
	t.Helper()
	state = t.TempDir()
	t.Setenv("IPQBDB_STANDIN_DIR", state)
	return state, func(tool string, args ...string) (string, error) {
		out, err := exec.Command(filepath.Join(standinDir, tool), args...).CombinedOutput()
		return string(out), err
	}
}

func calls(t *testing.T, state string) []string {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(state, "calls.log"))
	if err != nil {
		t.Fatal(err)
	}
	return strings.Split(strings.TrimSpace(string(data)), "\n")
}

func TestIPQBDBStandinsRejectUndocumentedArguments(t *testing.T) {
	_, run := standin(t)
	for _, c := range [][]string{
		{"ibd-del"},
		{"ibd-del", "--ip"},
		{"ibd-del", "--ip", "2001:db8::1"},
		{"ibd-del", "--ip", "192.0.2.256"},
		{"ibd-del", "--list", "--ip", "192.0.2.1"},
		{"ibd-del", "-i", "192.0.2.1"},
		{"ibd-white", "192.0.2.1"},
		{"ibd-white", "--ip", "192.0.2.1; rm -rf /"},
		{"ibd-ban"},
		{"ibd-ban", "--bogus", "192.0.2.1"},
		{"ibd-ban", "example.com"},
	} {
		_, err := run(c[0], c[1:]...)
		var ee *exec.ExitError
		if !errors.As(err, &ee) || ee.ExitCode() != 2 {
			t.Errorf("%v: err %v, want exit status 2", c, err)
		}
	}
}

func TestIPQBDBRedeem(t *testing.T) {
	state, run := standin(t)
	ctx := context.Background()
	dbdir := filepath.Join(state, "db")
	if out, err := run("ibd-ban", "--db-path", dbdir, "--reason", "spam", "192.0.2.7", "192.0.2.99"); err != nil {
		t.Fatalf("ibd-ban: %v: %s", err, out)
	}
	q := NewIPQBDB(IPQBDBOptions{BinDir: standinDir, DBPath: dbdir})
	if err := q.Available(ctx); err != nil {
		t.Fatalf("Available: %v", err)
	}
	ip := netip.MustParseAddr("192.0.2.7")
	bans, err := q.Banned(ctx, ip)
	if err != nil {
		t.Fatal(err)
	}
	if len(bans) != 1 || bans[0].Detail != "192.0.2.7\t1\tspam" {
		t.Fatalf("Banned = %+v", bans)
	}
	v6 := netip.MustParseAddr("2001:db8::7")
	plan, err := MakePlan(ctx, []Backend{q}, []netip.Addr{ip, netip.MustParseAddr("192.0.2.8"), v6})
	if err != nil || plan.Err() != nil {
		t.Fatalf("MakePlan: %v %v", err, plan.Err())
	}
	got := actionSummary(plan.Actions())
	bin := standinDir + "/"
	want := []string{
		"keep exec ipqbdb whitelist " + bin + "ibd-white --db-path " + dbdir + " --ip 192.0.2.7",
		"unban exec ipqbdb block database " + bin + "ibd-del --db-path " + dbdir + " --ip 192.0.2.7",
	}
	if !slices.Equal(got, want) {
		t.Fatalf("plan:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	results := ApplyAll(ctx, []Backend{q}, plan.Actions())
	if Failed(results) {
		t.Fatalf("apply: %+v", results)
	}
	if results[1].Output != "deleted 192.0.2.7" {
		t.Errorf("ibd-del output %q", results[1].Output)
	}
	if out, _ := run("ibd-del", "--db-path", dbdir, "--list"); strings.Contains(out, "192.0.2.7") || !strings.Contains(out, "192.0.2.99") {
		t.Fatalf("block list after apply:\n%s", out)
	}
	if out, _ := run("ibd-white", "--db-path", dbdir, "--list"); !strings.Contains(out, "192.0.2.7") {
		t.Fatalf("whitelist after apply:\n%s", out)
	}

	// Second run: nothing. Banned again: only the deletion.
	plan, err = MakePlan(ctx, []Backend{q}, []netip.Addr{ip})
	if err != nil || len(plan.Actions()) != 0 {
		t.Fatalf("second plan: %v %v", actionSummary(plan.Actions()), err)
	}
	run("ibd-ban", "--db-path", dbdir, "192.0.2.7")
	plan, err = MakePlan(ctx, []Backend{q}, []netip.Addr{ip})
	if got := actionSummary(plan.Actions()); err != nil || !slices.Equal(got, want[1:]) {
		t.Fatalf("plan after rebanning: %v %v", got, err)
	}

	// Every call the backend made used only the documented arguments.
	for _, c := range calls(t, state) {
		f := strings.Fields(c)
		switch {
		case f[0] == "ibd-ban":
		case len(f) == 4 && f[1] == "--db-path" && f[3] == "--list":
		case len(f) == 5 && f[1] == "--db-path" && f[3] == "--ip" && f[4] == "192.0.2.7":
		default:
			t.Errorf("unexpected call %q", c)
		}
	}

	// Apply refuses what Plan would not make.
	bad := plan.Actions()[0]
	bad.Argv = []string{bin + "ibd-ban", "192.0.2.7"}
	if r := q.Apply(ctx, bad); r.OK || !errors.Is(r.Err, ErrForeignAction) {
		t.Fatalf("Apply of ibd-ban: %+v", r)
	}
}

func TestIPQBDBUnavailable(t *testing.T) {
	q := NewIPQBDB(IPQBDBOptions{BinDir: t.TempDir()})
	if err := q.Available(context.Background()); !errors.Is(err, ErrUnavailable) {
		t.Fatalf("Available with no tools = %v", err)
	}
}

package cmdutil

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/tlsrpt/tlsrpt/filter"
	"github.com/tlsrpt/tlsrpt/ingest"
	"github.com/tlsrpt/tlsrpt/probe"
	"github.com/tlsrpt/tlsrpt/redeem"
	"github.com/tlsrpt/tlsrpt/report"
	"github.com/tlsrpt/tlsrpt/spool"
	"github.com/tlsrpt/tlsrpt/store"
	"github.com/tlsrpt/tlsrpt/web"
)

// TestHints explains each kind of error the table knows, made as its
// package makes it, and wants the text users saw when the packages wrote
// the fix themselves, and the exit code.
func TestHints(t *testing.T) {
	t.Setenv("TLSRPT_DB", "")
	t.Setenv("XDG_STATE_HOME", "")
	t.Setenv("HOME", "")
	_, noDB := ResolveDB("")
	_, noState := StateDir()
	details := bytesOf(`{"organization-name":"O","report-id":"r","policies":[{"policy":{"policy-type":"sts","policy-domain":"example.net"},"summary":{},"failure-details":[{"result-type":"x"},{"result-type":"y"}]}]}`)
	_, tooManyDetails := report.ParseJSON(details, report.Limits{MaxDetails: 1})
	policies := bytesOf(`{"organization-name":"O","report-id":"r","policies":[{"policy":{"policy-type":"sts","policy-domain":"a"},"summary":{}},{"policy":{"policy-type":"sts","policy-domain":"b"},"summary":{}}]}`)
	_, tooManyPolicies := report.ParseJSON(policies, report.Limits{MaxPolicies: 1})
	probeErr := &redeem.ProbeError{Missing: []redeem.MissingOption{{Program: "/bin/ibd-del", Option: "--list", Command: "list-blocked", Source: "f:1"}}}
	probeNoHelp := &redeem.ProbeError{NoHelp: []redeem.HelpFailure{{Program: "/bin/ibd-del", Err: errors.New("exit status 1")}}}
	for _, tc := range []struct {
		name string
		err  error
		want string
		code int
	}{
		{"no home for the database", noDB, "locating the database: $HOME is not defined (set --db or $TLSRPT_DB)", 1},
		{"no home for the state folder", noState, "locating the state folder: $HOME is not defined (set $XDG_STATE_HOME)", 1},
		{"details", tooManyDetails, "report: parsing JSON: more than 1 failure details in one input (--max-details): report: input exceeds size limit", 1},
		{"policies", tooManyPolicies, "report: parsing JSON: more than 1 policies in one input (--max-policies): report: input exceeds size limit", 1},
		{"import file", fmt.Errorf("x.eml: %w", fmt.Errorf("%w: %w", &ingest.FileTooLargeError{Max: 1000}, report.ErrTooLarge)),
			"x.eml: file over 1000 bytes, skipped (raise the bound with --max-message): report: input exceeds size limit", 1},
		{"filter message", &filter.MessageTooLargeError{Max: 10}, "message too large to check (over 10 bytes); raise --max-message to check it", 1},
		{"spool", fmt.Errorf("%w: %w", spool.ErrFull, &spool.FullError{Used: 3, Adding: 2, Max: 4}),
			"spool: spool full: its files take 3 bytes, this report 2 more, the bound is 4 (--spool-max)", 1},
		{"every interface", web.CheckListen(":8461", false),
			`web: refusing to listen on ":8461": that is every interface; the dashboard shows who is banned and why: listen on 127.0.0.1, or give --auth FILE (htpasswd -B)`, ExitUsage},
		{"host name", web.CheckListen("mx.example.com:8461", false),
			`web: refusing to listen on "mx.example.com:8461": give a loopback IP address (127.0.0.1 or ::1), or --auth FILE (htpasswd -B)`, ExitUsage},
		{"off loopback", web.CheckListen("192.0.2.1:8461", false),
			`web: refusing to listen on "192.0.2.1:8461": 192.0.2.1 is not a loopback address; the dashboard shows who is banned and why: give --auth FILE (htpasswd -B)`, ExitUsage},
		{"not host:port", web.CheckListen("8461", false),
			`web: refusing to listen on "8461": want host:port (127.0.0.1:8461): address 8461: missing port in address`, ExitUsage},
		{"password in clear", web.CheckClearAuth("192.0.2.1:8461", false, false),
			`web: refusing to listen on "192.0.2.1:8461" with a password file over plain HTTP: passwords would cross the network in clear: give --tls-cert and --tls-key, or --behind-tls-proxy when a TLS reverse proxy is in front`, ExitUsage},
		{"probe", fmt.Errorf("ipqbdb: %w", probeErr),
			"ipqbdb: probing the tools with --help: /bin/ibd-del --help does not list --list, which list-blocked uses (f:1): nothing else was run; give the command lines your ipqbdb takes with --ipqbdb-commands FILE (see docs/ipqbdb.md)", 1},
		{"probe, no --help", probeNoHelp,
			"probing the tools with --help: /bin/ibd-del --help failed: exit status 1: nothing else was run; give the command lines your ipqbdb takes with --ipqbdb-commands FILE (see docs/ipqbdb.md), or skip the probe with --ipqbdb-no-probe if your tools have no --help (unsafe)", 1},
		{"no name server", fmt.Errorf("probe: %w", &probe.NameServerError{File: "/etc/resolv.conf", Err: errors.New("open /etc/resolv.conf: no such file or directory")}),
			"probe: reading the name servers of /etc/resolv.conf: open /etc/resolv.conf: no such file or directory (give --resolver)", 1},
		{"store busy", fmt.Errorf("store: vacuuming x: %w", store.ErrBusy), "store: vacuuming x: store: database is busy (another tlsrpt holds the database; try again)", 1},
		{"no database", fmt.Errorf("store: opening database %q to read: %w", "x.db", store.ErrNoDatabase),
			`store: opening database "x.db" to read: store: no database (nothing is recorded yet: tlsrpt filter or tlsrpt import creates it; or choose another with --db)`, 1},
		{"store permission", &opening{&fs.PathError{Op: "open", Path: "/x.db", Err: fs.ErrPermission}},
			"open /x.db: permission denied (run as a user who may write it, or choose another file with --db)", 1},
		// A file other than the store's is no business of --db.
		{"other permission", &fs.PathError{Op: "open", Path: "/etc/allowlist", Err: fs.ErrPermission}, "open /etc/allowlist: permission denied", 1},
		{"filter output", fmt.Errorf("%w: writing: %w", filter.ErrOutput, errors.New("broken pipe")), "filter: message not written whole: writing: broken pipe", ExitTempFail},
		{"usage", UsageErrorf("--since %q: want a date", "x"), `--since "x": want a date`, ExitUsage},
		{"unknown", errors.New("something else"), "something else", 1},
	} {
		if tc.err == nil {
			t.Errorf("%s: no error to explain", tc.name)
			continue
		}
		got := Explain(tc.err)
		if got.Error() != tc.want || ExitCode(got) != tc.code || ExitCode(tc.err) != tc.code {
			t.Errorf("%s:\n got %q, exit %d (unexplained %d)\nwant %q, exit %d", tc.name, got, ExitCode(got), ExitCode(tc.err), tc.want, tc.code)
		}
		if !errors.Is(got, tc.err) {
			t.Errorf("%s: the explained error does not wrap the error", tc.name)
		}
		// Explained again, even wrapped, the hint is not written twice.
		again := Explain(fmt.Errorf("doing: %w", got))
		if want := "doing: " + tc.want; again.Error() != want {
			t.Errorf("%s explained twice:\n got %q\nwant %q", tc.name, again, want)
		}
	}
	if Explain(nil) != nil || Describe(nil) != "" {
		t.Error("Explain(nil) is not nil")
	}
}

// TestHintsKnowNoFlag: the domain errors the table explains name no flag
// and no environment variable themselves, which is why the table exists.
func TestHintsKnowNoFlag(t *testing.T) {
	details := bytesOf(`{"organization-name":"O","report-id":"r","policies":[{"policy":{"policy-type":"sts","policy-domain":"example.net"},"summary":{},"failure-details":[{"result-type":"x"},{"result-type":"y"}]}]}`)
	_, tooMany := report.ParseJSON(details, report.Limits{MaxDetails: 1})
	for _, err := range []error{
		tooMany,
		web.CheckListen(":8461", false), web.CheckListen("mx.example.com:1", false), web.CheckListen("192.0.2.1:1", false),
		web.CheckClearAuth("192.0.2.1:8461", false, false),
		&redeem.ProbeError{NoHelp: []redeem.HelpFailure{{Program: "p", Err: errors.New("x")}}},
		&spool.FullError{Used: 1, Adding: 1, Max: 1}, &probe.NameServerError{File: "/etc/resolv.conf"}, &ingest.FileTooLargeError{Max: 1}, &filter.MessageTooLargeError{Max: 1},
	} {
		if s := err.Error(); strings.Contains(strings.ReplaceAll(s, " --help", ""), "--") || strings.Contains(s, "$") {
			t.Errorf("domain error %q names a flag or a variable", s)
		}
	}
}

// TestResolveDB: --db, else $TLSRPT_DB, else the state folder; without a
// home folder the error says what to set, once.
func TestResolveDB(t *testing.T) {
	home := t.TempDir()
	t.Setenv("HOME", home)
	for _, tc := range []struct {
		flag, env, xdg, want string
	}{
		{want: filepath.Join(home, ".local/state/tlsrpt/tlsrpt.db")},
		{xdg: "/var/lib/state", want: "/var/lib/state/tlsrpt/tlsrpt.db"},
		{env: "/srv/tlsrpt.db", xdg: "/var/lib/state", want: "/srv/tlsrpt.db"},
		{flag: "x.db", env: "/srv/tlsrpt.db", xdg: "/var/lib/state", want: "x.db"},
	} {
		t.Setenv("TLSRPT_DB", tc.env)
		t.Setenv("XDG_STATE_HOME", tc.xdg)
		got, err := ResolveDB(tc.flag)
		if err != nil || got != tc.want {
			t.Errorf("ResolveDB(%q) with TLSRPT_DB=%q XDG_STATE_HOME=%q = %q, %v; want %q",
				tc.flag, tc.env, tc.xdg, got, err, tc.want)
		}
	}
	t.Setenv("TLSRPT_DB", "")
	t.Setenv("XDG_STATE_HOME", "")
	t.Setenv("HOME", "")
	f := New(nil, nil, nil)
	_, err := f.OpenStoreReadOnly()
	if !errors.Is(err, ErrNoDefaultDB) || strings.Count(Describe(err), "$TLSRPT_DB") != 1 {
		t.Errorf("OpenStoreReadOnly without HOME: %v; want ErrNoDefaultDB naming $TLSRPT_DB once", Describe(err))
	}
}

// TestOpenStoreHintOnce: a store that cannot be opened is explained once,
// however often the error is explained again on its way out.
func TestOpenStoreHintOnce(t *testing.T) {
	f := New(nil, nil, nil)
	f.DB = filepath.Join(t.TempDir(), "missing.db")
	_, err := f.OpenStoreReadOnly()
	if !errors.Is(err, store.ErrNoDatabase) {
		t.Fatalf("OpenStoreReadOnly of a missing file: %v", err)
	}
	if n := strings.Count(Describe(fmt.Errorf("x: %w", err)), "nothing is recorded yet"); n != 1 {
		t.Errorf("hint written %d times: %s", n, Describe(err))
	}
	if _, err := os.Stat(f.DB); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("a read-only open created the database: %v", err)
	}
}

func bytesOf(s string) *strings.Reader { return strings.NewReader(s) }

// TestExplainSilent: an error the command has reported itself stays
// silent, whatever the table knows of it (the filter's output error).
func TestExplainSilent(t *testing.T) {
	err := &ExitError{Code: ExitTempFail, Err: fmt.Errorf("%w: writing", filter.ErrOutput), Silent: true}
	var ee *ExitError
	if got := Explain(err); !errors.As(got, &ee) || !ee.Silent || ExitCode(got) != ExitTempFail {
		t.Errorf("Explain of a silent error: %#v", got)
	}
}

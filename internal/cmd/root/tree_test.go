package root

import (
	"bytes"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/spf13/cobra"

	"github.com/tlsrpt/tlsrpt/internal/cmd/cmdutil"
)

// TestPartialTree: a command line that names one command builds that
// command alone, and every command line, with or without a configuration
// file, gives the same exit code and output as on the whole tree: help,
// suggestions, flag errors, completion, and a file whose sections or
// global keys belong to other commands (accepted or refused as before).
func TestPartialTree(t *testing.T) {
	dir := t.TempDir()
	t.Setenv("XDG_STATE_HOME", filepath.Join(dir, "state"))
	t.Setenv("TLSRPT_DB", "")
	t.Setenv("TLSRPT_CONFIG", "")
	argvs := [][]string{
		{}, {"--version"}, {"-v"}, {"--version", "--help"}, {"--version=false"}, {"--help"},
		{"help"}, {"help", "filter"}, {"help", "allowlist", "check"}, {"filter", "--help"},
		{"--db", "--version"}, {"--db", "x.db", "filter", "--help"}, {"--syslog", "filter", "--help"},
		{"--help", "filter"}, {"filter", "--version"}, {"filtr"}, {"frob"}, {"prune"},
		{"prune", "--older-than", "frob"}, {"allowlist"}, {"allowlist", "chek"}, {"migrate-db"},
		{"completion", "bash"}, {"__complete", "fil"}, {"__complete", "filter", "--"},
		{"--", "filter"}, {"-h"}, {"review", "extra"}, {"stats", "--frob"},
		{"config", "prune"}, {"digest", "--help"},
	}
	files := []string{
		"",
		"[prune]\nolder-than = frob\n",
		"[serve]\nlisten = 127.0.0.1:1\n",
		"[frob]\n",
		"max-details = 5\n",
		"older-than = 1d\nolder-than = 2d\n",
		"no-dkim\n[prune]\nolder-than = 400d\n",
		"[prune]\nhost = x\n",
		"[allowlist check]\nfrob = 1\n",
		"config = x\n",
	}
	for i, file := range files {
		conf := "--no-config"
		if file != "" {
			path := filepath.Join(dir, "conf", string(rune('a'+i))+".conf")
			if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(path, []byte(file), 0o600); err != nil {
				t.Fatal(err)
			}
			conf = "--config=" + path
		}
		for _, argv := range argvs {
			args := append([]string{conf}, argv...)
			if len(argv) == 1 && (argv[0] == "--version" || argv[0] == "-v") {
				args = argv
			}
			whole := runTree(t, args, true)
			if got := runTree(t, args, false); got != whole {
				t.Errorf("file %q, %q:\npartial tree %s\n  whole tree %s", file, args, got, whole)
			}
		}
	}
}

// runTree runs args on the whole tree or on the tree Main builds, and
// returns the exit code and output.
func runTree(t *testing.T, args []string, whole bool) string {
	var o, e bytes.Buffer
	f := cmdutil.New(strings.NewReader(""), &o, &e)
	var root *cobra.Command
	if whole {
		root = NewCmdRoot(f)
	} else {
		root = newRootFor(f, args)
	}
	code := run(f, root, slices.Clone(args))
	return strings.Join([]string{string(rune('0' + code)), o.String(), e.String()}, "\x00")
}

// TestPartialTreeBuilt: what is built for a command line.
func TestPartialTreeBuilt(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want []string // the root's commands
	}{
		{[]string{"--version"}, nil},
		{[]string{"--no-config", "--db", "x", "filter", "-"}, []string{"filter"}},
		{[]string{"allowlist", "check", "192.0.2.1"}, []string{"allowlist"}},
		{[]string{"--db", "filter", "review"}, []string{"review"}},
		{[]string{"help", "filter"}, nil}, // whole
		{[]string{"config"}, nil},         // whole
		{[]string{"frob"}, nil},           // whole
		{nil, nil},                        // whole
	} {
		root := newRootFor(cmdutil.New(nil, nil, nil), tc.args)
		var got []string
		for _, c := range root.Commands() {
			got = append(got, c.Name())
		}
		partial := root.Annotations[partialTree] != ""
		if tc.want == nil && len(got) > 0 && (partial || len(got) != len(subcommands)+2) {
			t.Errorf("%q: built %v, want the whole tree", tc.args, got)
		}
		if tc.want != nil && (!partial || !slices.Equal(got, tc.want)) {
			t.Errorf("%q: built %v (partial %v), want %v", tc.args, got, partial, tc.want)
		}
	}
	// The table names every command of the tree but config and man, by
	// the name cobra finds it under, and none has an alias.
	var names []string
	for _, c := range NewCmdRoot(cmdutil.New(nil, nil, nil)).Commands() {
		if len(c.Aliases) > 0 {
			t.Errorf("%s has aliases %v: the table would not find them", c.Name(), c.Aliases)
		}
		names = append(names, c.Name())
	}
	for _, s := range subcommands {
		if !slices.Contains(names, s.name) {
			t.Errorf("table names %q, which the tree lacks", s.name)
		}
	}
	if len(names) != len(subcommands)+2 {
		t.Errorf("tree %v, table %d names", names, len(subcommands))
	}
}

// TestPartialTreeGlobalKey: a global key that is a flag of the named
// command, taking several values, and of another before it, taking one:
// the whole tree finds the other's first and refuses the key given
// twice, so the partial tree must refuse it too, not accept it on the
// named command's flag.
func TestPartialTreeGlobalKey(t *testing.T) {
	saved := subcommands
	t.Cleanup(func() { subcommands = saved })
	flagged := func(name string, add func(*cobra.Command)) subcommand {
		return subcommand{name, func(*cmdutil.Factory) *cobra.Command {
			c := &cobra.Command{Use: name, RunE: func(*cobra.Command, []string) error { return nil }}
			add(c)
			return c
		}}
	}
	subcommands = append(slices.Clone(saved),
		flagged("aaa", func(c *cobra.Command) { c.Flags().String("x", "", "") }),
		flagged("zzz", func(c *cobra.Command) { c.Flags().StringArray("x", nil, "") }))
	path := filepath.Join(t.TempDir(), "tlsrpt.conf")
	if err := os.WriteFile(path, []byte("x = 1\nx = 2\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	args := []string{"--config", path, "zzz"}
	whole, partial := runTree(t, args, true), runTree(t, args, false)
	if partial != whole || !strings.Contains(whole, "x is set again") {
		t.Errorf("partial tree %q, whole tree %q", partial, whole)
	}
}

// Package root is the tlsrpt command line: the root command with its
// global flags and subcommands, and Main, which runs it and is the one
// place that prints errors and decides the exit code.
package root

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"runtime/debug"
	"strings"

	"github.com/spf13/cobra"

	cmdallowlist "github.com/tlsrpt/tlsrpt/internal/cmd/allowlist"
	"github.com/tlsrpt/tlsrpt/internal/cmd/cmdutil"
	cmdconfig "github.com/tlsrpt/tlsrpt/internal/cmd/config"
	cmddashboard "github.com/tlsrpt/tlsrpt/internal/cmd/dashboard"
	cmddiagnose "github.com/tlsrpt/tlsrpt/internal/cmd/diagnose"
	cmddigest "github.com/tlsrpt/tlsrpt/internal/cmd/digest"
	cmdfilter "github.com/tlsrpt/tlsrpt/internal/cmd/filter"
	cmdimport "github.com/tlsrpt/tlsrpt/internal/cmd/importcmd"
	cmdmigrate "github.com/tlsrpt/tlsrpt/internal/cmd/migratedb"
	cmdprune "github.com/tlsrpt/tlsrpt/internal/cmd/prune"
	cmdredeem "github.com/tlsrpt/tlsrpt/internal/cmd/redeem"
	cmdreview "github.com/tlsrpt/tlsrpt/internal/cmd/review"
	cmdserve "github.com/tlsrpt/tlsrpt/internal/cmd/serve"
	cmdstats "github.com/tlsrpt/tlsrpt/internal/cmd/stats"
	"github.com/tlsrpt/tlsrpt/internal/config"
	"github.com/tlsrpt/tlsrpt/internal/pkgerr"
	"github.com/tlsrpt/tlsrpt/neutral"
	"github.com/tlsrpt/tlsrpt/store"
)

// NewCmdRoot returns the tlsrpt command with every subcommand.
func NewCmdRoot(f *cmdutil.Factory) *cobra.Command {
	cmd, conf := newBareRoot(f)
	addAll(cmd, f, conf)
	return cmd
}

// newBareRoot returns the root command with its flags and no subcommand,
// and the configuration options its flags set.
func newBareRoot(f *cmdutil.Factory) (*cobra.Command, *cmdconfig.Options) {
	conf := &cmdconfig.Options{NewRoot: func() *cobra.Command { return NewCmdRoot(cmdutil.New(nil, io.Discard, io.Discard)) }}
	cmd := &cobra.Command{
		Use:   "tlsrpt",
		Short: "Turn SMTP TLS reports (RFC 8460) into advice and, when asked, into unbans",
		Long: `tlsrpt reads the SMTP TLS reports (RFC 8460) that big senders mail to the
address in your _smtp._tls record, tells you which sending addresses could not
set up TLS with your MX and whether your own anti-spam banned them, proves
whether an address really belongs to the big sender that reports it, and undoes
the ban when you say so.

The database is --db PATH (a SQLite file) or --db postgres://... (a store that
several MX hosts share), else $TLSRPT_DB, else $XDG_STATE_HOME/tlsrpt/tlsrpt.db.`,
		Version:                    version(),
		SilenceErrors:              true,
		SilenceUsage:               true,
		SuggestionsMinimumDistance: 2,
		Args: func(cmd *cobra.Command, args []string) error {
			if len(args) > 0 {
				hint := ""
				if s := cmd.SuggestionsFor(args[0]); len(s) > 0 {
					hint = "; did you mean " + s[0] + "?"
				}
				return cmdutil.UsageErrorf("unknown command %q%s (tlsrpt --help lists the commands)", neutral.TerminalCell(store.Redact(args[0])), hint)
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			cmd.SetOut(f.IO.ErrOut)
			cmd.Usage()
			return cmdutil.Silent(cmdutil.ExitUsage)
		},
		PersistentPreRunE: func(cmd *cobra.Command, args []string) error {
			if err := applyConfig(cmd, f, conf); err != nil {
				return cmdconfig.Refused(cmd, err)
			}
			f.DBSet = cmd.Flags().Changed("db")
			return nil
		},
	}
	pf := cmd.PersistentFlags()
	pf.StringVar(&f.DB, "db", "", "the database: a SQLite file `path` or a postgres:// URL (default $TLSRPT_DB, else $XDG_STATE_HOME/tlsrpt/tlsrpt.db)")
	pf.StringVar(&f.Syslog, "syslog", os.Getenv("TLSRPT_SYSLOG"), cmdutil.SyslogUsage)
	pf.Lookup("syslog").NoOptDefVal = "local"
	f.Trust.AddFlags(pf)
	conf.AddFlags(pf)
	cmd.SetFlagErrorFunc(func(c *cobra.Command, err error) error {
		return cmdutil.UsageErrorf("%v (see %s --help)", err, c.CommandPath())
	})
	cmd.SetVersionTemplate("tlsrpt {{.Version}}\n")
	return cmd, conf
}

// subcommand is a command of the tree that does not walk the tree, by
// the name the command line gives it: a run that names it builds it
// alone (config and man, which walk the tree, are built with the rest).
type subcommand struct {
	name string
	new  func(f *cmdutil.Factory) *cobra.Command
}

// subcommands are the commands built alone, in the order of the tree.
var subcommands = []subcommand{
	{"filter", func(f *cmdutil.Factory) *cobra.Command { return cmdfilter.NewCmdFilter(f, nil) }},
	{"review", func(f *cmdutil.Factory) *cobra.Command { return cmdreview.NewCmdReview(f, nil) }},
	{"diagnose", func(f *cmdutil.Factory) *cobra.Command { return cmddiagnose.NewCmdDiagnose(f, nil) }},
	{"redeem", func(f *cmdutil.Factory) *cobra.Command { return cmdredeem.NewCmdRedeem(f, nil) }},
	{"allowlist", cmdallowlist.NewCmdAllowlist},
	{"serve", func(f *cmdutil.Factory) *cobra.Command { return cmdserve.NewCmdServe(f, nil) }},
	{"import", func(f *cmdutil.Factory) *cobra.Command { return cmdimport.NewCmdImport(f, nil) }},
	{"stats", func(f *cmdutil.Factory) *cobra.Command { return cmdstats.NewCmdStats(f, nil) }},
	{"dashboard", func(f *cmdutil.Factory) *cobra.Command { return cmddashboard.NewCmdDashboard(f, nil) }},
	{"digest", func(f *cmdutil.Factory) *cobra.Command { return cmddigest.NewCmdDigest(f, nil) }},
	{"prune", func(f *cmdutil.Factory) *cobra.Command { return cmdprune.NewCmdPrune(f, nil) }},
	{"migrate-db", func(f *cmdutil.Factory) *cobra.Command { return cmdmigrate.NewCmdMigrateDB(f, nil) }},
}

// addAll adds every subcommand to root but those it has already.
func addAll(root *cobra.Command, f *cmdutil.Factory, conf *cmdconfig.Options) {
	for _, s := range subcommands {
		if !hasCommand(root, s.name) {
			root.AddCommand(s.new(f))
		}
	}
	if !hasCommand(root, "config") {
		root.AddCommand(cmdconfig.NewCmdConfig(f, conf), newCmdMan())
	}
}

func hasCommand(root *cobra.Command, name string) bool {
	for _, c := range root.Commands() {
		if c.Name() == name {
			return true
		}
	}
	return false
}

// newRootFor returns the command tree that args need: the root alone for
// a bare --version, the root with the one command args name when it is
// one of subcommands (as cobra finds it: its flags skipped the way cobra
// skips them), else the whole tree (help, completion, config, man, an
// unknown name, no name). A partial tree is marked partialTree.
func newRootFor(f *cmdutil.Factory, args []string) *cobra.Command {
	root, conf := newBareRoot(f)
	if len(args) == 1 && (args[0] == "--version" || args[0] == "-v") {
		// Printed before anything else runs, from the root's flags alone.
		root.Annotations = map[string]string{partialTree: "yes"}
		return root
	}
	s := named(root, args)
	if s == nil {
		addAll(root, f, conf)
		return root
	}
	root.AddCommand(s.new(f))
	root.Annotations = map[string]string{partialTree: "yes"}
	return root
}

// named returns the entry of subcommands that cobra would run for args,
// found by cobra itself on the root with a placeholder of each, or nil.
func named(root *cobra.Command, args []string) *subcommand {
	stubs := make([]*cobra.Command, len(subcommands))
	for i, s := range subcommands {
		stubs[i] = &cobra.Command{Use: s.name}
	}
	root.AddCommand(stubs...)
	c, _, _ := root.Find(args)
	root.RemoveCommand(stubs...)
	for i, stub := range stubs {
		if c == stub {
			return &subcommands[i]
		}
	}
	return nil
}

// applyConfig applies the configuration file to cmd as conf.Apply does.
// On a partial tree the file is checked there first; unless that check
// passes and every global setting is a root flag (then the whole tree
// would say the same), the rest of the tree is built before conf.Apply
// checks it, so that a file is accepted or refused exactly as with the
// whole tree.
func applyConfig(cmd *cobra.Command, f *cmdutil.Factory, conf *cmdconfig.Options) error {
	root := cmd.Root()
	if root.Annotations[partialTree] != "" {
		file, err := conf.Load()
		if err == nil && file == nil {
			return nil
		}
		if err != nil || !sameOnWholeTree(root, file) {
			addAll(root, f, conf)
		}
	}
	return conf.Apply(cmd)
}

// partialTree marks, in the root's annotations, a tree built for one
// command.
const partialTree = "tlsrpt-partial-tree"

// sameOnWholeTree reports whether the file passes the check on the
// partial tree with every setting of its global section a flag of the
// root: the whole tree then accepts it too (a global key found only
// below the root could be found first in another command there).
func sameOnWholeTree(root *cobra.Command, file *config.File) bool {
	if cmdconfig.Check(root, file) != nil {
		return false
	}
	for _, s := range file.Settings {
		if s.Section == "" && root.Flags().Lookup(s.Key) == nil && root.PersistentFlags().Lookup(s.Key) == nil {
			return false
		}
	}
	return true
}

// newCmdMan writes the manual pages.
func newCmdMan() *cobra.Command {
	return &cobra.Command{
		Use:     "man DIR",
		Short:   "Write the manual pages (tlsrpt.1 and one per command) into DIR",
		Example: "  tlsrpt man /usr/local/share/man/man1 && man tlsrpt-review",
		Args:    cmdutil.ExactArgs(1, "one folder", "tlsrpt man ./man1"),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := os.MkdirAll(args[0], 0o755); err != nil {
				return err
			}
			return writeManTree(cmd.Root(), args[0])
		},
	}
}

// stamp is the release or commit the binary was built from, set by make
// build: go build -ldflags "-X github.com/tlsrpt/tlsrpt/internal/cmd/root.stamp=$(git describe --tags --always --dirty)".
var stamp string

// version is the stamp of make build, else the module's version, else the
// VCS revision go build recorded.
func version() string {
	if stamp != "" {
		return stamp
	}
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return "(unknown)"
	}
	if v := bi.Main.Version; v != "" && v != "(devel)" {
		return v
	}
	var rev, modified string
	for _, s := range bi.Settings {
		switch s.Key {
		case "vcs.revision":
			rev = s.Value
		case "vcs.modified":
			if s.Value == "true" {
				modified = "+dirty"
			}
		}
	}
	if rev == "" {
		return "(devel)"
	}
	if len(rev) > 12 {
		rev = rev[:12]
	}
	return "(devel) " + rev + modified
}

// Main runs the command line args and returns the exit code.
func Main(args []string, in io.Reader, out, errOut io.Writer) int {
	f := cmdutil.New(in, out, errOut)
	return run(f, newRootFor(f, args), args)
}

// run runs args on root, a tree built on f, as Main does.
func run(f *cmdutil.Factory, root *cobra.Command, args []string) int {
	root.SetArgs(args)
	root.SetIn(f.IO.In)
	root.SetOut(f.IO.Out)
	root.SetErr(f.IO.ErrOut)
	c, err := root.ExecuteContextC(context.Background())
	err = cmdutil.Explain(err)
	if err != nil {
		printError(f.IO.ErrOut, c, err)
	}
	return cmdutil.ExitCode(err)
}

// printError prints one line: "tlsrpt: COMMAND: what failed: why (fix)",
// with every secret a URL or connection string in it holds masked. The
// command's name says where the error comes from: the name of the package
// that made it is not repeated after it.
func printError(w io.Writer, c *cobra.Command, err error) {
	var ee *cmdutil.ExitError
	if errors.As(err, &ee) && ee.Silent {
		return
	}
	name := "tlsrpt"
	if c != nil {
		name = c.CommandPath()
	}
	msg := pkgerr.TrimPackage(err, strings.TrimPrefix(err.Error(), "tlsrpt: "))
	msg = store.RedactText(strings.Join(strings.Fields(msg), " "))
	fmt.Fprintf(w, "%s: %s\n", strings.Replace(name, "tlsrpt ", "tlsrpt: ", 1), msg)
}

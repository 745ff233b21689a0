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
	"github.com/tlsrpt/tlsrpt/internal/pkgerr"
	"github.com/tlsrpt/tlsrpt/neutral"
	"github.com/tlsrpt/tlsrpt/store"
)

// NewCmdRoot returns the tlsrpt command with every subcommand.
func NewCmdRoot(f *cmdutil.Factory) *cobra.Command {
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
			if err := conf.Apply(cmd); err != nil {
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
	cmd.AddCommand(
		cmdfilter.NewCmdFilter(f, nil),
		cmdreview.NewCmdReview(f, nil),
		cmddiagnose.NewCmdDiagnose(f, nil),
		cmdredeem.NewCmdRedeem(f, nil),
		cmdallowlist.NewCmdAllowlist(f),
		cmdserve.NewCmdServe(f, nil),
		cmdimport.NewCmdImport(f, nil),
		cmdstats.NewCmdStats(f, nil),
		cmddashboard.NewCmdDashboard(f, nil),
		cmddigest.NewCmdDigest(f, nil),
		cmdprune.NewCmdPrune(f, nil),
		cmdmigrate.NewCmdMigrateDB(f, nil),
		cmdconfig.NewCmdConfig(f, conf),
		newCmdMan(),
	)
	return cmd
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
	root := NewCmdRoot(f)
	root.SetArgs(args)
	root.SetIn(in)
	root.SetOut(out)
	root.SetErr(errOut)
	c, err := root.ExecuteContextC(context.Background())
	err = cmdutil.Explain(err)
	if err != nil {
		printError(errOut, c, err)
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

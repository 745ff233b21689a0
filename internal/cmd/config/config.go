package config

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/tlsrpt/tlsrpt/internal/cmd/cmdutil"
	"github.com/tlsrpt/tlsrpt/internal/config"
	"github.com/tlsrpt/tlsrpt/store"
)

// NewCmdConfig returns the config command, which prints the effective
// settings of a command, or of every command, and where each came from.
func NewCmdConfig(f *cmdutil.Factory, o *Options) *cobra.Command {
	var template bool
	cmd := &cobra.Command{
		Use:   "config [COMMAND...]",
		Short: "Print the effective settings and where each comes from (flag, environment, file:line, default)",
		Long: `Prints the settings a command runs with, as lines of the configuration file, each
followed by where its value comes from: flag, environment, FILE:LINE, or default.
Without COMMAND, the global settings and every setting of a command that is not
its default. Passwords in database URLs are shown as xxxxx.

Every command reads ` + DefaultPath + ` (--config FILE or $TLSRPT_CONFIG for
another, --no-config for none). Keys are the flags' long names; settings above
the first section apply to every command that has the flag; a [COMMAND] section
(as [filter] or [allowlist check]) holds what applies to that command only.
Precedence: a flag given, then $TLSRPT_DB, $TLSRPT_SYSLOG or $TLSRPT_RESOLVER,
then the file, then the default. A key no command has, a value its flag refuses,
or a key its section's command lacks is refused, naming the file and line; root
refuses a file, or a folder, that others than root can write.`,
		Example: `  tlsrpt config
  tlsrpt config filter
  tlsrpt --config ./test.conf config allowlist check`,
		RunE: func(cmd *cobra.Command, args []string) error {
			var buf bytes.Buffer
			run := run
			if template {
				run = runTemplate
			}
			if err := run(cmd, &buf, o, args); err != nil {
				var ce *config.Error
				if errors.As(err, &ce) {
					return Refused(cmd, err)
				}
				return err
			}
			_, err := f.IO.Out.Write(buf.Bytes())
			return err
		},
	}
	cmd.Flags().BoolVar(&template, "template", false, "print a whole configuration file instead: the file's settings, and every other key commented out with its default (the Debian package's file is made so)")
	return cmd
}

// runTemplate prints the configuration file of WriteTemplate.
func runTemplate(cmd *cobra.Command, w io.Writer, o *Options, args []string) error {
	if len(args) > 0 {
		return cmdutil.UsageErrorf("--template takes no command: it writes every command's settings")
	}
	file, err := o.Load()
	if err != nil {
		return err
	}
	return WriteTemplate(w, cmd.Root(), file)
}

// run prints the settings of the command args names, or of all. Each
// command's settings are worked out on a tree of commands of its own
// (Options.NewRoot), as when it runs: a [section] setting of one command
// never shows in another's.
func run(cmd *cobra.Command, w io.Writer, o *Options, args []string) error {
	file, err := o.Load()
	if err != nil {
		return err
	}
	printSource(w, o)
	if len(args) > 0 {
		target, err := o.effective(cmd, file, strings.Join(args, " "))
		if err != nil {
			return err
		}
		printSection(w, strings.Join(args, " "), allFlags(target), nil)
		return nil
	}
	global := map[string]string{}
	cmd.Root().PersistentFlags().VisitAll(func(fl *pflag.Flag) {
		global[fl.Name] = Origin(fl) + "\x00" + fl.Value.String()
	})
	printSection(w, "", cmd.Root().PersistentFlags(), nil)
	return walk(cmd.Root(), func(c *cobra.Command) error {
		section := strings.TrimPrefix(c.CommandPath(), c.Root().Name()+" ")
		target, err := o.effective(cmd, file, section)
		if err != nil {
			return err
		}
		printSection(w, section, allFlags(target), global)
		return nil
	})
}

// effective returns the command named by section in a new tree, with the
// flags given to the running command cmd and the file applied.
func (o *Options) effective(cmd *cobra.Command, file *config.File, section string) (*cobra.Command, error) {
	root := cmd.Root()
	if o.NewRoot != nil {
		root = o.NewRoot()
	}
	target := findExact(root, section)
	if target == nil {
		return nil, cmdutil.UsageErrorf("no command %q (tlsrpt --help lists the commands)", "tlsrpt "+section)
	}
	target.InheritedFlags() // merges the persistent flags into target.Flags()
	var err error
	cmd.Flags().Visit(func(fl *pflag.Flag) {
		to := target.Flags().Lookup(fl.Name)
		if err != nil || to == nil || to == fl || fl.Annotations[originKey] != nil {
			return
		}
		vals := []string{fl.Value.String()}
		if sv, ok := fl.Value.(pflag.SliceValue); ok {
			vals = sv.GetSlice()
		}
		for _, v := range vals {
			if err == nil {
				err = target.Flags().Set(fl.Name, v)
			}
		}
	})
	if err != nil || file == nil {
		return target, err
	}
	if err := Check(root, file); err != nil {
		return nil, err
	}
	return target, applyTo(target, file)
}

// walk calls fn on every available command below root.
func walk(c *cobra.Command, fn func(*cobra.Command) error) error {
	for _, sub := range c.Commands() {
		if !sub.IsAvailableCommand() || skipTemplate[sub.Name()] {
			continue
		}
		if err := fn(sub); err != nil {
			return err
		}
		if err := walk(sub, fn); err != nil {
			return err
		}
	}
	return nil
}

// allFlags returns a command's flags with those it inherits.
func allFlags(c *cobra.Command) *pflag.FlagSet {
	fs := pflag.NewFlagSet(c.Name(), pflag.ContinueOnError)
	fs.AddFlagSet(c.InheritedFlags())
	fs.AddFlagSet(c.Flags())
	return fs
}

// printSource says which file was read.
func printSource(w io.Writer, o *Options) {
	path, how, _, _ := o.source()
	if path == "" {
		fmt.Fprintf(w, "# no configuration file (%s)\n", how)
		return
	}
	fmt.Fprintf(w, "# configuration file %s (%s)\n", path, how)
}

// printSection prints a section's settings in the flag set's order. With
// global (the global section's origins and values by key), only what
// differs from the default and from the global section, and nothing when
// nothing is left.
func printSection(w io.Writer, section string, fs *pflag.FlagSet, global map[string]string) {
	var lines []string
	width := 0
	fs.VisitAll(func(fl *pflag.Flag) {
		if fl.Hidden || notKeys[fl.Name] {
			return
		}
		origin := Origin(fl)
		if global != nil && (origin == "default" || global[fl.Name] == origin+"\x00"+fl.Value.String()) {
			return
		}
		for _, v := range display(fl) {
			l := fl.Name + " = " + config.Quote(v)
			width = max(width, len(l))
			lines = append(lines, l+"\x00"+origin)
		}
	})
	if len(lines) == 0 && global != nil {
		return
	}
	if section != "" {
		fmt.Fprintf(w, "\n[%s]\n", section)
	}
	for _, l := range lines {
		setting, origin, _ := strings.Cut(l, "\x00")
		fmt.Fprintf(w, "%-*s  # %s\n", width, setting, origin)
	}
}

// display is a flag's values as printed (one per value of a repeatable
// flag): the database resolved as the commands resolve it, and every
// URL's password redacted.
func display(fl *pflag.Flag) []string {
	vs := []string{fl.Value.String()}
	if sv, ok := fl.Value.(pflag.SliceValue); ok {
		vs = sv.GetSlice()
		if len(vs) == 0 {
			vs = []string{""}
		}
	}
	for i, v := range vs {
		if fl.Name == "db" {
			if loc, err := cmdutil.ResolveDB(v); err == nil {
				v = loc
			}
		}
		vs[i] = store.Redact(v)
	}
	return vs
}

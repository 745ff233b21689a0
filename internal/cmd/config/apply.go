// Package config is the command layer of the configuration file: the
// --config and --no-config flags, the hook that sets every flag not given
// on the command line from the file before a command runs, and the
// tlsrpt config command that prints the effective settings.
//
// Precedence: a flag given, then its environment variable ($TLSRPT_DB,
// $TLSRPT_SYSLOG, $TLSRPT_RESOLVER), then the file (a [command] section
// over the global settings above the first section), then the built-in
// default. It works over cobra's flag sets, so every flag is a key.
package config

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/tlsrpt/tlsrpt/internal/cmd/cmdutil"
	"github.com/tlsrpt/tlsrpt/internal/config"
)

// DefaultPath is the configuration file every command reads unless told
// otherwise; a missing one is no configuration.
const DefaultPath = "/etc/tlsrpt/tlsrpt.conf"

// defaultPath is DefaultPath; tests point it elsewhere.
var defaultPath = DefaultPath

// EnvVars names the environment variable that stands between a flag and
// the file, for the flags that have one.
var EnvVars = map[string]string{
	"db":       "TLSRPT_DB",
	"syslog":   "TLSRPT_SYSLOG",
	"resolver": "TLSRPT_RESOLVER",
}

// originKey is the flag annotation that records the file line that set it.
const originKey = "tlsrpt-config-origin"

// notKeys are flags that the file cannot set.
var notKeys = map[string]bool{"config": true, "no-config": true, "help": true, "version": true}

// Options are the --config and --no-config flags.
type Options struct {
	File string
	None bool

	// NewRoot returns a new tree of the commands, for tlsrpt config to
	// work out each command's settings on a tree of its own.
	NewRoot func() *cobra.Command

	euid func() int // os.Geteuid; tests replace it
}

// AddFlags adds --config and --no-config to the root's persistent flags.
func (o *Options) AddFlags(fs *pflag.FlagSet) {
	fs.StringVar(&o.File, "config", "", "read settings from this `file` (default $TLSRPT_CONFIG, else "+DefaultPath+")")
	fs.BoolVar(&o.None, "no-config", false, "read no configuration file")
}

// source is where the file comes from, and whether it must exist.
func (o *Options) source() (path, how string, must bool, err error) {
	switch {
	case o.None && o.File != "":
		return "", "", false, cmdutil.UsageErrorf("--config and --no-config together: give one")
	case o.None:
		return "", "--no-config", false, nil
	case o.File != "":
		return o.File, "--config", true, nil
	}
	if p := os.Getenv("TLSRPT_CONFIG"); p != "" {
		return p, "$TLSRPT_CONFIG", true, nil
	}
	return defaultPath, "default", false, nil
}

// Load reads the configuration file that applies: nil when there is none.
func (o *Options) Load() (*config.File, error) {
	path, how, must, err := o.source()
	if err != nil || path == "" {
		return nil, err
	}
	f, err := os.Open(path)
	if errors.Is(err, fs.ErrNotExist) && !must {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("reading the configuration file (%s): %w", how, err)
	}
	defer f.Close()
	euid := os.Geteuid
	if o.euid != nil {
		euid = o.euid
	}
	if euid() == 0 {
		if err := checkRootOnly(path, f); err != nil {
			return nil, err
		}
	}
	return config.Parse(path, f)
}

// checkRootOnly refuses, for root, a file that others than root can
// write, or in a folder they can write: it could name the programs
// redeem runs as root.
func checkRootOnly(path string, f *os.File) error {
	fi, err := f.Stat()
	if err != nil {
		return err
	}
	if err := rootOnly(fi); err != nil {
		return fmt.Errorf("%s: %v: root refuses a configuration others can change (chown root: and chmod go-w it)", path, err)
	}
	dir := filepath.Dir(path)
	di, err := os.Stat(dir)
	if err != nil {
		return err
	}
	if err := rootOnly(di); err != nil {
		return fmt.Errorf("%s: its folder %s %v: root refuses a configuration others can replace (chown root: and chmod go-w the folder)", path, dir, err)
	}
	return nil
}

// rootOnly says why others than root can write a file, if they can.
func rootOnly(fi os.FileInfo) error {
	if uid, ok := ownerOf(fi); ok && uid != 0 {
		return fmt.Errorf("is owned by uid %d", uid)
	}
	if m := fi.Mode().Perm(); m&0o022 != 0 {
		return fmt.Errorf("is writable by group or others (mode %04o)", m)
	}
	return nil
}

// Apply loads the file and sets from it every flag of cmd that the
// command line did not give and whose environment variable is unset.
// Every setting of the file is checked against the whole command tree: a
// key no command has, a section no command is, or a key its section's
// command lacks is refused naming the file and line.
func (o *Options) Apply(cmd *cobra.Command) error {
	f, err := o.Load()
	if err != nil || f == nil {
		return err
	}
	if err := Check(cmd.Root(), f); err != nil {
		return err
	}
	return applyTo(cmd, f)
}

// Check refuses a setting no command can take, and a key given twice in
// one section when its flag takes one value.
func Check(root *cobra.Command, f *config.File) error {
	for _, s := range f.Sections {
		if findExact(root, s.Section) == nil {
			return f.Errorf(s, "no command %q for section [%s] (tlsrpt --help lists the commands)", "tlsrpt "+s.Section, s.Section)
		}
	}
	first := map[[2]string]int{}
	for _, s := range f.Settings {
		c := root
		if s.Section != "" {
			c = findExact(root, s.Section)
		}
		if notKeys[s.Key] {
			return f.Errorf(s, "%s cannot be set in the file", s.Key)
		}
		fl := findFlag(c, s.Key)
		switch {
		case fl == nil && s.Section == "":
			return f.Errorf(s, "no command has a --%s flag (the keys are the flags' long names)", s.Key)
		case fl == nil:
			return f.Errorf(s, "%s has no --%s flag", c.CommandPath(), s.Key)
		}
		k := [2]string{s.Section, s.Key}
		if line, seen := first[k]; seen && !repeatable(fl) {
			return f.Errorf(s, "%s is set again (line %d first): it takes one value", s.Key, line)
		}
		first[k] = s.Line
	}
	return nil
}

// findExact returns the command whose path below root is section.
func findExact(root *cobra.Command, section string) *cobra.Command {
	c, rest, err := root.Find(strings.Fields(section))
	if err != nil || len(rest) > 0 || c == root || c.CommandPath() != root.Name()+" "+section {
		return nil
	}
	return c
}

// findFlag returns the flag name of c or of a command below it.
func findFlag(c *cobra.Command, name string) *pflag.Flag {
	if fl := c.Flags().Lookup(name); fl != nil {
		return fl
	}
	if fl := c.InheritedFlags().Lookup(name); fl != nil {
		return fl
	}
	for _, sub := range c.Commands() {
		if fl := findFlag(sub, name); fl != nil {
			return fl
		}
	}
	return nil
}

// applyTo sets cmd's flags from the settings that apply to it: the global
// ones, then those of each section from its farthest parent to itself, a
// nearer section replacing a farther one's values of the same key.
func applyTo(cmd *cobra.Command, f *config.File) error {
	chosen := choose(cmd, f)
	cmd.InheritedFlags() // merges the parents' persistent flags into cmd.Flags()
	for key, ss := range chosen {
		fl := cmd.Flags().Lookup(key)
		if fl == nil || fl.Changed && fl.Annotations[originKey] == nil || envSet(key) {
			continue
		}
		if err := setFrom(cmd.Flags(), fl, f, ss); err != nil {
			return err
		}
	}
	return nil
}

// setFrom sets a flag from its settings, replacing what an earlier
// application of the file set, and records their lines as its origin.
func setFrom(flags *pflag.FlagSet, fl *pflag.Flag, f *config.File, ss []config.Setting) error {
	if sv, ok := fl.Value.(pflag.SliceValue); ok {
		if err := sv.Replace(nil); err != nil {
			return err
		}
	}
	var lines []string
	for _, s := range ss {
		v := s.Value
		if s.Bare {
			if fl.NoOptDefVal == "" {
				return f.Errorf(s, "%s wants a value: %s = VALUE", fl.Name, fl.Name)
			}
			v = fl.NoOptDefVal
		}
		if err := flags.Set(fl.Name, v); err != nil {
			return f.Errorf(s, "bad value for %s: %v", fl.Name, err)
		}
		lines = append(lines, fmt.Sprint(s.Line))
	}
	if fl.Annotations == nil {
		fl.Annotations = map[string][]string{}
	}
	fl.Annotations[originKey] = []string{f.Path + ":" + strings.Join(lines, ",")}
	return nil
}

// choose gathers, per key, the settings of the nearest section that sets
// it (Check has refused a single-valued key set twice in one section).
func choose(cmd *cobra.Command, f *config.File) map[string][]config.Setting {
	rank := map[string]int{"": 0}
	depth := 0
	for c := cmd; c.HasParent(); c = c.Parent() {
		depth++
	}
	for c, d := cmd, depth; c.HasParent(); c, d = c.Parent(), d-1 {
		rank[strings.TrimPrefix(c.CommandPath(), c.Root().Name()+" ")] = d
	}
	chosen := map[string][]config.Setting{}
	from := map[string]int{}
	for _, s := range f.Settings {
		r, ok := rank[s.Section]
		if !ok {
			continue
		}
		prev, seen := from[s.Key]
		switch {
		case !seen || r > prev:
			chosen[s.Key] = []config.Setting{s}
			from[s.Key] = r
		case r == prev:
			chosen[s.Key] = append(chosen[s.Key], s)
		}
	}
	return chosen
}

// repeatable reports whether a flag takes several values.
func repeatable(fl *pflag.Flag) bool {
	_, ok := fl.Value.(pflag.SliceValue)
	return ok
}

// envSet reports whether the environment variable of a flag is set.
func envSet(key string) bool {
	name, ok := EnvVars[key]
	return ok && os.Getenv(name) != ""
}

// Origin says where a flag's value comes from: "flag", "environment
// ($NAME)", "FILE:LINE" or "default".
func Origin(fl *pflag.Flag) string {
	if o := fl.Annotations[originKey]; len(o) > 0 {
		return o[0]
	}
	if fl.Changed {
		return "flag"
	}
	if envSet(fl.Name) {
		return "environment ($" + EnvVars[fl.Name] + ")"
	}
	return "default"
}

// Refused turns a configuration error into a usage error (exit 2), but
// first offers it to the command's own handler of flag errors: a command
// that handles a bad flag itself (the filter passes the message through,
// marked, and exits 0) handles a bad file the same way.
func Refused(cmd *cobra.Command, err error) error {
	var ee *cmdutil.ExitError
	if errors.As(err, &ee) {
		return err
	}
	if handled := cmd.FlagErrorFunc()(cmd, err); handled == nil {
		return cmdutil.Silent(cmdutil.ExitOK)
	}
	return cmdutil.UsageErrorf("%v", err)
}

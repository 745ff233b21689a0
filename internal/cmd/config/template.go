package config

import (
	"bufio"
	"fmt"
	"io"
	"strings"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/tlsrpt/tlsrpt/internal/config"
)

// templateHead opens the configuration file that WriteTemplate writes.
const templateHead = `# tlsrpt's configuration, read by every tlsrpt command (see tlsrpt-config(1)).
#
# Keys are the long names of the flags (tlsrpt COMMAND --help lists them).
# Settings above the first section apply to every command that has the flag;
# a [COMMAND] section holds what applies to that command only, over them.
# A flag on the command line wins, then $TLSRPT_DB, $TLSRPT_SYSLOG or
# $TLSRPT_RESOLVER, then this file, then the built-in default. A repeatable
# flag takes the key once a line. A wrong key or value is refused, naming
# this file and the line. Root refuses this file when others can write it.
# "tlsrpt config COMMAND" prints what a command runs with, and from where.
#
# The lines without "#" are this installation's settings; every other key is
# shown commented out, with its default.
`

// skipTemplate are the commands whose flags are no settings.
var skipTemplate = map[string]bool{"completion": true, "help": true, "config": true, "man": true}

// WriteTemplate writes a configuration file for the command tree of
// root: the settings of file (nil for none) as they are, every other key
// commented out with its default and what it does.
func WriteTemplate(w io.Writer, root *cobra.Command, file *config.File) error {
	bw := bufio.NewWriter(w)
	bw.WriteString(templateHead)
	writeTemplateSection(bw, "", root.PersistentFlags(), file)
	var visit func(c *cobra.Command)
	visit = func(c *cobra.Command) {
		for _, sub := range c.Commands() {
			if !sub.IsAvailableCommand() || skipTemplate[sub.Name()] {
				continue
			}
			section := strings.TrimPrefix(sub.CommandPath(), root.Name()+" ")
			writeTemplateSection(bw, section, sub.LocalNonPersistentFlags(), file)
			visit(sub)
		}
	}
	visit(root)
	return bw.Flush()
}

// writeTemplateSection writes one section: its header, the file's
// settings of it, then its other keys commented out.
func writeTemplateSection(w *bufio.Writer, section string, fs *pflag.FlagSet, file *config.File) {
	set := map[string]bool{}
	var active []string
	if file != nil {
		for _, s := range file.Settings {
			if s.Section != section {
				continue
			}
			set[s.Key] = true
			if s.Bare {
				active = append(active, s.Key)
			} else {
				active = append(active, s.Key+" = "+config.Quote(s.Value))
			}
		}
	}
	var keys []string
	fs.VisitAll(func(fl *pflag.Flag) {
		if fl.Hidden || notKeys[fl.Name] || set[fl.Name] {
			return
		}
		_, usage := pflag.UnquoteUsage(fl)
		def := fl.DefValue
		if repeatable(fl) {
			def = strings.Trim(def, "[]")
		}
		keys = append(keys, fmt.Sprintf("# %s\n#%s\n", strings.Join(strings.Fields(usage), " "), strings.TrimSpace(fl.Name+" = "+def)))
	})
	if len(active) == 0 && len(keys) == 0 {
		return
	}
	if section == "" {
		fmt.Fprintln(w, "\n# Global settings.")
	} else {
		fmt.Fprintf(w, "\n[%s]\n", section)
	}
	for _, a := range active {
		fmt.Fprintln(w, a)
	}
	if len(active) > 0 && len(keys) > 0 {
		fmt.Fprintln(w)
	}
	w.WriteString(strings.Join(keys, ""))
}

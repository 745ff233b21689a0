package root

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
)

// The manual pages are written here from the command tree rather than with
// cobra/doc: cobra/doc renders through go-md2man and blackfriday, whose
// package initialisation costs about a millisecond and a half on every run
// of tlsrpt, the filter's too (it runs once per message). Roff for a
// command's name, synopsis, description, flags and examples is short.

// writeManTree writes one page per visible command, tlsrpt.1 and
// tlsrpt-COMMAND[-SUB].1, into dir.
func writeManTree(root *cobra.Command, dir string) error {
	var walk func(c *cobra.Command) error
	walk = func(c *cobra.Command) error {
		if !c.IsAvailableCommand() && c != root {
			return nil
		}
		name := strings.ReplaceAll(c.CommandPath(), " ", "-") + ".1"
		f, err := os.Create(filepath.Join(dir, name))
		if err != nil {
			return err
		}
		w := bufio.NewWriter(f)
		writeMan(w, c)
		if err := w.Flush(); err != nil {
			f.Close()
			return err
		}
		if err := f.Close(); err != nil {
			return err
		}
		for _, sub := range c.Commands() {
			if err := walk(sub); err != nil {
				return err
			}
		}
		return nil
	}
	return walk(root)
}

// writeMan writes one command's page.
func writeMan(w io.Writer, c *cobra.Command) {
	title := strings.ToUpper(strings.ReplaceAll(c.CommandPath(), " ", "-"))
	fmt.Fprintf(w, ".TH %s 1 %s %s \"tlsrpt manual\"\n", roffArg(title), roffArg(manDate()), roffArg("tlsrpt "+version()))
	fmt.Fprintf(w, ".SH NAME\n%s \\- %s\n", roffLine(strings.ReplaceAll(c.CommandPath(), " ", "-")), roffLine(c.Short))
	fmt.Fprintf(w, ".SH SYNOPSIS\n.B %s\n", roffLine(c.UseLine()))
	desc := c.Long
	if desc == "" {
		desc = c.Short
	}
	fmt.Fprintf(w, ".SH DESCRIPTION\n%s\n", roffText(desc))
	if subs := availableSubcommands(c); len(subs) > 0 {
		fmt.Fprintln(w, ".SH COMMANDS")
		for _, s := range subs {
			fmt.Fprintf(w, ".TP\n.B %s\n%s\n", roffLine(s.Name()), roffLine(s.Short))
		}
	}
	if fs := c.NonInheritedFlags(); fs.HasAvailableFlags() {
		fmt.Fprintln(w, ".SH OPTIONS")
		writeFlags(w, fs)
	}
	if fs := c.InheritedFlags(); fs.HasAvailableFlags() {
		fmt.Fprintln(w, ".SH OPTIONS INHERITED FROM PARENT COMMANDS")
		writeFlags(w, fs)
	}
	if c.Example != "" {
		fmt.Fprintf(w, ".SH EXAMPLES\n.nf\n%s\n.fi\n", roffText(strings.TrimRight(c.Example, "\n")))
	}
	var see []string
	if c.HasParent() {
		see = append(see, strings.ReplaceAll(c.Parent().CommandPath(), " ", "-")+"(1)")
	}
	for _, s := range availableSubcommands(c) {
		see = append(see, strings.ReplaceAll(s.CommandPath(), " ", "-")+"(1)")
	}
	if len(see) > 0 {
		fmt.Fprintf(w, ".SH SEE ALSO\n%s\n", roffLine(strings.Join(see, ", ")))
	}
}

func availableSubcommands(c *cobra.Command) []*cobra.Command {
	var out []*cobra.Command
	for _, s := range c.Commands() {
		if s.IsAvailableCommand() {
			out = append(out, s)
		}
	}
	return out
}

// writeFlags writes a flag set as a tagged list.
func writeFlags(w io.Writer, fs *pflag.FlagSet) {
	fs.VisitAll(func(f *pflag.Flag) {
		if f.Hidden {
			return
		}
		name, usage := pflag.UnquoteUsage(f)
		head := ""
		if f.Shorthand != "" {
			head = "\\fB\\-" + f.Shorthand + "\\fP, "
		}
		head += "\\fB\\-\\-" + roffLine(f.Name) + "\\fP"
		if name != "" {
			head += "=\\fI" + roffLine(name) + "\\fP"
		}
		if f.DefValue != "" && f.DefValue != "false" && f.DefValue != "[]" && f.DefValue != "0" {
			usage += " (default " + f.DefValue + ")"
		}
		fmt.Fprintf(w, ".TP\n%s\n%s\n", head, roffLine(usage))
	})
}

// roffLine escapes text for one roff line: backslashes, hyphens, and
// nothing can start a request.
func roffLine(s string) string {
	s = strings.ReplaceAll(s, "\\", "\\e")
	s = strings.ReplaceAll(s, "-", "\\-")
	s = strings.ReplaceAll(s, "\n", " ")
	if strings.HasPrefix(s, ".") || strings.HasPrefix(s, "'") {
		s = "\\&" + s
	}
	return s
}

// roffArg quotes a request's argument for roff: escaped as a line, a
// double quote doubled (Go's %q escapes are not roff's, and garbled the
// version in the footer).
func roffArg(s string) string {
	return `"` + strings.ReplaceAll(roffLine(s), `"`, `""`) + `"`
}

// roffText escapes text of several lines; an empty line starts a paragraph.
func roffText(s string) string {
	lines := strings.Split(s, "\n")
	for i, l := range lines {
		if strings.TrimSpace(l) == "" {
			lines[i] = ".PP"
			continue
		}
		lines[i] = roffLine(l)
	}
	return strings.Join(lines, "\n")
}

// manDate is the pages' date: $SOURCE_DATE_EPOCH for reproducible builds,
// else today.
func manDate() string {
	t := time.Now()
	if e := os.Getenv("SOURCE_DATE_EPOCH"); e != "" {
		var sec int64
		if _, err := fmt.Sscan(e, &sec); err == nil {
			t = time.Unix(sec, 0)
		}
	}
	return t.UTC().Format("January 2006")
}

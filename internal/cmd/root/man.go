package root

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"io/fs"
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
// tlsrpt-COMMAND[-SUB].1, into dir. It never writes through a link: a page
// whose name in dir is a symbolic link (or anything but a regular file)
// is refused before any page is written, and each page is written to a
// new file in dir, then renamed over its name, which replaces a link
// planted in the meantime rather than following it.
func writeManTree(root *cobra.Command, dir string) error {
	var pages []*cobra.Command
	var walk func(c *cobra.Command)
	walk = func(c *cobra.Command) {
		if !c.IsAvailableCommand() && c != root {
			return
		}
		pages = append(pages, c)
		for _, sub := range c.Commands() {
			walk(sub)
		}
	}
	walk(root)
	for _, c := range pages {
		if err := checkTarget(filepath.Join(dir, manName(c))); err != nil {
			return err
		}
	}
	for _, c := range pages {
		if err := writeFileNoFollow(filepath.Join(dir, manName(c)), func(w io.Writer) { writeMan(w, c) }); err != nil {
			return err
		}
	}
	return nil
}

// manName is the file name of a command's page.
func manName(c *cobra.Command) string {
	return strings.ReplaceAll(c.CommandPath(), " ", "-") + ".1"
}

// checkTarget refuses to write over anything at path but a regular file:
// a symbolic link would have the write land on its target.
func checkTarget(path string) error {
	fi, err := os.Lstat(path)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return nil
	case err != nil:
		return err
	case fi.Mode()&fs.ModeSymlink != 0:
		return fmt.Errorf("refusing to write %s: it is a symbolic link (remove it, or write the pages into another folder)", path)
	case !fi.Mode().IsRegular():
		return fmt.Errorf("refusing to write %s: it is not a regular file", path)
	}
	return nil
}

// writeFileNoFollow writes path (mode 0644) by creating a new file next
// to it and renaming it over path: no link is ever followed, and a reader
// sees the old page or the new one, never half of one.
func writeFileNoFollow(path string, write func(io.Writer)) error {
	f, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".*")
	if err != nil {
		return err
	}
	tmp := f.Name()
	w := bufio.NewWriter(f)
	write(w)
	err = errors.Join(w.Flush(), f.Chmod(0o644), f.Close())
	if err == nil {
		err = os.Rename(tmp, path)
	}
	if err != nil {
		os.Remove(tmp)
		return fmt.Errorf("writing %s: %w", path, err)
	}
	return nil
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

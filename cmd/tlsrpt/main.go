// Command tlsrpt turns SMTP TLS reports (RFC 8460) into advice for mail
// operators and, when asked, into unbans of senders too big to block.
//
// Usage:
//
//	tlsrpt filter [flags] < message > annotated   (a maildrop xfilter)
//	tlsrpt review [--json] [--since DATE|DURATION]
//	tlsrpt redeem [--backend NAME]... [--apply] [--ip ADDR]...
//	tlsrpt allowlist check IP | export --format fail2ban|postscreen|cidr
//	tlsrpt serve --listen ADDR
//	tlsrpt import PATH...
//
// Run "tlsrpt COMMAND -h" for the flags of a command.
package main

import (
	"fmt"
	"io"
	"os"
	"sort"
	"strings"
)

// command is one subcommand: it gets its arguments and the standard streams
// and returns the exit status.
type command struct {
	run   func(args []string, std stdio) int
	usage string
}

// stdio are the streams a command uses, so tests can run it in-process.
type stdio struct {
	in       io.Reader
	out, err io.Writer
}

var commands = map[string]command{}

// register adds a subcommand; each command's file registers itself.
func register(name, usage string, run func([]string, stdio) int) {
	commands[name] = command{run: run, usage: usage}
}

func main() { os.Exit(run(os.Args[1:], stdio{os.Stdin, os.Stdout, os.Stderr})) }

// run dispatches to the subcommand named by args[0].
func run(args []string, std stdio) int {
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" || args[0] == "help" {
		usage(std.err)
		if len(args) == 0 {
			return 2
		}
		return 0
	}
	c, ok := commands[args[0]]
	if !ok {
		fmt.Fprintf(std.err, "tlsrpt: unknown command %q\n", args[0])
		usage(std.err)
		return 2
	}
	return c.run(args[1:], std)
}

func usage(w io.Writer) {
	fmt.Fprintln(w, "usage: tlsrpt COMMAND [flags]\n\ncommands:")
	names := make([]string, 0, len(commands))
	for n := range commands {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		fmt.Fprintf(w, "  %-10s %s\n", n, commands[n].usage)
	}
	fmt.Fprintln(w, "\nRun 'tlsrpt COMMAND -h' for a command's flags.")
}

// errorf prints one user-facing error line in the tool's voice.
func errorf(w io.Writer, format string, args ...any) {
	msg := fmt.Sprintf(format, args...)
	fmt.Fprintln(w, "tlsrpt: "+strings.TrimSuffix(msg, "\n"))
}

// stringList is a repeatable string flag.
type stringList []string

func (l *stringList) String() string     { return strings.Join(*l, ",") }
func (l *stringList) Set(v string) error { *l = append(*l, v); return nil }

package redeem

import (
	"bufio"
	"bytes"
	_ "embed"
	"fmt"
	"io"
	"net/netip"
	"os"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"unicode/utf8"
)

// Names of the ipqbdb commands in a commands file.
const (
	CmdListBlocked = "list-blocked" // prints the block records
	CmdUnban       = "unban"        // deletes one address's block record
	CmdKeep        = "keep"         // whitelists one address (a soft keep)
	CmdListKept    = "list-kept"    // prints the whitelist records
)

// ipPlaceholder stands for the validated address in a command line.
const ipPlaceholder = "<ip>"

// DefaultIPQBDBCommandsName names the built-in commands in messages.
const DefaultIPQBDBCommandsName = "built-in contrib/ipqbdb/commands.conf"

// Bounds of a commands file.
const (
	maxCommandsFile = 64 << 10
	maxCommandsLine = 4096
)

//go:embed ipqbdb_commands.conf
var defaultIPQBDBCommands []byte

// IPQBDBCommand is one command line of an ipqbdb commands file.
type IPQBDBCommand struct {
	Name    string   // CmdListBlocked, CmdUnban, CmdKeep or CmdListKept
	Source  string   // "FILE:LINE" where it was read
	Program string   // a name looked up in the bin directory or $PATH, or an absolute path
	Args    []string // as written, <ip> standing for the address
	IPv6    bool     // the command takes (or, a listing, is looked up for) IPv6 addresses
	// AddrField is the 1-based field of a listing's record line holding
	// its address or range; 0 for unban and keep.
	AddrField int
	// ProbField is the 1-based field of list-blocked's record line
	// holding the record's probability; 0 for the other commands.
	ProbField int
}

// String returns the command line as written (program and arguments).
func (c IPQBDBCommand) String() string {
	return strings.Join(append([]string{c.Program}, c.Args...), " ")
}

// Expand returns the arguments with <ip> replaced by ip, each one argument.
func (c IPQBDBCommand) Expand(ip netip.Addr) []string {
	out := make([]string, len(c.Args))
	for i, a := range c.Args {
		out[i] = strings.Replace(a, ipPlaceholder, ip.String(), 1)
	}
	return out
}

// Options returns the options the command line uses, as --help would
// list them: "--list", "-i" ("--ip-addr=<ip>" gives "--ip-addr").
func (c IPQBDBCommand) Options() []string {
	return c.optionsWhere(func(int) bool { return true })
}

// ipOptions returns the options the command line gives the address to:
// "-i" of "-i <ip>", "--ip-addr" of "--ip-addr=<ip>".
func (c IPQBDBCommand) ipOptions() []string {
	return c.optionsWhere(func(i int) bool {
		return strings.HasSuffix(c.Args[i], "="+ipPlaceholder) || i+1 < len(c.Args) && c.Args[i+1] == ipPlaceholder
	})
}

// optionsWhere returns the options before any "--" whose index in Args
// keep accepts.
func (c IPQBDBCommand) optionsWhere(keep func(i int) bool) []string {
	var out []string
	for i, a := range c.Args {
		if a == "--" {
			break
		}
		if o := optionName(a); o != "" && keep(i) {
			out = append(out, o)
		}
	}
	return out
}

// isListing reports whether the command prints records.
func (c IPQBDBCommand) isListing() bool { return c.Name == CmdListBlocked || c.Name == CmdListKept }

// The patterns of the commands file, compiled on first use rather than at
// start: every run of tlsrpt, the filter's too, would pay for them.
var (
	longOption   = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`^--[A-Za-z0-9][A-Za-z0-9_-]*$`) })
	shortOption  = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`^-[A-Za-z0-9?]$`) })
	numberArg    = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`^-[0-9]+(\.[0-9]+)?$`) })
	placeholders = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`<[^<>]*>`) })
)

// optionName returns the option an argument is ("--name" of
// "--name=value", "-x"), or "" for an argument that is not an option.
func optionName(a string) string {
	if len(a) < 2 || a[0] != '-' || numberArg().MatchString(a) {
		return ""
	}
	if strings.HasPrefix(a, "--") {
		name, _, _ := strings.Cut(a, "=")
		return name
	}
	return a
}

// IPQBDBCommands are the four command lines of a commands file.
type IPQBDBCommands struct {
	Source      string // the file name, or DefaultIPQBDBCommandsName
	ListBlocked IPQBDBCommand
	Unban       IPQBDBCommand
	Keep        IPQBDBCommand
	ListKept    IPQBDBCommand
}

// All returns the four commands in file order: list-blocked, unban, keep,
// list-kept.
func (cs *IPQBDBCommands) All() []IPQBDBCommand {
	return []IPQBDBCommand{cs.ListBlocked, cs.Unban, cs.Keep, cs.ListKept}
}

// DefaultIPQBDBCommands returns the built-in commands, those of
// contrib/ipqbdb/commands.conf.
func DefaultIPQBDBCommands() *IPQBDBCommands {
	cs, err := ParseIPQBDBCommands(bytes.NewReader(defaultIPQBDBCommands), DefaultIPQBDBCommandsName)
	if err != nil {
		panic("redeem: the built-in ipqbdb commands do not parse: " + err.Error())
	}
	return cs
}

// LoadIPQBDBCommands reads the commands file at path.
func LoadIPQBDBCommands(path string) (*IPQBDBCommands, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, mark(ErrCommandsFile, "reading ipqbdb commands: %v", err)
	}
	defer f.Close()
	return ParseIPQBDBCommands(f, path)
}

// ParseIPQBDBCommands reads a commands file from r; name is its name in
// messages. The format is one command a line, "#" starting a comment at
// the start of a line or of a word:
//
//	NAME [FLAG...] = PROGRAM [ARG...]
//
// with NAME one of list-blocked, unban, keep and list-kept, each given
// once; FLAGs ipv6, addr=N (listings) and prob=N (list-blocked); PROGRAM a
// name or an absolute path; ARGs split on blanks, without quoting, "<ip>"
// standing for the address as one argument (alone, or after "=" in
// --option=<ip>), which unban and keep need and the listings must not
// have. Every error reads "FILE:LINE: reason" and matches ErrCommandsFile.
// At most 64 KiB and lines of at most 4096 bytes are read.
func ParseIPQBDBCommands(r io.Reader, name string) (*IPQBDBCommands, error) {
	data, err := io.ReadAll(io.LimitReader(r, maxCommandsFile+1))
	if err != nil {
		return nil, mark(ErrCommandsFile, "%s: %v", name, err)
	}
	if len(data) > maxCommandsFile {
		return nil, mark(ErrCommandsFile, "%s: longer than %d KiB", name, maxCommandsFile>>10)
	}
	cs := &IPQBDBCommands{Source: name}
	slots := map[string]*IPQBDBCommand{
		CmdListBlocked: &cs.ListBlocked, CmdUnban: &cs.Unban, CmdKeep: &cs.Keep, CmdListKept: &cs.ListKept,
	}
	seen := map[string]string{}
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(make([]byte, 0, 1024), maxCommandsLine)
	n := 0
	for sc.Scan() {
		n++
		c, ok, err := parseCommandLine(sc.Text())
		if err != nil {
			return nil, mark(ErrCommandsFile, "%s:%d: %v", name, n, err)
		}
		if !ok {
			continue
		}
		c.Source = fmt.Sprintf("%s:%d", name, n)
		if prev, dup := seen[c.Name]; dup {
			return nil, mark(ErrCommandsFile, "%s:%d: %s given twice (first at %s)", name, n, c.Name, prev)
		}
		seen[c.Name] = c.Source
		*slots[c.Name] = c
	}
	if err := sc.Err(); err != nil {
		return nil, mark(ErrCommandsFile, "%s:%d: %v (lines are at most %d bytes)", name, n+1, err, maxCommandsLine)
	}
	for _, want := range []string{CmdListBlocked, CmdUnban, CmdKeep, CmdListKept} {
		if _, ok := seen[want]; !ok {
			return nil, mark(ErrCommandsFile, "%s:%d: no %s line (every one of list-blocked, unban, keep and list-kept is needed)", name, n, want)
		}
	}
	return cs, nil
}

// parseCommandLine parses one line; ok is false for blank and comment
// lines.
func parseCommandLine(line string) (c IPQBDBCommand, ok bool, err error) {
	if !utf8.ValidString(line) {
		return c, false, fmt.Errorf("not UTF-8")
	}
	for _, r := range line {
		if r != '\t' && (r < ' ' || r == 0x7f) {
			return c, false, fmt.Errorf("control character %q", r)
		}
	}
	var words []string
	for _, w := range strings.Fields(line) {
		if strings.HasPrefix(w, "#") {
			break
		}
		words = append(words, w)
	}
	if len(words) == 0 {
		return c, false, nil
	}
	eq := -1
	for i, w := range words {
		if w == "=" {
			eq = i
			break
		}
	}
	if eq < 0 {
		return c, false, fmt.Errorf(`no " = " between the name and the program (want NAME [FLAG...] = PROGRAM [ARG...])`)
	}
	c.Name = words[0]
	switch c.Name {
	case CmdListBlocked, CmdUnban, CmdKeep, CmdListKept:
	case "=":
		return c, false, fmt.Errorf("no command name before \"=\"")
	default:
		return c, false, fmt.Errorf("unknown command %q (want list-blocked, unban, keep or list-kept)", c.Name)
	}
	if c.isListing() {
		c.AddrField = 1
	}
	if c.Name == CmdListBlocked {
		c.ProbField = 2
	}
	for _, f := range words[1:eq] {
		if err := c.setFlag(f); err != nil {
			return c, false, err
		}
	}
	if eq == len(words)-1 {
		return c, false, fmt.Errorf("%s has an empty program", c.Name)
	}
	c.Program, c.Args = words[eq+1], words[eq+2:]
	if err := c.check(); err != nil {
		return c, false, err
	}
	return c, true, nil
}

func (c *IPQBDBCommand) setFlag(f string) error {
	key, val, hasVal := strings.Cut(f, "=")
	switch {
	case f == "ipv6":
		c.IPv6 = true
		return nil
	case key == "addr" && hasVal && c.isListing():
		return setField(&c.AddrField, f, val)
	case key == "prob" && hasVal && c.Name == CmdListBlocked:
		return setField(&c.ProbField, f, val)
	case key == "addr" || key == "prob":
		return fmt.Errorf("flag %q does not apply to %s", f, c.Name)
	default:
		return fmt.Errorf("unknown flag %q (want ipv6, addr=N or prob=N)", f)
	}
}

func setField(dst *int, f, val string) error {
	n, err := strconv.Atoi(val)
	if err != nil || n < 1 || n > 64 {
		return fmt.Errorf("flag %q: want a field number from 1 to 64", f)
	}
	*dst = n
	return nil
}

// check validates program and arguments.
func (c *IPQBDBCommand) check() error {
	p := c.Program
	switch {
	case strings.HasPrefix(p, "-"):
		return fmt.Errorf("%s: program %q looks like an option", c.Name, p)
	case strings.ContainsAny(p, "<>"):
		return fmt.Errorf("%s: program %q holds a placeholder", c.Name, p)
	case strings.Contains(p, "/") && !strings.HasPrefix(p, "/"):
		return fmt.Errorf("%s: program %q is neither a name nor an absolute path", c.Name, p)
	}
	if c.AddrField > 0 && c.AddrField == c.ProbField {
		return fmt.Errorf("%s: addr and prob name the same field %d", c.Name, c.AddrField)
	}
	ips := 0
	optionsEnded := false
	for _, a := range c.Args {
		for _, m := range placeholders().FindAllString(a, -1) {
			if m != ipPlaceholder {
				return fmt.Errorf("%s: unknown placeholder %q (only <ip> stands for the address)", c.Name, m)
			}
		}
		if n := strings.Count(a, ipPlaceholder); n > 0 {
			_, val, hasEq := strings.Cut(a, "=")
			if n > 1 || (a != ipPlaceholder && !(hasEq && val == ipPlaceholder && optionName(a) != "")) {
				return fmt.Errorf("%s: %q: <ip> must be a whole argument or follow \"=\" in --option=<ip>", c.Name, a)
			}
			ips++
		}
		if a == "--" {
			optionsEnded = true
			continue
		}
		if optionsEnded {
			continue
		}
		if o := optionName(a); o != "" && !longOption().MatchString(o) && !shortOption().MatchString(o) {
			if len(o) > 2 && !strings.HasPrefix(o, "--") {
				return fmt.Errorf("%s: %q: write short options one to an argument (-i <ip>, not -i<ip> or -iv), so the probe can check each", c.Name, a)
			}
			return fmt.Errorf("%s: %q is not an option name", c.Name, a)
		}
	}
	switch {
	case c.isListing() && ips > 0:
		return fmt.Errorf("%s lists every record: <ip> has no place in it", c.Name)
	case !c.isListing() && ips == 0:
		return fmt.Errorf("%s needs <ip> standing for the address", c.Name)
	case ips > 1:
		return fmt.Errorf("%s has <ip> %d times; give it once", c.Name, ips)
	}
	return nil
}

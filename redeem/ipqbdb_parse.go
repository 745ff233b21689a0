package redeem

import (
	"bufio"
	"fmt"
	"io"
	"net/netip"
	"regexp"
	"strconv"
	"strings"
	"sync"
)

// MissingOption is an option a command line uses that its program's
// --help does not list, or lists as taking no argument while the command
// line gives it the address.
type MissingOption struct {
	Program string // the program as run
	Option  string // "--list", "-i"
	Command string // the command using it: list-blocked, unban, keep, list-kept
	Source  string // "FILE:LINE" of the command
	NoArg   bool   // listed, but as taking no argument
}

// HelpFailure is a program whose --help could not be run.
type HelpFailure struct {
	Program string
	Err     error
}

// ProbeError is the probe's refusal: options the command lines use that
// the installed tools' --help do not list, and programs whose --help
// failed. Nothing but --help ran. It matches ErrProbe.
type ProbeError struct {
	Source  string // the commands file
	Missing []MissingOption
	NoHelp  []HelpFailure
}

// Error names each program and option; the caller says how to give other
// command lines or, for tools without --help (NoHelp), skip the probe.
func (e *ProbeError) Error() string {
	var parts []string
	for _, m := range e.Missing {
		if m.NoArg {
			parts = append(parts, fmt.Sprintf("%s --help lists %s as taking no argument, but %s gives it the address (%s)", m.Program, m.Option, m.Command, m.Source))
			continue
		}
		parts = append(parts, fmt.Sprintf("%s --help does not list %s, which %s uses (%s)", m.Program, m.Option, m.Command, m.Source))
	}
	for _, h := range e.NoHelp {
		parts = append(parts, fmt.Sprintf("%s --help failed: %v", h.Program, h.Err))
	}
	return "probing the tools with --help: " + strings.Join(parts, "; ") + ": nothing else was run"
}

// Is reports whether target is ErrProbe.
func (e *ProbeError) Is(target error) bool { return target == ErrProbe }

// helpOption matches one option of popt's help column: "-i", "--ip-addr".
var helpOption = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`^(--[A-Za-z0-9][A-Za-z0-9_-]*|-[A-Za-z0-9?])$`) })

// helpOptions returns the options a --help output lists, each mapped to
// whether it takes an argument, read the way popt prints them: an option
// line starts with blanks and "-", its option column ("-i, --ip-addr=ip",
// "      --usage", "--opt[=ARG]", "-x ARG") ends at two blanks or a tab,
// options in it are separated by commas and share the argument shown.
// Lines that do not start with an option (descriptions, group titles, the
// Usage line) list nothing.
func helpOptions(help string) map[string]bool {
	out := map[string]bool{}
	for _, line := range strings.Split(help, "\n") {
		t := strings.TrimLeft(line, " \t")
		if !strings.HasPrefix(t, "-") {
			continue
		}
		col := t
		if i := strings.Index(col, "  "); i >= 0 {
			col = col[:i]
		}
		if i := strings.IndexByte(col, '\t'); i >= 0 {
			col = col[:i]
		}
		var names []string
		takesArg := false
		for _, part := range strings.Split(col, ",") {
			part = strings.TrimSpace(part)
			if i := strings.IndexAny(part, "=[ "); i >= 0 {
				takesArg = takesArg || strings.TrimSpace(part[i:]) != ""
				part = part[:i]
			}
			if helpOption().MatchString(part) {
				names = append(names, part)
			}
		}
		for _, n := range names {
			out[n] = out[n] || takesArg
		}
	}
	return out
}

// maxListingLine bounds one record line of an ipqbdb listing.
const maxListingLine = 4096

// ipqbdbRecord is one record line of an ipqbdb listing.
type ipqbdbRecord struct {
	Prefix netip.Prefix // the address (a host prefix) or range
	Prob   float64      // the probability, 0 to 1; 0 for a listing without prob
	Line   string       // the line, trimmed
}

// host reports whether the record is for one address.
func (r ipqbdbRecord) host() bool { return r.Prefix.Bits() == r.Prefix.Addr().BitLen() }

// parseIPQBDBListing reads a listing's record lines: blank lines are
// skipped, every other line must hold an address or range in field
// c.AddrField and, for list-blocked, a probability in field c.ProbField.
// A line that does not is an error matching ErrListing: the listing's
// format is not the one the commands file assumes, and nothing read from
// it can be trusted.
func parseIPQBDBListing(r io.Reader, c IPQBDBCommand) ([]ipqbdbRecord, error) {
	var recs []ipqbdbRecord
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 4096), maxListingLine)
	n := 0
	for sc.Scan() {
		n++
		line := strings.TrimSpace(sc.Text())
		if line == "" {
			continue
		}
		rec, err := parseIPQBDBRecord(line, c)
		if err != nil {
			return nil, mark(ErrListing, "%s output line %d: %v (the format %s assumes; see docs/ipqbdb.md)", c.Name, n, err, c.Source)
		}
		recs = append(recs, rec)
	}
	if err := sc.Err(); err != nil {
		return nil, mark(ErrListing, "%s output line %d: %v", c.Name, n+1, err)
	}
	return recs, nil
}

// parseIPQBDBRecord reads one record line of a listing of c.
func parseIPQBDBRecord(line string, c IPQBDBCommand) (ipqbdbRecord, error) {
	rec := ipqbdbRecord{Line: strings.TrimSpace(line)}
	f := strings.Fields(line)
	if c.AddrField < 1 || c.AddrField > len(f) {
		return rec, fmt.Errorf("no field %d for the address", c.AddrField)
	}
	p, err := parseRecordAddr(f[c.AddrField-1])
	if err != nil {
		return rec, fmt.Errorf("field %d %q is not an address or range", c.AddrField, f[c.AddrField-1])
	}
	rec.Prefix = p
	if c.ProbField > 0 {
		if c.ProbField > len(f) {
			return rec, fmt.Errorf("no field %d for the probability", c.ProbField)
		}
		if rec.Prob, err = parseProbability(f[c.ProbField-1]); err != nil {
			return rec, fmt.Errorf("field %d: %v", c.ProbField, err)
		}
	}
	return rec, nil
}

func parseRecordAddr(s string) (netip.Prefix, error) {
	if strings.Contains(s, "/") {
		p, err := netip.ParsePrefix(s)
		if err != nil {
			return netip.Prefix{}, err
		}
		if p.Addr().Is4In6() {
			if p.Bits() < 96 {
				return netip.Prefix{}, fmt.Errorf("mapped range %s", s)
			}
			p = netip.PrefixFrom(p.Addr().Unmap(), p.Bits()-96)
		}
		return p.Masked(), nil
	}
	a, err := netip.ParseAddr(s)
	if err != nil || a.Zone() != "" {
		return netip.Prefix{}, fmt.Errorf("not an address: %q", s)
	}
	a = a.Unmap()
	return netip.PrefixFrom(a, a.BitLen()), nil
}

var probSyntax = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`^[0-9]{1,3}(\.[0-9]{1,12})?%?$`) })

// parseProbability reads "25%", "12.50%" (percentages from 0 to 100) or
// "0.125" (a fraction from 0 to 1).
func parseProbability(s string) (float64, error) {
	if !probSyntax().MatchString(s) {
		return 0, fmt.Errorf("%q is not a probability (want a percentage such as 12.5%% or a fraction from 0 to 1)", s)
	}
	pct := strings.HasSuffix(s, "%")
	v, err := strconv.ParseFloat(strings.TrimSuffix(s, "%"), 64)
	if err != nil {
		return 0, fmt.Errorf("%q is not a probability: %v", s, err)
	}
	if pct {
		v /= 100
	}
	if v < 0 || v > 1 {
		return 0, fmt.Errorf("probability %q is out of range (a percentage up to 100%%, or a fraction up to 1)", s)
	}
	return v, nil
}

// ipqbdbIndex finds the records holding an address.
type ipqbdbIndex struct {
	hosts  map[netip.Addr][]ipqbdbRecord
	ranges []ipqbdbRecord
}

func indexRecords(recs []ipqbdbRecord) *ipqbdbIndex {
	idx := &ipqbdbIndex{hosts: make(map[netip.Addr][]ipqbdbRecord, len(recs))}
	for _, r := range recs {
		if r.host() {
			idx.hosts[r.Prefix.Addr()] = append(idx.hosts[r.Prefix.Addr()], r)
		} else {
			idx.ranges = append(idx.ranges, r)
		}
	}
	return idx
}

// holding returns the records for ip itself, then the ranges holding it.
func (idx *ipqbdbIndex) holding(ip netip.Addr) []ipqbdbRecord {
	out := append([]ipqbdbRecord(nil), idx.hosts[ip]...)
	for _, r := range idx.ranges {
		if r.Prefix.Contains(ip) {
			out = append(out, r)
		}
	}
	return out
}

// ParseIPQBDBThreshold reads a --ipqbdb-threshold value: a percentage
// ("5%", "0.5%") or a fraction ("0.05"), above 0 and at most 100%.
func ParseIPQBDBThreshold(s string) (float64, error) {
	v, err := parseProbability(strings.TrimSpace(s))
	if err != nil {
		return 0, fmt.Errorf("ipqbdb threshold: %v", err)
	}
	if v <= 0 {
		return 0, fmt.Errorf("ipqbdb threshold %q: give a probability above 0, such as 0.1%%", s)
	}
	return v, nil
}

// Package diagnose is the tlsrpt diagnose command: it probes, live, the
// causes of the failures the authenticated reports name (the MX hosts,
// the MTA-STS policy, the TLSA records, the TLSRPT record) and says what
// to fix.
package diagnose

import (
	"bufio"
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/tlsrpt/tlsrpt/internal/cmd/cmdutil"
	"github.com/tlsrpt/tlsrpt/internal/jsonout"
	"github.com/tlsrpt/tlsrpt/neutral"
	"github.com/tlsrpt/tlsrpt/probe"
	"github.com/tlsrpt/tlsrpt/store"
)

// ExitProbe is the exit code when a probe could not run (a DNS failure,
// a timeout) and nothing failed: the same 3 as allowlist check's DNS
// failure.
const ExitProbe = cmdutil.ExitDNS

// MaxDomains bounds the domains probed in one run when they come from the
// reports.
const MaxDomains = 20

// Options are diagnose's options.
type Options struct {
	F             *cmdutil.Factory
	Domains       []string
	Ours          []string // --domain: our domains, probed with the reports' when no DOMAIN is given
	All           bool
	JSON          bool
	Since         string
	ExpiryWarning string
	ProbeOptions
}

// ProbeOptions are what the probes of diagnose and digest's checks take
// from the command line, and the dialer tests swap in.
type ProbeOptions struct {
	CAFile  string
	Timeout time.Duration

	// Dial replaces the prober's dialer in tests, which send port 25 and
	// 443 of the test hosts to their own servers.
	Dial func(ctx context.Context, network, address string) (net.Conn, error)
}

// Prober builds the prober of f's resolver and clock, refusing a timeout
// that is not positive with its flag, timeoutFlag.
func (p ProbeOptions) Prober(f *cmdutil.Factory, timeoutFlag string) (*probe.Prober, error) {
	if p.Timeout <= 0 {
		return nil, cmdutil.UsageErrorf("%s %v: want a positive duration (10s)", timeoutFlag, p.Timeout)
	}
	roots, err := LoadRoots(p.CAFile)
	if err != nil {
		return nil, err
	}
	return &probe.Prober{Resolver: f.Trust.Resolver, Timeout: p.Timeout, Roots: roots, Now: f.Now, Dial: p.Dial}, nil
}

// NewCmdDiagnose returns the diagnose command; runF, when not nil,
// replaces the work.
func NewCmdDiagnose(f *cmdutil.Factory, runF func(*Options) error) *cobra.Command {
	opts := &Options{F: f}
	cmd := &cobra.Command{
		Use:   "diagnose [DOMAIN...]",
		Short: "Probe the causes of the failures reports name: MX hosts, MTA-STS policy, DANE, TLSRPT record",
		Long: `Probes, live and from the outside as a sender sees them, what the failures of
the reports can be caused by, and says what to fix: the TLSRPT record; the MX
records; SMTP and STARTTLS on port 25 of each MX host and the certificate it
presents (trust, expiry, names); the MTA-STS record and policy (fetched as
RFC 8461 says), its syntax, whether it covers every MX host, and whether it
changed since the reports; the TLSA records (DNSSEC-validated or not) and
whether one matches the certificate.

Without DOMAIN, the domains given with --domain (our own; the configuration
file's [diagnose] domain) and the policy domains with failures in the
authenticated reports of --since; the checks run are those the reported result types call for
(--all runs every check). A host a report names as receiving-mx-hostname
that is not an MX record of the domain is listed, never probed. Nothing but
port 25 of the MX hosts and port 443 of mta-sts.DOMAIN is connected to, and
for a domain from the reports only at public addresses (name the domain to
probe hosts on loopback or a private network).

Exit status: 0 nothing fails, 1 something fails, 3 a probe could not run (a
DNS failure, a timeout) and nothing failed.`,
		Example: `  tlsrpt diagnose
  tlsrpt diagnose example.org --all
  tlsrpt diagnose --domain example.org --domain example.net
  tlsrpt diagnose example.org --json --ca-file /etc/ssl/private-ca.pem --resolver 127.0.0.1:53`,
		RunE: cmdutil.RunE(opts, func(cmd *cobra.Command, args []string) error {
			opts.Domains = args
			return nil
		}, runF, Run),
	}
	fl := cmd.Flags()
	fl.StringArrayVar(&opts.Ours, "domain", nil, "one of our `DOMAIN`s, probed with the failing domains of the reports when no DOMAIN argument is given (repeatable)")
	fl.BoolVar(&opts.All, "all", false, "run every check, not only those the reported result types call for")
	fl.BoolVar(&opts.JSON, "json", false, "print a JSON array of findings instead of a table")
	fl.StringVar(&opts.Since, "since", "7d", "reports whose range ends after this `DATE|DURATION` (2024-02-01, 7d, 36h)")
	fl.StringVar(&opts.CAFile, "ca-file", "", "trust the roots in this PEM `file` too (a private CA)")
	fl.StringVar(&opts.ExpiryWarning, "expiry-warning", "14d", "warn of a certificate expiring within this `DURATION`")
	fl.DurationVar(&opts.Timeout, "timeout", probe.DefaultTimeout, "bound each DNS query, SMTP session and policy fetch by this `DURATION`")
	return cmd
}

// Record is one finding of one domain, as --json prints it.
type Record struct {
	Domain string `json:"domain"`
	probe.Finding
}

// Run probes the domains and prints the findings.
func Run(ctx context.Context, o *Options) error {
	p, err := o.prober()
	if err != nil {
		return err
	}
	targets, err := o.targets(ctx)
	if err != nil {
		return err
	}
	if len(targets) == 0 {
		if o.JSON {
			return WriteJSON(o.F.IO.Out, nil)
		}
		fmt.Fprintf(o.F.IO.Out, "no failing policy domains in authenticated reports since %s (name a DOMAIN to probe it, or give ours with --domain)\n", o.Since)
		return nil
	}
	var recs []Record
	for _, t := range targets {
		fs, err := p.Diagnose(ctx, t)
		if err != nil {
			return err
		}
		for _, f := range fs {
			recs = append(recs, Record{Domain: t.Domain, Finding: f})
		}
	}
	if o.JSON {
		err = WriteJSON(o.F.IO.Out, recs)
	} else {
		err = WriteTable(o.F.IO.Out, recs)
	}
	if err != nil {
		return err
	}
	return verdict(recs)
}

// verdict is the exit status: 1 when something fails, else 3 when a
// probe could not run, else 0.
func verdict(recs []Record) error {
	failed, broken := false, false
	for _, r := range recs {
		failed = failed || r.Status == probe.Fail
		broken = broken || r.Status == probe.Error
	}
	switch {
	case failed:
		return cmdutil.Silent(cmdutil.ExitFailure)
	case broken:
		return cmdutil.Silent(ExitProbe)
	}
	return nil
}

// prober builds the prober from the flags.
func (o *Options) prober() (*probe.Prober, error) {
	warn, err := cmdutil.ParseDuration(o.ExpiryWarning)
	if err != nil {
		return nil, cmdutil.UsageErrorf("--expiry-warning %q: want a duration (14d, 2w, 72h)", o.ExpiryWarning)
	}
	p, err := o.ProbeOptions.Prober(o.F, "--timeout")
	if err != nil {
		return nil, err
	}
	p.ExpiryWarning = warn
	return p, nil
}

// LoadRoots returns the system roots plus those of file; nil (the
// system's) without a file.
func LoadRoots(file string) (*x509.CertPool, error) {
	if file == "" {
		return nil, nil
	}
	pem, err := os.ReadFile(file)
	if err != nil {
		return nil, fmt.Errorf("reading --ca-file: %w", err)
	}
	pool, err := x509.SystemCertPool()
	if err != nil {
		pool = x509.NewCertPool()
	}
	if !pool.AppendCertsFromPEM(pem) {
		return nil, cmdutil.UsageErrorf("--ca-file %q holds no PEM certificate (give a file of -----BEGIN CERTIFICATE----- blocks)", file)
	}
	return pool, nil
}

// targets are the domains to probe, with what the reports say of each.
func (o *Options) targets(ctx context.Context) ([]probe.Request, error) {
	for _, d := range o.Domains {
		if !probe.ValidDomain(d) {
			return nil, cmdutil.UsageErrorf("%q is not a domain name (give a domain such as example.org)", neutral.TerminalCell(d))
		}
	}
	for _, d := range o.Ours {
		if !probe.ValidDomain(d) {
			return nil, cmdutil.UsageErrorf("--domain %q is not a domain name (give a domain such as example.org)", neutral.TerminalCell(d))
		}
	}
	since, err := cmdutil.ParseSince(o.Since, o.F.Now())
	if err != nil {
		return nil, err
	}
	failing, err := o.failing(ctx, since)
	if err != nil {
		return nil, err
	}
	if len(o.Domains) > 0 {
		return o.named(o.Domains, failing), nil
	}
	return o.oursAndReports(failing), nil
}

// oursAndReports are our domains (--domain), as if named, then the
// failing domains of the reports that are not ours.
func (o *Options) oursAndReports(failing []store.DomainFailures) []probe.Request {
	out := o.named(o.Ours, failing)
	var rest []store.DomainFailures
	for _, f := range failing {
		if !slices.ContainsFunc(out, func(r probe.Request) bool { return canon(r.Domain) == f.Domain }) {
			rest = append(rest, f)
		}
	}
	return append(out, o.fromReports(rest)...)
}

// canon is a domain as the store keeps it: lower case, no final dot.
func canon(d string) string { return strings.ToLower(strings.TrimSuffix(d, ".")) }

// failing reads what the authenticated reports say, from a store opened
// read-only. With named domains a store that is not there is no error:
// every check runs.
func (o *Options) failing(ctx context.Context, since time.Time) ([]store.DomainFailures, error) {
	st, err := o.F.OpenStoreReadOnly()
	if err != nil {
		if len(o.Domains)+len(o.Ours) > 0 && !o.F.DBSet && errors.Is(err, store.ErrNoDatabase) {
			return nil, nil
		}
		return nil, err
	}
	defer st.Close()
	return st.FailingDomains(ctx, since)
}

// named are the domains of the command line (or --domain), with the
// reports' words on them; a domain given twice is probed once.
func (o *Options) named(domains []string, failing []store.DomainFailures) []probe.Request {
	var out []probe.Request
	for _, d := range domains {
		if slices.ContainsFunc(out, func(r probe.Request) bool { return canon(r.Domain) == canon(d) }) {
			continue
		}
		req := probe.Request{Domain: d, All: o.All}
		for _, f := range failing {
			if f.Domain == canon(d) {
				req = request(f, o.All)
			}
		}
		// The operator chose this domain: its hosts may be on the local
		// network. A domain from the reports gets only public addresses.
		req.AllowNonPublic = true
		out = append(out, req)
	}
	return out
}

// fromReports are the failing domains of the reports, at most MaxDomains;
// a domain that is no domain name is said and skipped.
func (o *Options) fromReports(failing []store.DomainFailures) []probe.Request {
	var out []probe.Request
	for _, f := range failing {
		if !probe.ValidDomain(f.Domain) {
			fmt.Fprintf(o.F.IO.ErrOut, "tlsrpt: diagnose: skipping policy domain %q of the reports: not a domain name\n", neutral.TerminalCell(f.Domain))
			continue
		}
		if len(out) == MaxDomains {
			fmt.Fprintf(o.F.IO.ErrOut, "tlsrpt: diagnose: only the %d domains with most failed sessions probed (name a DOMAIN to probe another)\n", MaxDomains)
			break
		}
		out = append(out, request(f, o.All))
	}
	return out
}

func request(f store.DomainFailures, all bool) probe.Request {
	return probe.Request{Domain: f.Domain, ResultTypes: f.ResultTypes, All: all,
		ReportedMX: f.ReceivingMX, PolicyStrings: f.PolicyStrings}
}

// WriteJSON writes the records as an indented JSON array.
func WriteJSON(w io.Writer, recs []Record) error {
	if recs == nil {
		recs = []Record{}
	}
	return jsonout.Write(w, recs)
}

// WriteTable writes one row per finding, with its advice on the next row;
// every string from DNS, TLS, HTTP or reports goes through neutral.
func WriteTable(w io.Writer, recs []Record) error {
	bw := bufio.NewWriter(w)
	tw := tabwriter.NewWriter(bw, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "DOMAIN\tCHECK\tHOST\tSTATUS\tDETAIL")
	cell := neutral.TerminalCell
	for _, r := range recs {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", cell(r.Domain), r.Check, cell(r.Host), r.Status, neutral.TerminalLine(r.Detail))
		if r.Advice != "" {
			fmt.Fprintf(tw, "\t\t\t\tfix: %s\n", neutral.TerminalLine(r.Advice))
		}
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	return bw.Flush()
}

package digest

import (
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"time"

	"github.com/tlsrpt/tlsrpt/neutral"
	"github.com/tlsrpt/tlsrpt/probe"
	"github.com/tlsrpt/tlsrpt/store"
)

// Bounds of the probes a digest runs.
const (
	// MaxProbed bounds the domains probed by one digest, as tlsrpt
	// diagnose bounds those it takes from the reports.
	MaxProbed = 20
	// DefaultProbeBudget bounds the time of all the probes of a digest.
	DefaultProbeBudget = 2 * time.Minute
	// maxSeenDomains and maxSeenTypes bound the result types remembered
	// for the next digest.
	maxSeenDomains = 1000
	maxSeenTypes   = 32
	maxTypeLen     = 64
)

// Probe is what the checks of tlsrpt diagnose found for the result types
// of one policy domain that are new since the last digest: the findings
// that fail or could not run, or Err when the probe could not run at all.
type Probe struct {
	Domain   string
	Types    []string        // the new result types, the checks' reason
	Findings []probe.Finding // status fail or error only
	Err      error
}

// Failed reports whether a finding fails.
func (p Probe) Failed() bool {
	return slices.ContainsFunc(p.Findings, func(f probe.Finding) bool { return f.Status == probe.Fail })
}

// seenKey names the setting that holds the failing result types of a
// host's last digest, per policy domain.
func seenKey(host string) string { return "digest.types:" + host }

// seenTypes reads the result types of the last digest of host.
func seenTypes(ctx context.Context, st *store.Store, host string) (map[string][]string, error) {
	return loadSetting[map[string][]string](ctx, st, seenKey(host))
}

// spanTypes are the failing result types per policy domain of the
// authenticated reports stored in the span, bounded, domain names only.
func spanTypes(failing []store.DomainFailures) map[string][]string {
	out := map[string][]string{}
	for _, f := range failing {
		if len(out) == maxSeenDomains {
			break
		}
		if !probe.ValidDomain(f.Domain) {
			continue
		}
		var types []string
		for _, t := range f.ResultTypes {
			if len(t) <= maxTypeLen && len(types) < maxSeenTypes {
				types = append(types, t)
			}
		}
		if len(types) > 0 {
			out[f.Domain] = types
		}
	}
	return out
}

// requests are the probes of the result types new since the last digest:
// only domains of authenticated reports, at most MaxProbed, never at a
// non-public address (a report chose them).
func requests(failing []store.DomainFailures, types, seen map[string][]string) []probe.Request {
	var out []probe.Request
	for _, f := range failing {
		var fresh []string
		for _, t := range types[f.Domain] {
			if !slices.Contains(seen[f.Domain], t) {
				fresh = append(fresh, t)
			}
		}
		if len(fresh) == 0 || len(out) == MaxProbed {
			continue
		}
		out = append(out, probe.Request{Domain: f.Domain, ResultTypes: fresh,
			ReportedMX: f.ReceivingMX, PolicyStrings: f.PolicyStrings})
	}
	return out
}

// probeNew runs the checks of the result types new since the last digest,
// all within opt.ProbeBudget.
func probeNew(ctx context.Context, st *store.Store, opt Options, d *Digest) error {
	failing, err := st.FailingDomainsStored(ctx, opt.Since, Until(opt.Now))
	if err != nil {
		return err
	}
	d.Types = spanTypes(failing)
	if opt.Prober == nil {
		return nil
	}
	seen, err := seenTypes(ctx, st, opt.Host)
	if err != nil {
		return err
	}
	budget := opt.ProbeBudget
	if budget <= 0 {
		budget = DefaultProbeBudget
	}
	ctx, cancel := context.WithTimeout(ctx, budget)
	defer cancel()
	for _, req := range requests(failing, d.Types, seen) {
		d.Probes = append(d.Probes, runProbe(ctx, opt.Prober, req, budget))
	}
	return nil
}

// errBudget says the digest's time for probes ran out before a domain.
var errBudget = errors.New("the digest's time for probes ran out")

// runProbe probes one domain; it never fails the digest.
func runProbe(ctx context.Context, p *probe.Prober, req probe.Request, budget time.Duration) Probe {
	out := Probe{Domain: req.Domain, Types: req.ResultTypes}
	if end, ok := ctx.Deadline(); ctx.Err() != nil || ok && !time.Now().Before(end) {
		out.Err = fmt.Errorf("%w (%v)", errBudget, budget)
		return out
	}
	fs, err := p.Diagnose(ctx, req)
	if err != nil {
		out.Err = err
		return out
	}
	for _, f := range fs {
		if f.Status == probe.Fail || f.Status == probe.Error {
			out.Findings = append(out.Findings, f)
		}
	}
	return out
}

// RecordTypes notes the failing result types of d's span for host, so
// that the next digest probes only the types new since this one.
func RecordTypes(ctx context.Context, st *store.Store, host string, d Digest) error {
	return saveSetting(ctx, st, seenKey(host), d.Types)
}

// writeProbes writes the findings of the probes: each failing finding
// with its fix, each check that could not run in one line.
func writeProbes(w io.Writer, ps []Probe) {
	if len(ps) == 0 {
		return
	}
	fmt.Fprintf(w, "\nChecks of the result types new since the last digest (tlsrpt diagnose):\n")
	list(w, ps, probeText)
}

// probeText is one domain's part, its lines indented under the first:
// each failing finding with its fix, and the checks that could not run
// in one line.
func probeText(p Probe) string {
	first := fmt.Sprintf("%s (%s): ", neutral.SummaryLine(p.Domain), neutral.SummaryLine(strings.Join(p.Types, ", ")))
	if p.Err != nil {
		return first + "the probe could not run: " + neutral.SummaryLine(p.Err.Error())
	}
	var b strings.Builder
	var broken []probe.Finding
	fails := 0
	for _, f := range p.Findings {
		if f.Status == probe.Error {
			broken = append(broken, f)
			continue
		}
		fails++
		fmt.Fprintf(&b, "\n    fail %s %s: %s", f.Check, neutral.SummaryLine(f.Host), neutral.SummaryLine(f.Detail))
		if f.Advice != "" {
			fmt.Fprintf(&b, "\n      fix: %s", neutral.SummaryLine(f.Advice))
		}
	}
	if len(broken) > 0 {
		fmt.Fprintf(&b, "\n    %s could not run, first %s %s: %s", plural(len(broken), "check", "checks"),
			broken[0].Check, neutral.SummaryLine(broken[0].Host), neutral.SummaryLine(broken[0].Detail))
	}
	head := "nothing fails now (the cause may be fixed already)"
	if fails > 0 {
		head = plural(fails, "failing check", "failing checks")
	} else if len(broken) > 0 {
		head = "nothing fails among the checks that ran"
	}
	fmt.Fprintf(&b, "\n    all checks: tlsrpt diagnose %s", p.Domain)
	return first + head + b.String()
}

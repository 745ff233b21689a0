package cmdutil

import (
	"crypto/tls"
	"fmt"
	"os"

	"github.com/spf13/pflag"

	"github.com/tlsrpt/tlsrpt/filter"
	"github.com/tlsrpt/tlsrpt/report"
)

// HostVar defines --host, this host's name in the store, on fs: the
// commands that keep something per host (redeem, digest, dashboard) take
// it with one meaning and one help text. HostName resolves its default.
func HostVar(fs *pflag.FlagSet, p *string) {
	fs.StringVar(p, "host", "", "this host's `name` in the store: redeem's audit log and waiting count, /metrics, the last digest (default the host name)")
}

// HostName is --host when given, else the host name of this machine.
func HostName(host string) (string, error) {
	if host != "" {
		return host, nil
	}
	h, err := os.Hostname()
	if err != nil {
		return "", fmt.Errorf("naming this host: %w (give --host NAME)", err)
	}
	return h, nil
}

// LimitFlags defines the bounds of what one message, file or POST may
// decode to, on fs into l, with report's defaults: --max-decompressed,
// --max-details and --max-policies (filter, import and serve take them
// with one help text each). CheckLimits refuses their bad values.
func LimitFlags(fs *pflag.FlagSet, l *report.Limits) {
	fs.Int64Var(&l.MaxDecompressed, "max-decompressed", report.DefaultLimits.MaxDecompressed, "largest decompressed report in `bytes`")
	fs.IntVar(&l.MaxDetails, "max-details", report.DefaultLimits.MaxDetails, "most failure details in one message, file or POST; a report past it is refused (serve: 413)")
	fs.IntVar(&l.MaxPolicies, "max-policies", report.DefaultLimits.MaxPolicies, "most policies in one message, file or POST; a report past it is refused (serve: 413)")
}

// CheckLimits refuses zero and negative values of LimitFlags' flags,
// which the decoder would silently take for its defaults: a usage error
// naming the flag and the fix.
func CheckLimits(l report.Limits) error {
	for _, f := range []struct {
		flag string
		v    int64
	}{
		{"--max-decompressed", l.MaxDecompressed}, {"--max-details", int64(l.MaxDetails)}, {"--max-policies", int64(l.MaxPolicies)},
	} {
		if f.v <= 0 {
			return UsageErrorf("%s %d must be above 0; leave it out for the default", f.flag, f.v)
		}
	}
	return nil
}

// DecodeLimits are the bounds of what filter and import decode: those of
// LimitFlags and --max-dmarc-records.
type DecodeLimits struct {
	report.Limits
	// DMARCRecords bounds the records of the DMARC reports of one
	// message (or file).
	DMARCRecords int
}

// AddFlags defines LimitFlags' flags and --max-dmarc-records, whose help
// is dmarcHelp, on fs.
func (l *DecodeLimits) AddFlags(fs *pflag.FlagSet, dmarcHelp string) {
	LimitFlags(fs, &l.Limits)
	fs.IntVar(&l.DMARCRecords, "max-dmarc-records", filter.DefaultDMARCRecords, dmarcHelp)
}

// Check refuses zero and negative values, as CheckLimits does, of
// --max-dmarc-records too.
func (l DecodeLimits) Check() error {
	if err := CheckLimits(l.Limits); err != nil {
		return err
	}
	if l.DMARCRecords <= 0 {
		return UsageErrorf("--max-dmarc-records %d must be above 0; leave it out for the default", l.DMARCRecords)
	}
	return nil
}

// TLSOptions are --tls-cert and --tls-key of the commands that serve
// (serve, dashboard).
type TLSOptions struct {
	Cert, Key string
}

// AddFlags defines --tls-cert and --tls-key on fs.
func (t *TLSOptions) AddFlags(fs *pflag.FlagSet) {
	fs.StringVar(&t.Cert, "tls-cert", "", "serve HTTPS with this PEM certificate chain `file` (needs --tls-key)")
	fs.StringVar(&t.Key, "tls-key", "", "PEM private key `file` of --tls-cert")
}

// Check refuses one of the two flags without the other.
func (t TLSOptions) Check() error {
	if (t.Cert == "") != (t.Key == "") {
		return UsageErrorf("give both --tls-cert and --tls-key, or neither")
	}
	return nil
}

// Load reads the certificate chain and its key, when given, so that a
// server that could not serve them never listens; the error names both
// files.
func (t TLSOptions) Load() error {
	if t.Cert == "" {
		return nil
	}
	if _, err := tls.LoadX509KeyPair(t.Cert, t.Key); err != nil {
		return fmt.Errorf("--tls-cert %s, --tls-key %s: %w", t.Cert, t.Key, err)
	}
	return nil
}

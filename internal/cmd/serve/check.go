package serve

import (
	"math"
	"strconv"
	"time"

	"github.com/tlsrpt/tlsrpt/internal/clientip"
	"github.com/tlsrpt/tlsrpt/internal/cmd/cmdutil"
	"github.com/tlsrpt/tlsrpt/internal/tally"
	"github.com/tlsrpt/tlsrpt/serve"
)

// check validates the options at start: the proxies to trust, the proxy
// header, and the limits, each alone and together. Every refusal is one
// line naming the flags and the fix.
func check(o *Options) error {
	nets, err := clientip.ParseTrust(o.TrustProxy)
	if err != nil {
		return cmdutil.UsageErrorf("%w", err)
	}
	o.Handler.TrustProxy = nets
	if o.Handler.ProxyHeader, err = clientip.ParseHeader(o.ProxyHeader); err != nil {
		return cmdutil.UsageErrorf("%w", err)
	}
	if err := cmdutil.CheckLimits(o.Handler.Limits); err != nil {
		return err
	}
	if err := positive(o); err != nil {
		return err
	}
	return checkLimits(o.Handler, o.Server)
}

// positive refuses zero and negative sizes and durations, which the
// library would silently replace with its defaults.
func positive(o *Options) error {
	for _, f := range []struct {
		flag string
		v    int64
	}{
		{"--max-body", o.Handler.MaxBody},
		{"--max-concurrent", int64(o.Handler.MaxConcurrent)}, {"--max-reading", int64(o.Handler.MaxReading)},
		{"--max-per-client", int64(o.Handler.MaxPerClient)}, {"--max-in-flight", o.Handler.MaxInFlightBytes},
		{"--store-wait", int64(o.Handler.StoreWait)},
		{"--read-header-timeout", int64(o.Server.ReadHeaderTimeout)}, {"--read-timeout", int64(o.Server.ReadTimeout)},
		{"--write-timeout", int64(o.Server.WriteTimeout)}, {"--idle-timeout", int64(o.Server.IdleTimeout)},
		{"--shutdown-timeout", int64(o.Server.ShutdownTimeout)},
	} {
		if f.v <= 0 {
			return cmdutil.UsageErrorf("%s must be above 0; leave it out for the default", f.flag)
		}
	}
	return nil
}

// checkLimits refuses the combinations of limits under which some request
// that every other bound admits could never be served or answered.
func checkLimits(h serve.Options, s serve.ServerOptions) error {
	// A POST holds its body's read buffer and, while it decodes,
	// --max-decompressed of the byte budget: below both, a body the size
	// bounds admit gets 503 "server busy" on an idle server, forever.
	if need := tally.Add(serve.BodyBudget(h.MaxBody), h.Limits.MaxDecompressed, math.MaxInt64); h.MaxInFlightBytes < need {
		return cmdutil.UsageErrorf("--max-in-flight %d is below one --max-body %d body (%d with its read buffer) plus one --max-decompressed %d decoding: such POSTs would get 503 forever; give --max-in-flight %d or more, or lower the others",
			h.MaxInFlightBytes, h.MaxBody, serve.BodyBudget(h.MaxBody), h.Limits.MaxDecompressed, need)
	}
	if h.MaxPerClient > h.MaxReading {
		return cmdutil.UsageErrorf("--max-per-client %d is above --max-reading %d: one client could take every read slot before reaching it; give --max-per-client at most %d", h.MaxPerClient, h.MaxReading, h.MaxReading)
	}
	// The read deadline covers headers and body from the request's start;
	// a header deadline past it leaves the body no time at all.
	if s.ReadHeaderTimeout > s.ReadTimeout {
		return cmdutil.UsageErrorf("--read-header-timeout %s is above --read-timeout %s: headers that take longer leave the body no time; give --read-header-timeout at most %s", secs(s.ReadHeaderTimeout), secs(s.ReadTimeout), secs(s.ReadTimeout))
	}
	// The write deadline runs from the end of the headers: a body read to
	// the read deadline then waits up to --store-wait for a store slot.
	if s.WriteTimeout <= s.ReadTimeout+h.StoreWait {
		return cmdutil.UsageErrorf("--write-timeout %s is not above --read-timeout %s plus --store-wait %s: a report read in full and kept waiting could not be answered; give --write-timeout more than %s",
			secs(s.WriteTimeout), secs(s.ReadTimeout), secs(h.StoreWait), secs(s.ReadTimeout+h.StoreWait))
	}
	return nil
}

// secs writes d in seconds, a form every duration flag takes back.
func secs(d time.Duration) string {
	return strconv.FormatFloat(d.Seconds(), 'f', -1, 64) + "s"
}

package serve

import (
	"bytes"
	"errors"
	"net/netip"
	"strings"
	"testing"

	"github.com/tlsrpt/tlsrpt/internal/cmd/cmdutil"
	"github.com/tlsrpt/tlsrpt/serve"
)

// run parses args as the serve command would and returns the options the
// work would get, or the error.
func run(t *testing.T, args ...string) (*Options, error) {
	t.Helper()
	var got *Options
	cmd := NewCmdServe(cmdutil.New(nil, &bytes.Buffer{}, &bytes.Buffer{}), func(o *Options) error { got = o; return nil })
	cmd.SetArgs(args)
	cmd.SetOut(&bytes.Buffer{})
	cmd.SetErr(&bytes.Buffer{})
	err := cmd.Execute()
	return got, err
}

// TestImpossibleLimits: every combination of limits under which a request
// the other bounds admit could never be served or answered is refused at
// start, with one line naming each flag involved and the fix, and exit 2.
func TestImpossibleLimits(t *testing.T) {
	for _, tt := range []struct {
		args  []string
		flags []string
	}{
		// Issue 17: every POST got 503 "server busy", forever.
		{[]string{"--max-in-flight", "1000000", "--max-decompressed", "2000000"}, []string{"--max-in-flight 1000000", "--max-decompressed 2000000", "--max-body"}},
		// Room for decoding, not for the largest body with its buffer.
		{[]string{"--max-in-flight", "20000000", "--max-decompressed", "4000000"}, []string{"--max-in-flight 20000000", "--max-body 8388608", "give --max-in-flight 20777216 or more"}},
		{[]string{"--max-per-client", "20", "--max-reading", "10"}, []string{"--max-per-client 20", "--max-reading 10"}},
		{[]string{"--read-header-timeout", "40s"}, []string{"--read-header-timeout 40s", "--read-timeout 30s"}},
		{[]string{"--write-timeout", "55s"}, []string{"--write-timeout 55s", "--read-timeout 30s", "--store-wait 25s", "more than 55s"}},
		{[]string{"--store-wait", "40s"}, []string{"--write-timeout 60s", "--store-wait 40s", "more than 70s"}},
		{[]string{"--max-in-flight", "0"}, []string{"--max-in-flight must be above 0"}},
		{[]string{"--read-timeout", "-1s"}, []string{"--read-timeout"}},
		{[]string{"--max-reading", "-1"}, []string{"--max-reading must be above 0"}},
	} {
		t.Run(strings.Join(tt.args, " "), func(t *testing.T) {
			o, err := run(t, tt.args...)
			var ee *cmdutil.ExitError
			// A duration the flag parser refuses is a usage error too.
			if err == nil || o != nil || (!errors.As(err, &ee) || ee.Code != cmdutil.ExitUsage) && !strings.Contains(err.Error(), "invalid argument") {
				t.Fatalf("not refused as a usage error: %v", err)
			}
			msg := err.Error()
			if strings.Contains(msg, "\n") {
				t.Errorf("more than one line: %q", msg)
			}
			for _, f := range tt.flags {
				if !strings.Contains(msg, f) {
					t.Errorf("%q does not say %q", msg, f)
				}
			}
		})
	}
	// The defaults, and the least --max-in-flight the first case names.
	for _, args := range [][]string{nil, {"--max-in-flight", "18777216", "--max-decompressed", "2000000"}, {"--max-per-client", "10", "--max-reading", "10"}} {
		if _, err := run(t, args...); err != nil {
			t.Errorf("%v refused: %v", args, err)
		}
	}
}

// TestTrustProxyFlag: --trust-proxy takes addresses and CIDR ranges,
// checked with net/netip; anything else, every address, a range with host
// bits or an IPv4-mapped range is refused naming the value.
func TestTrustProxyFlag(t *testing.T) {
	o, err := run(t, "--trust-proxy", "127.0.0.1", "--trust-proxy", "::1", "--trust-proxy", "10.0.0.0/8", "--proxy-header", "forwarded")
	if err != nil {
		t.Fatal(err)
	}
	want := []netip.Prefix{netip.MustParsePrefix("127.0.0.1/32"), netip.MustParsePrefix("::1/128"), netip.MustParsePrefix("10.0.0.0/8")}
	if len(o.Handler.TrustProxy) != len(want) || o.Handler.ProxyHeader != serve.HeaderForwarded {
		t.Fatalf("trust %v header %q", o.Handler.TrustProxy, o.Handler.ProxyHeader)
	}
	for i := range want {
		if o.Handler.TrustProxy[i] != want[i] {
			t.Errorf("trust %v, want %v", o.Handler.TrustProxy, want)
		}
	}
	for _, bad := range []string{"proxy.example", "0.0.0.0/0", "::/0", "10.0.0.1/8", "fe80::1%eth0", "::ffff:10.0.0.0/104", "127.0.0.1/33", ""} {
		if _, err := run(t, "--trust-proxy", bad); err == nil || !strings.Contains(err.Error(), "--trust-proxy \""+bad+"\"") {
			t.Errorf("--trust-proxy %q: %v", bad, err)
		}
	}
	if _, err := run(t, "--proxy-header", "X-Real-IP"); err == nil || !strings.Contains(err.Error(), "--proxy-header") {
		t.Errorf("--proxy-header X-Real-IP: %v", err)
	}
}

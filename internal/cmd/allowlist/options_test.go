package allowlist

import (
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/tlsrpt/tlsrpt/internal/cmd/cmdtest"
	"github.com/tlsrpt/tlsrpt/internal/cmd/cmdutil"
)

// TestCheckFlags: allowlist check's command line into CheckOptions; the
// address is checked with net/netip, IPv4-mapped addresses unmapped.
func TestCheckFlags(t *testing.T) {
	cmdtest.Table(t, NewCmdCheck, []string{"192.0.2.1"}, []cmdtest.Case[CheckOptions]{
		{Args: nil, Want: func(o *CheckOptions) { o.IP = netip.MustParseAddr("192.0.2.1") }},
		{Args: []string{"-v"}, Want: func(o *CheckOptions) { o.IP, o.Verbose = netip.MustParseAddr("192.0.2.1"), true }},
		{Args: []string{"192.0.2.2"}, Refused: []string{"want one IP address", "tlsrpt allowlist check 209.85.220.41"}},
	})
	e := cmdtest.New(t)
	if o, err := cmdtest.Parse(e.F, NewCmdCheck, "::ffff:192.0.2.1"); err != nil || o.IP != netip.MustParseAddr("192.0.2.1") {
		t.Errorf("an IPv4-mapped address: %+v, %v", o, err)
	}
	for _, bad := range []string{"192.0.2.300", "fe80::1%eth0", "mail.example.com", "192.0.2.0/24", ""} {
		_, err := cmdtest.Parse(e.F, NewCmdCheck, bad)
		cmdtest.Refused(t, err, "is not an IP address")
	}
	_, err := cmdtest.Parse(e.F, NewCmdCheck)
	cmdtest.Refused(t, err, "want one IP address")
}

// TestExportFlags: allowlist export's --format, one of three.
func TestExportFlags(t *testing.T) {
	cmdtest.Table(t, NewCmdExport, nil, []cmdtest.Case[ExportOptions]{
		{Args: nil, Want: func(o *ExportOptions) { o.Format = "cidr" }},
		{Args: []string{"--format", "fail2ban"}, Want: func(o *ExportOptions) { o.Format = "fail2ban" }},
		{Args: []string{"--format", "postscreen"}, Want: func(o *ExportOptions) { o.Format = "postscreen" }},
		{Args: []string{"--format", "json"}, Refused: []string{`unknown --format "json"`, "cidr, fail2ban or postscreen"}},
		{Args: []string{"extra"}, Refused: []string{`unexpected argument "extra"`}},
	})
}

// TestParentRefuses: allowlist alone, or with an unknown subcommand, is a
// usage error that names the subcommands.
func TestParentRefuses(t *testing.T) {
	for args, want := range map[string]string{"": "want a subcommand: check IP, or export", "frob": `unknown subcommand "frob": want check or export`} {
		err := cmdtest.Execute(NewCmdAllowlist(cmdtest.New(t).F), strings.Fields(args)...)
		cmdtest.Refused(t, err, want)
	}
}

// TestRunOutput: options to output, from an allowlist file alone (no
// DNS): check says trusted and exits 0 for an address of an ip: range,
// not trusted and 1 for another; export prints the range.
func TestRunOutput(t *testing.T) {
	e := cmdtest.New(t)
	list := filepath.Join(t.TempDir(), "allow.txt")
	if err := os.WriteFile(list, []byte("example.com ip:192.0.2.0/24\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	e.F.Trust.Allowlists, e.F.Trust.NoDefaultAllowlist = []string{list}, true
	for ip, want := range map[string]int{"192.0.2.9": cmdutil.ExitOK, "198.51.100.7": cmdutil.ExitNotTrusted} {
		e.Out.Reset()
		err := cmdtest.Run(t, e, NewCmdCheck, RunCheck, ip)
		verdict := map[int]string{cmdutil.ExitOK: ": trusted: ", cmdutil.ExitNotTrusted: ": not trusted: "}[want]
		if cmdutil.ExitCode(err) != want || !strings.HasPrefix(e.Out.String(), ip+verdict) {
			t.Errorf("check %s: exit %d, %q; want exit %d, %q", ip, cmdutil.ExitCode(err), e.Out.String(), want, ip+verdict)
		}
	}
	e.Out.Reset()
	if err := cmdtest.Run(t, e, NewCmdExport, RunExport, "--format", "postscreen"); err != nil || !strings.Contains(e.Out.String(), "192.0.2.0/24") {
		t.Errorf("export: %v, %q", err, e.Out.String())
	}
}

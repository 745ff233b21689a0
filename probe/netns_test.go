package probe

import (
	"strings"
	"testing"
	"time"

	"github.com/tlsrpt/tlsrpt/internal/netnstest"
	"github.com/tlsrpt/tlsrpt/internal/probetest"
)

// TestProductionDial runs the prober as the command does, with its real
// dialer and no test hook, in a network namespace of its own where the
// test servers listen on port 25 and 443 of the hosts' own addresses.
// iptables counts every TCP connection the prober opens to the test
// hosts: none to another port, none to the host only a report names,
// although it listens on port 25 and 443 too.
func TestProductionDial(t *testing.T) {
	if !netnstest.Run(t, "TestProductionDial") {
		return
	}
	w := probetest.HealthyReal(t, "real.test")
	victim := probetest.StartSMTPOn(t, w.ListenFor("victim.test", 25), probetest.SMTPStartTLS, probetest.NoCert())
	probetest.StartSMTPOn(t, w.ListenFor("victim.test", 443), probetest.SMTPStartTLS, probetest.NoCert())
	victimIP := w.Rec.Host["victim.test"][0]
	netnstest.IPTables(t, "iptables", "-A", "OUTPUT", "-p", "tcp", "--syn", "-d", "127.0.1.0/24", "-m", "multiport", "!", "--dports", "25,443", "-j", "REJECT")
	netnstest.IPTables(t, "iptables", "-A", "OUTPUT", "-p", "tcp", "--syn", "-d", victimIP, "-j", "ACCEPT")
	netnstest.IPTables(t, "iptables", "-A", "OUTPUT", "-p", "tcp", "--syn", "-d", "127.0.1.0/24", "-j", "ACCEPT")

	p := &Prober{Resolver: w.ValidatingResolver(), Roots: w.CA.Pool(), Timeout: 5 * time.Second}
	fs, err := p.Diagnose(t.Context(), Request{Domain: "real.test", All: true, ReportedMX: []string{"victim.test"}, AllowNonPublic: true})
	if err != nil {
		t.Fatal(err)
	}
	wantAllOK(t, fs, CheckReportedMX)
	want(t, fs, CheckSMTP, "mx1.real.test", OK, ":25 answers")
	want(t, fs, CheckSTSPolicy, "mta-sts.real.test", OK, "200")
	want(t, fs, CheckReportedMX, "victim.test", Warn, "not probed")
	if victim.Connections() != 0 {
		t.Errorf("%d connections to the reported host", victim.Connections())
	}
	rules := netnstest.IPTables(t, "iptables", "-L", "OUTPUT", "-n", "-v", "-x")
	t.Logf("iptables:\n%s", rules)
	for _, line := range strings.Split(rules, "\n") {
		f := strings.Fields(line)
		if len(f) < 3 {
			continue
		}
		switch {
		case f[2] == "REJECT" && f[0] != "0":
			t.Errorf("the prober opened %s connections to a port other than 25 and 443 of a test host", f[0])
		case f[2] == "ACCEPT" && strings.Contains(line, victimIP) && f[0] != "0":
			t.Errorf("the prober opened %s connections to the reported host %s", f[0], victimIP)
		case f[2] == "ACCEPT" && strings.Contains(line, "127.0.1.0/24") && f[0] != "2":
			t.Errorf("the prober opened %s connections to the test hosts, want 2 (port 25 of the MX, 443 of the policy host)", f[0])
		}
	}
}

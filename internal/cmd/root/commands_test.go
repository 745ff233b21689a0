package root

import (
	"bytes"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/tlsrpt/tlsrpt/internal/cmd/cmdutil"
)

// tlsrpt runs the command line in-process, with no configuration file
// and the state folder in the test's, and returns its exit code and
// output.
func tlsrpt(t *testing.T, args ...string) (code int, out, errOut string) {
	t.Helper()
	t.Setenv("XDG_STATE_HOME", filepath.Join(t.TempDir(), "state"))
	t.Setenv("TLSRPT_DB", "")
	var o, e bytes.Buffer
	code = Main(append([]string{"--no-config"}, args...), strings.NewReader(""), &o, &e)
	return code, o.String(), e.String()
}

// TestConfigCommand: config, which has no run function to swap, through
// the root: arguments to output, and its refusals, one line, exit 2.
func TestConfigCommand(t *testing.T) {
	code, out, _ := tlsrpt(t, "--no-dkim", "config", "serve")
	for _, want := range []string{"[serve]", "listen = 127.0.0.1:8460", "no-dkim = true", "# flag", "max-details = 50000", "# default"} {
		if code != 0 || !strings.Contains(out, want) {
			t.Errorf("config serve: exit %d, lacks %q:\n%s", code, want, out)
		}
	}
	if code, out, _ := tlsrpt(t, "config", "--template"); code != 0 || !strings.Contains(out, "[dashboard]") || !strings.Contains(out, "#host =") {
		t.Errorf("config --template: exit %d\n%.300s", code, out)
	}
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"config", "--template", "serve"}, "tlsrpt: config: --template takes no command"},
		{[]string{"config", "frob"}, `tlsrpt: config: no command "tlsrpt frob"`},
		{[]string{"config", "serve", "--listen", "127.0.0.1:0"}, "tlsrpt: config: unknown flag: --listen (see tlsrpt config --help)"},
	} {
		code, _, errOut := tlsrpt(t, tc.args...)
		if code != cmdutil.ExitUsage || !strings.HasPrefix(errOut, tc.want) || strings.Count(errOut, "\n") != 1 {
			t.Errorf("%v: exit %d, %q; want exit 2 and one line %q", tc.args, code, errOut, tc.want)
		}
	}
}

// TestManCommand: man, through the root: one folder, else a one-line
// refusal; the pages carry the shared flags' one help text each.
func TestManCommand(t *testing.T) {
	for _, args := range [][]string{{"man"}, {"man", "a", "b"}} {
		code, _, errOut := tlsrpt(t, args...)
		if code != cmdutil.ExitUsage || errOut != "tlsrpt: man: want one folder, as in: tlsrpt man ./man1\n" {
			t.Errorf("%v: exit %d, %q", args, code, errOut)
		}
	}
	dir := filepath.Join(t.TempDir(), "man1")
	if code, _, errOut := tlsrpt(t, "man", dir); code != 0 {
		t.Fatalf("man: exit %d: %s", code, errOut)
	}
	// The roff of a flag's help: its words, whatever the line breaks.
	page := func(name string) string {
		b, err := os.ReadFile(filepath.Join(dir, name))
		if err != nil {
			t.Fatal(err)
		}
		return strings.Join(strings.Fields(strings.ReplaceAll(string(b), `\-`, "-")), " ")
	}
	host := regexp.QuoteMeta("this host's name in the store")
	limit := regexp.QuoteMeta("most failure details in one message, file or POST")
	for name, want := range map[string][]string{
		"tlsrpt-redeem.1": {host}, "tlsrpt-digest.1": {host}, "tlsrpt-dashboard.1": {host, "needs --tls-key"},
		"tlsrpt-filter.1": {limit}, "tlsrpt-import.1": {limit}, "tlsrpt-serve.1": {limit, "needs --tls-key"},
	} {
		p := page(name)
		for _, w := range want {
			if !regexp.MustCompile(w).MatchString(p) {
				t.Errorf("%s lacks %q", name, w)
			}
		}
	}
}

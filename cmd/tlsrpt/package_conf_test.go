package main

import (
	"bytes"
	"flag"
	"os"
	"testing"

	"github.com/tlsrpt/tlsrpt/internal/cmd/cmdutil"
	cmdconfig "github.com/tlsrpt/tlsrpt/internal/cmd/config"
	"github.com/tlsrpt/tlsrpt/internal/cmd/root"
	"github.com/tlsrpt/tlsrpt/internal/config"
)

var updateConf = flag.Bool("update-conf", false, "rewrite packaging/tlsrpt.conf from the flags")

// TestPackagedConfig: the configuration file the Debian package installs
// names every key of every command, commented out with its default but
// for the package's own settings, and every command accepts it. A flag
// added or changed without running go test ./cmd/tlsrpt -run
// TestPackagedConfig -update-conf fails here.
func TestPackagedConfig(t *testing.T) {
	const path = "../../packaging/tlsrpt.conf"
	for _, env := range []string{"TLSRPT_RESOLVER", "TLSRPT_SYSLOG", "TLSRPT_DB"} {
		t.Setenv(env, "") // the defaults the file shows are the built-in ones
	}
	shipped, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	file, err := config.Parse(path, bytes.NewReader(shipped))
	if err != nil {
		t.Fatal(err)
	}
	tree := root.NewCmdRoot(cmdutil.New(nil, nil, nil))
	if err := cmdconfig.Check(tree, file); err != nil {
		t.Fatalf("the packaged configuration is refused: %v", err)
	}
	var want bytes.Buffer
	if err := cmdconfig.WriteTemplate(&want, tree, file); err != nil {
		t.Fatal(err)
	}
	if *updateConf {
		if err := os.WriteFile(path, want.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	if !bytes.Equal(shipped, want.Bytes()) {
		t.Errorf("%s is not what the flags make: run go test ./cmd/tlsrpt -run TestPackagedConfig -update-conf", path)
	}
	for _, want := range []string{"db = /var/lib/tlsrpt/tlsrpt.db", "#trust-authserv-id =", "[filter]\nspool = /var/lib/tlsrpt/spool\nsyslog = local\n", "#listen = 127.0.0.1:8460"} {
		if !bytes.Contains(shipped, []byte(want)) {
			t.Errorf("%s lacks %q", path, want)
		}
	}
}

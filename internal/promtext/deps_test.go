package promtext

import (
	"os/exec"
	"strings"
	"testing"
)

// TestNoMetricsLibraryInBinary: the tlsrpt binary links none of the
// packages whose init this package exists to avoid (client_golang and
// what it brings: procfs, protobuf, client_model, expfmt, goautoneg,
// runtime/metrics); a test may use expfmt, the binary may not. It fails
// when one of them comes back, naming it and the chain that brings it.
func TestNoMetricsLibraryInBinary(t *testing.T) {
	// go test puts the go command's own folder first in $PATH.
	goCmd, err := exec.LookPath("go")
	if err != nil {
		t.Fatalf("the go command: %v", err)
	}
	out, err := exec.Command(goCmd, "list", "-deps", "github.com/tlsrpt/tlsrpt/cmd/tlsrpt").CombinedOutput()
	if err != nil {
		t.Fatalf("go list: %v\n%s", err, out)
	}
	for _, pkg := range strings.Fields(string(out)) {
		for _, banned := range []string{"github.com/prometheus/", "google.golang.org/protobuf/", "github.com/munnerz/goautoneg", "runtime/metrics"} {
			if strings.HasPrefix(pkg, banned) {
				why, _ := exec.Command(goCmd, "mod", "why", pkg).CombinedOutput()
				t.Errorf("the binary links %s, whose init every command pays:\n%s", pkg, why)
			}
		}
	}
}

package probetest

import (
	"encoding/pem"
	"os"
	"path/filepath"
	"testing"
)

// File writes the CA's certificate as PEM to a file of t's temporary
// directory, as diagnose's --ca-file reads it, and returns its path.
func (ca *CA) File(t testing.TB) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "ca.pem")
	if err := os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: ca.Cert.Raw}), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

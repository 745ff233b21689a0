package config

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestRootRefuses attacks the refusal of a configuration others can
// change: a group-writable file, a group-writable folder, and (when the
// test does not run as root) a file root does not own, each loaded as
// root would load it.
func TestRootRefuses(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "etc")
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "tlsrpt.conf")
	if err := os.WriteFile(path, []byte("db = /srv/x.db\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	asRoot := &Options{File: path, euid: func() int { return 0 }}
	if os.Geteuid() != 0 {
		_, err := asRoot.Load()
		if err == nil || !strings.Contains(err.Error(), "is owned by uid") {
			t.Fatalf("root loaded a file owned by uid %d: %v", os.Geteuid(), err)
		}
		return
	}
	if _, err := asRoot.Load(); err != nil {
		t.Fatalf("a root-only file is refused: %v", err)
	}
	os.Chmod(path, 0o664)
	if _, err := asRoot.Load(); err == nil || !strings.Contains(err.Error(), "writable by group or others (mode 0664)") {
		t.Errorf("group-writable file: %v", err)
	}
	asUser := &Options{File: path, euid: func() int { return 1000 }}
	if _, err := asUser.Load(); err != nil {
		t.Errorf("a user other than root is refused the file: %v", err)
	}
	os.Chmod(path, 0o644)
	os.Chmod(dir, 0o777)
	if _, err := asRoot.Load(); err == nil || !strings.Contains(err.Error(), "its folder "+dir+" is writable") {
		t.Errorf("others-writable folder: %v", err)
	}
}

// TestMissingFile: the default file may be missing; one named by
// --config or $TLSRPT_CONFIG may not.
func TestMissingFile(t *testing.T) {
	missing := filepath.Join(t.TempDir(), "none.conf")
	old := defaultPath
	defaultPath = missing
	t.Cleanup(func() { defaultPath = old })
	t.Setenv("TLSRPT_CONFIG", "")
	if f, err := (&Options{}).Load(); f != nil || err != nil {
		t.Errorf("missing default file: %v, %v", f, err)
	}
	if _, err := (&Options{File: missing}).Load(); err == nil {
		t.Error("missing --config file accepted")
	}
	t.Setenv("TLSRPT_CONFIG", missing)
	if _, err := (&Options{}).Load(); err == nil {
		t.Error("missing $TLSRPT_CONFIG file accepted")
	}
}

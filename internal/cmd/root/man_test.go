package root

import (
	"bytes"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestManRefusesSymlink plants links in the folder tlsrpt man writes to,
// one to a file of value and one dangling: the command refuses with the
// link's name, exit 1, and neither target is written or created.
func TestManRefusesSymlink(t *testing.T) {
	dir := t.TempDir()
	pages := filepath.Join(dir, "man1")
	os.Mkdir(pages, 0o755)
	precious := filepath.Join(dir, "precious")
	os.WriteFile(precious, []byte("keep me\n"), 0o600)
	dangling := filepath.Join(dir, "created-by-tlsrpt")
	if err := os.Symlink(precious, filepath.Join(pages, "tlsrpt-review.1")); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(dangling, filepath.Join(pages, "tlsrpt.1")); err != nil {
		t.Fatal(err)
	}
	var out, errb bytes.Buffer
	code := Main([]string{"man", pages}, strings.NewReader(""), &out, &errb)
	if code != 1 || !strings.Contains(errb.String(), "symbolic link") || !strings.HasPrefix(errb.String(), "tlsrpt: man: refusing to write "+pages) {
		t.Errorf("exit %d, stderr %q; want 1 and the link named", code, errb.String())
	}
	if b, _ := os.ReadFile(precious); string(b) != "keep me\n" {
		t.Errorf("the link's target was written: %q", b)
	}
	if _, err := os.Lstat(dangling); err == nil {
		t.Errorf("the dangling link's target was created")
	}
	if des, _ := os.ReadDir(pages); len(des) != 2 {
		t.Errorf("pages written despite the refusal: %v", des)
	}
}

// TestManWriteReplacesLink plants the link after the check: the page is
// written to a new file and renamed over the link, so the link's target
// is never written.
func TestManWriteReplacesLink(t *testing.T) {
	dir := t.TempDir()
	precious := filepath.Join(dir, "precious")
	os.WriteFile(precious, []byte("keep me\n"), 0o600)
	page := filepath.Join(dir, "tlsrpt.1")
	if err := os.Symlink(precious, page); err != nil {
		t.Fatal(err)
	}
	if err := writeFileNoFollow(page, func(w io.Writer) { io.WriteString(w, ".TH TLSRPT 1\n") }); err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(precious); string(b) != "keep me\n" {
		t.Errorf("the link's target was written: %q", b)
	}
	fi, err := os.Lstat(page)
	if err != nil || !fi.Mode().IsRegular() || fi.Mode().Perm() != 0o644 {
		t.Errorf("page: %v, %v; want a regular file, mode 0644", fi.Mode(), err)
	}
	if des, _ := os.ReadDir(dir); len(des) != 2 {
		t.Errorf("temporary files left: %v", des)
	}
}

// TestManWrites writes every page into a fresh folder and again over
// them (regular files are replaced).
func TestManWrites(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "man1")
	for range 2 {
		var out, errb bytes.Buffer
		if code := Main([]string{"man", dir}, strings.NewReader(""), &out, &errb); code != 0 {
			t.Fatalf("exit %d: %s", code, errb.String())
		}
	}
	b, err := os.ReadFile(filepath.Join(dir, "tlsrpt-prune.1"))
	if err != nil || !bytes.Contains(b, []byte(`.TH "TLSRPT\-PRUNE" 1`)) {
		t.Errorf("tlsrpt-prune.1: %v\n%.200s", err, b)
	}
	if m, _ := filepath.Glob(filepath.Join(dir, ".*")); len(m) != 0 {
		t.Errorf("temporary files left: %v", m)
	}
}

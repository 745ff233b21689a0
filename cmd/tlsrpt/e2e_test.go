package main

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"
)

var (
	buildOnce sync.Once
	binPath   string
	buildErr  error
)

// tlsrptBinary builds the command once per test run and returns its path,
// for tests that run it as a separate process (maildrop, concurrency).
func tlsrptBinary(t testing.TB) string {
	t.Helper()
	buildOnce.Do(func() {
		dir, err := os.MkdirTemp("", "tlsrpt-bin-")
		if err != nil {
			buildErr = err
			return
		}
		binPath = filepath.Join(dir, "tlsrpt")
		out, err := exec.Command("go", "build", "-o", binPath, ".").CombinedOutput()
		if err != nil {
			buildErr = fmt.Errorf("go build: %v\n%s", err, out)
		}
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return binPath
}

// installBinary copies the command to path (its folder made when missing),
// where every user may run it.
func installBinary(t testing.TB, path string) {
	t.Helper()
	b, err := os.ReadFile(tlsrptBinary(t))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, b, 0o755); err != nil {
		t.Fatal(err)
	}
}

// repoPath is the absolute path of rel, a path in the repository.
func repoPath(t testing.TB, rel string) string {
	t.Helper()
	abs, err := filepath.Abs(filepath.Join("../..", rel))
	if err != nil {
		t.Fatal(err)
	}
	return abs
}

// maildirFiles returns the contents of the messages delivered to a Maildir.
func maildirFiles(t *testing.T, dir string) [][]byte {
	t.Helper()
	files, _ := filepath.Glob(filepath.Join(dir, "new", "*"))
	var out [][]byte
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, b)
	}
	return out
}

func makeMaildir(t *testing.T, dir string) {
	for _, sub := range []string{"cur", "new", "tmp"} {
		if err := os.MkdirAll(filepath.Join(dir, sub), 0o700); err != nil {
			t.Fatal(err)
		}
	}
}

// TestConcurrentFilters runs 32 tlsrpt filter processes at once on one new
// database, as maildrop does when reports arrive together: all succeed and
// every report is stored once.
func TestConcurrentFilters(t *testing.T) {
	bin := tlsrptBinary(t)
	db := filepath.Join(t.TempDir(), "state", "tlsrpt.db")
	tmpl, err := os.ReadFile("../../filter/testdata/mt-tlsrpt-json.eml")
	if err != nil {
		t.Fatal(err)
	}
	const n = 32
	var wg sync.WaitGroup
	errs := make([]error, n)
	outs := make([][]byte, n)
	for i := 0; i < n; i++ {
		msg := bytes.ReplaceAll(tmpl, []byte("2024-01-09T00:00:00Z_example.com"), fmt.Appendf(nil, "concurrent-%02d", i))
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			cmd := exec.Command(bin, "filter", "--db", db, "--resolver", "127.0.0.1:9")
			cmd.Stdin = bytes.NewReader(msg)
			var stderr bytes.Buffer
			cmd.Stderr = &stderr
			outs[i], errs[i] = cmd.Output()
			if errs[i] == nil && stderr.Len() > 0 {
				errs[i] = fmt.Errorf("stderr: %s", stderr.String())
			}
		}(i)
	}
	wg.Wait()
	for i := 0; i < n; i++ {
		if errs[i] != nil || !bytes.HasPrefix(outs[i], []byte("TLS-Report-Has-Failures: 3\n")) {
			t.Errorf("filter %d: %v", i, errs[i])
		}
	}
	out, err := exec.Command(bin, "review", "--db", db, "--json").CombinedOutput()
	if err != nil {
		t.Fatalf("review: %v\n%s", err, out)
	}
	if c := bytes.Count(out, []byte(fmt.Sprintf(`"reports": %d`, n))); c != 2 {
		t.Fatalf("want both addresses named by all %d reports, review says:\n%s", n, out)
	}
}

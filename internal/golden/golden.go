// Package golden holds what the parsers' corpus tests share: the list of
// a corpus's samples, a comparison with a golden file that -update
// rewrites, and a check that every sample of a corpus has its facts.
package golden

import (
	"bytes"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// update is the -update flag of every test that uses golden files.
var update = flag.Bool("update", false, "rewrite the golden files from the current output")

// Samples lists the sample files of dirs, folder by folder in name order:
// those whose names end in one of exts, or with no exts every file but
// the folders' READMEs (*.md). Fewer than min of them fails the test: a
// corpus gone missing must not pass unseen.
func Samples(t testing.TB, min int, exts []string, dirs ...string) []string {
	t.Helper()
	var files []string
	for _, dir := range dirs {
		entries, err := os.ReadDir(dir)
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range entries {
			if !e.IsDir() && sample(e.Name(), exts) {
				files = append(files, filepath.Join(dir, e.Name()))
			}
		}
	}
	if len(files) < min {
		t.Fatalf("only %d sample files found in %s", len(files), strings.Join(dirs, " and "))
	}
	return files
}

// sample tells whether name is a sample file of the kinds exts.
func sample(name string, exts []string) bool {
	if len(exts) == 0 {
		return !strings.HasSuffix(name, ".md")
	}
	return slices.Contains(exts, filepath.Ext(name))
}

// Compare compares got with the golden file path, or, with -update,
// writes got to it (and makes its folder).
func Compare(t testing.TB, path string, got []byte) {
	t.Helper()
	if *update {
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test -update to create it)", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("dump differs from %s (go test -update rewrites it):\n%s", path, got)
	}
}

// Files compares, for every sample file of paths, what dump makes of it
// with testdata/golden/<its base name>.golden (Compare).
func Files(t *testing.T, paths []string, dump func(*testing.T, string) []byte) {
	t.Helper()
	for _, path := range paths {
		name := filepath.Base(path)
		t.Run(name, func(t *testing.T) {
			Compare(t, filepath.Join("testdata", "golden", name+".golden"), dump(t, path))
		})
	}
}

// JSON is v as the golden files hold it: indented with tabs, with <, >
// and & as they are.
func JSON(v any) []byte {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", "\t")
	if err := enc.Encode(v); err != nil {
		panic(err)
	}
	return buf.Bytes()
}

// Facts runs, for every sample file of paths, the check facts holds under
// its base name, on what read makes of it. A sample without a check
// fails, so that every new sample gets its assertions, and so does a
// check whose sample is gone.
func Facts[R any](t *testing.T, paths []string, read func(*testing.T, string) R, facts map[string]func(*testing.T, R)) {
	t.Helper()
	seen := map[string]bool{}
	for _, path := range paths {
		name := filepath.Base(path)
		check, ok := facts[name]
		if !ok {
			t.Errorf("%s: no entry in facts", name)
			continue
		}
		seen[name] = true
		t.Run(name, func(t *testing.T) { check(t, read(t, path)) })
	}
	for name := range facts {
		if !seen[name] {
			t.Errorf("facts names %s, which is not a sample file", name)
		}
	}
}

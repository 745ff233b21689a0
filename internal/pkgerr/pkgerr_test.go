package pkgerr

import (
	"errors"
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

var errBusy = New("store", "database is busy")

func TestTrimPackage(t *testing.T) {
	for _, tc := range []struct {
		name string
		err  error
		want string
	}{
		{"marked", Errorf("store", "reading the audit log: %w", errors.New("disk")), "reading the audit log: disk"},
		{"sentinel first", fmt.Errorf("%w: held for 5s", errBusy), "database is busy: held for 5s"},
		{"wrapped by the command", fmt.Errorf("pruning: %w", errBusy), "pruning: store: database is busy"},
		{"joined", errors.Join(Errorf("spool", "spool full"), errBusy), "spool full\nstore: database is busy"},
		// A file named like a package is data, not a package's name.
		{"not marked", fmt.Errorf("store: %w", errors.New("no such file")), "store: no such file"},
		{"other name first", fmt.Errorf("report: %w", errBusy), "report: store: database is busy"},
		{"nil", nil, ""},
	} {
		msg := ""
		if tc.err != nil {
			msg = tc.err.Error()
		}
		if got := TrimPackage(tc.err, msg); got != tc.want {
			t.Errorf("%s: %q, want %q", tc.name, got, tc.want)
		}
	}
	if !errors.Is(fmt.Errorf("x: %w", errBusy), errBusy) {
		t.Error("a sentinel made by New is not found by errors.Is")
	}
}

// TestMarkedEverywhere reads the module's packages: none writes its name
// in an error text of its own (fmt.Errorf or errors.New with "NAME: "),
// which the command layer would then print after the command's name;
// a package names itself through pkgerr.
func TestMarkedEverywhere(t *testing.T) {
	root, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	marked := 0
	err = filepath.WalkDir(root, func(dir string, d fs.DirEntry, err error) error {
		if err != nil || !d.IsDir() {
			return err
		}
		if rel, _ := filepath.Rel(root, dir); rel == "internal" || rel == "cmd" || strings.HasPrefix(d.Name(), ".") || d.Name() == "testdata" {
			return filepath.SkipDir
		}
		if n := checkPackage(t, dir); n {
			marked++
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if marked < 5 {
		t.Errorf("%d packages mark their errors; the walk missed them", marked)
	}
}

// checkPackage reports whether the package in dir marks its errors, and
// fails the test for each unmarked error text that starts with its name.
func checkPackage(t *testing.T, dir string) bool {
	fset := token.NewFileSet()
	var files []*ast.File
	des, _ := os.ReadDir(dir)
	uses := false
	for _, de := range des {
		if !strings.HasSuffix(de.Name(), ".go") || strings.HasSuffix(de.Name(), "_test.go") {
			continue
		}
		f, err := parser.ParseFile(fset, filepath.Join(dir, de.Name()), nil, parser.SkipObjectResolution)
		if err != nil {
			t.Fatal(err)
		}
		files = append(files, f)
		for _, im := range f.Imports {
			uses = uses || im.Path.Value == `"github.com/tlsrpt/tlsrpt/internal/pkgerr"`
		}
	}
	for _, f := range files {
		prefix := f.Name.Name + ": "
		ast.Inspect(f, func(n ast.Node) bool {
			call, ok := n.(*ast.CallExpr)
			if !ok || len(call.Args) == 0 || !isCall(call, "fmt", "Errorf") && !isCall(call, "errors", "New") {
				return true
			}
			if lit, ok := call.Args[0].(*ast.BasicLit); ok && lit.Kind == token.STRING {
				if s, err := strconv.Unquote(lit.Value); err == nil && strings.HasPrefix(s, prefix) {
					t.Errorf("%s: %q: write it with pkgerr.Errorf or pkgerr.New (imports pkgerr: %v)", fset.Position(lit.Pos()), s, uses)
				}
			}
			return true
		})
	}
	return uses
}

// isCall reports whether call calls pkg.name.
func isCall(call *ast.CallExpr, pkg, name string) bool {
	sel, ok := call.Fun.(*ast.SelectorExpr)
	if !ok || sel.Sel.Name != name {
		return false
	}
	id, ok := sel.X.(*ast.Ident)
	return ok && id.Name == pkg
}

// TestKind: a marked error keeps its text and its chain, matches its
// kind and no other, and its package is found through it.
func TestKind(t *testing.T) {
	cause := Errorf("report", "parsing JSON: %w", fs.ErrInvalid)
	err := fmt.Errorf("r.json: %w", Kind(errBusy, cause))
	if err.Error() != "r.json: report: parsing JSON: invalid argument" {
		t.Errorf("text %q", err)
	}
	if !errors.Is(err, errBusy) || !errors.Is(err, fs.ErrInvalid) || errors.Is(err, fs.ErrNotExist) {
		t.Errorf("errors.Is: kind %v, cause %v, other %v", errors.Is(err, errBusy), errors.Is(err, fs.ErrInvalid), errors.Is(err, fs.ErrNotExist))
	}
	if got := TrimPackage(Kind(errBusy, cause), cause.Error()); got != "parsing JSON: invalid argument" {
		t.Errorf("TrimPackage through Kind: %q", got)
	}
}

// TestMark: a marked error prints its own text (no sentinel's prefix),
// matches every kind it was given and what its cause matches, and
// nothing else.
func TestMark(t *testing.T) {
	errGone := New("store", "gone")
	err := fmt.Errorf("opening x.db: %w", Mark("no database file", fs.ErrNotExist, errBusy, errGone))
	if err.Error() != "opening x.db: no database file" {
		t.Errorf("text %q", err)
	}
	for _, target := range []error{errBusy, errGone, fs.ErrNotExist} {
		if !errors.Is(err, target) {
			t.Errorf("errors.Is(%v) = false", target)
		}
	}
	if errors.Is(err, fs.ErrPermission) || errors.Is(Mark("x", nil), errBusy) {
		t.Error("matches a kind it was not given")
	}
	if errors.Unwrap(Mark("x", nil, errBusy)) != nil {
		t.Error("a mark without a cause unwraps to something")
	}
}

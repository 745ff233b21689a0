package ingest

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
)

// kind is how a planned file is read.
type kind int

const (
	kindAuto       kind = iota // decided by content: mbox, report file or message
	kindMessage                // a Maildir message
	kindReportFile             // .json, .gz, .zip
)

// item is one file to read.
type item struct {
	path string
	size int64
	kind kind
}

// plan walks the paths and lists the files to read, in order: paths as
// given, folder entries sorted by name. A path that cannot be read is an
// error.
func plan(paths []string) ([]item, []*FileError) {
	var items []item
	var errs []*FileError
	for _, p := range paths {
		fi, err := os.Stat(p) // follows a symbolic link given by name
		switch {
		case err != nil:
			errs = append(errs, &FileError{Path: p, Err: bareErr(err)})
		case fi.IsDir():
			walkDir(p, &items, &errs)
		case fi.Mode().IsRegular():
			items = append(items, item{path: p, size: fi.Size(), kind: kindOfName(p)})
		default:
			errs = append(errs, &FileError{Path: p, Err: errors.New("not a regular file or folder")})
		}
	}
	return items, errs
}

// walkDir adds the files under dir. A Maildir (a folder with cur/ and
// new/) contributes the messages of cur/ and new/, then its other
// subfolders are walked (Maildir++ keeps folders as .Name subfolders).
// Dot files and dot folders are skipped, except a Maildir's subfolders.
// Symbolic links to files are followed, to folders not (no loops).
func walkDir(dir string, items *[]item, errs *[]*FileError) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		*errs = append(*errs, &FileError{Path: dir, Err: bareErr(err)})
	}
	maildir := isMaildir(dir)
	if maildir {
		maildirMessages(filepath.Join(dir, "cur"), items, errs)
		maildirMessages(filepath.Join(dir, "new"), items, errs)
	}
	for _, e := range entries {
		p := filepath.Join(dir, e.Name())
		if maildir && (e.Name() == "cur" || e.Name() == "new" || e.Name() == "tmp") {
			continue
		}
		if e.IsDir() {
			// Skip .git and the like, but not a Maildir's .Folder.
			if maildir || !strings.HasPrefix(e.Name(), ".") {
				walkDir(p, items, errs)
			}
			continue
		}
		if maildir || strings.HasPrefix(e.Name(), ".") {
			continue // Maildir bookkeeping (dovecot-uidlist, ...), dot files
		}
		if fi, ok := regularFile(p, e, errs); ok {
			*items = append(*items, item{path: p, size: fi.Size(), kind: kindOfName(p)})
		}
	}
}

// maildirMessages adds the messages of a cur/ or new/ folder.
func maildirMessages(dir string, items *[]item, errs *[]*FileError) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		*errs = append(*errs, &FileError{Path: dir, Err: bareErr(err)})
		return
	}
	for _, e := range entries {
		if strings.HasPrefix(e.Name(), ".") || e.IsDir() {
			continue
		}
		p := filepath.Join(dir, e.Name())
		if fi, ok := regularFile(p, e, errs); ok {
			*items = append(*items, item{path: p, size: fi.Size(), kind: kindMessage})
		}
	}
}

// regularFile returns the file's info when it is, or links to, a regular
// file; other things (sockets, links to folders) are skipped.
func regularFile(p string, e fs.DirEntry, errs *[]*FileError) (fs.FileInfo, bool) {
	fi, err := e.Info()
	if err == nil && fi.Mode()&fs.ModeSymlink != 0 {
		fi, err = os.Stat(p)
	}
	if err != nil {
		*errs = append(*errs, &FileError{Path: p, Err: bareErr(err)})
		return nil, false
	}
	return fi, fi.Mode().IsRegular()
}

// isMaildir reports whether dir has cur/ and new/ folders.
func isMaildir(dir string) bool {
	for _, sub := range []string{"cur", "new"} {
		fi, err := os.Stat(filepath.Join(dir, sub))
		if err != nil || !fi.IsDir() {
			return false
		}
	}
	return true
}

// kindOfName: .json, .gz (.json.gz, .xml.gz), .zip and .xml files are
// report files; anything else (.eml, .mbox, no extension) is decided by
// its content.
func kindOfName(p string) kind {
	switch strings.ToLower(filepath.Ext(p)) {
	case ".json", ".gz", ".zip", ".xml":
		return kindReportFile
	}
	return kindAuto
}

// bareErr drops the operation and path of an *fs.PathError, which
// FileError names already: "x.mbox: no such file or directory".
func bareErr(err error) error {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	return err
}

// Package spool keeps reports that could not be stored, because the
// database server was away or refused the login, in a local folder, and
// hands them on to the store when it is back: the filter never loses a
// report, and never holds a message while the server is down.
//
// Each report is one file, written whole or not at all (a temporary file
// renamed into place), holding the report and how it arrived. Drain stores
// the files oldest first and removes each once stored. Storing is
// idempotent (the store deduplicates reports), so two processes draining
// at once, or a crash between storing and removing, never doubles a
// report.
package spool

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/tlsrpt/tlsrpt/report"
	"github.com/tlsrpt/tlsrpt/store"
)

// Recorder stores reports; *store.Store implements it.
type Recorder interface {
	AddReport(ctx context.Context, r *report.Report, src store.Source) (id int64, dup bool, err error)
}

// MaxFile bounds what Drain reads of one spool file: a report the filter
// accepted is far smaller (its decompressed JSON is bounded too).
const MaxFile = 64 << 20

// suffix names spool files; temporary files have another.
const suffix = ".tlsrpt-spool.json"

// ErrBadFile marks a spool file that cannot be read back; Drain moves it
// aside (NAME.bad) instead of retrying it for ever.
var ErrBadFile = errors.New("spool: unreadable spool file")

// Spool is a folder of reports waiting to be stored.
type Spool struct {
	Dir string
}

// entry is a spool file's content. Version guards the format.
type entry struct {
	Version int            `json:"version"`
	Spooled time.Time      `json:"spooled"`
	Report  *report.Report `json:"report"`
	Source  store.Source   `json:"source"`
}

// Add writes r and its source into the spool, creating the folder (mode
// 0700) when needed. The file is readable by its owner only.
func (s Spool) Add(r *report.Report, src store.Source) error {
	if err := s.add(r, src); err != nil {
		return fmt.Errorf("spool: keeping report %q in %s: %w", r.ReportID, s.Dir, err)
	}
	return nil
}

func (s Spool) add(r *report.Report, src store.Source) error {
	if err := os.MkdirAll(s.Dir, 0o700); err != nil {
		return err
	}
	b, err := json.Marshal(entry{Version: 1, Spooled: time.Now().UTC(), Report: r, Source: src})
	if err != nil {
		return err
	}
	tmp, err := os.CreateTemp(s.Dir, ".tmp-*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(b); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), filepath.Join(s.Dir, name()))
}

// name makes a file name that sorts by spool time and never collides.
func name() string {
	b := make([]byte, 6)
	rand.Read(b)
	return time.Now().UTC().Format("20060102T150405.000000000Z") + "-" + hex.EncodeToString(b) + suffix
}

// Files lists the spooled reports' files, oldest first. A missing folder
// is an empty spool.
func (s Spool) Files() ([]string, error) {
	des, err := os.ReadDir(s.Dir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("spool: listing %s: %w", s.Dir, err)
	}
	var files []string
	for _, de := range des {
		if de.Type().IsRegular() && strings.HasSuffix(de.Name(), suffix) {
			files = append(files, filepath.Join(s.Dir, de.Name()))
		}
	}
	slices.Sort(files)
	return files, nil
}

// Drained tells what Drain did.
type Drained struct {
	Stored, Dups, Bad int
}

// Drain stores spooled reports through rec, oldest first, at most max of
// them (max <= 0: all), removing each file once stored. It stops at the
// first error of the store (the server still away: the rest stay for the
// next time) and returns it; an unreadable file is renamed NAME.bad,
// counted, and skipped.
func (s Spool) Drain(ctx context.Context, rec Recorder, max int) (Drained, error) {
	var d Drained
	files, err := s.Files()
	if err != nil {
		return d, err
	}
	if max > 0 && len(files) > max {
		files = files[:max]
	}
	for _, f := range files {
		e, err := read(f)
		if errors.Is(err, fs.ErrNotExist) {
			continue // another process drained it
		}
		if err != nil {
			d.Bad++
			os.Rename(f, f+".bad")
			continue
		}
		_, dup, err := rec.AddReport(ctx, e.Report, e.Source)
		if err != nil {
			return d, fmt.Errorf("spool: storing %s: %w", filepath.Base(f), err)
		}
		if dup {
			d.Dups++
		} else {
			d.Stored++
		}
		if err := os.Remove(f); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return d, fmt.Errorf("spool: removing %s: %w", f, err)
		}
	}
	return d, nil
}

// read decodes one spool file, bounded by MaxFile.
func read(path string) (*entry, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, MaxFile+1))
	if err != nil {
		return nil, err
	}
	if len(b) > MaxFile {
		return nil, fmt.Errorf("%w: %s is over %d bytes", ErrBadFile, path, MaxFile)
	}
	var e entry
	if err := json.Unmarshal(b, &e); err != nil {
		return nil, fmt.Errorf("%w: %s: %w", ErrBadFile, path, err)
	}
	if e.Version != 1 || e.Report == nil {
		return nil, fmt.Errorf("%w: %s: version %d, no report", ErrBadFile, path, e.Version)
	}
	return &e, nil
}

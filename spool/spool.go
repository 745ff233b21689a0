// Package spool keeps reports that could not be stored, because the
// database was away, busy, read-only or full, in a local folder, and hands
// them on to the store when it can take them: the filter never loses a
// report, and never holds a message while the store is down. Recorder is
// that store-or-spool path, given a way to open the store.
//
// Each report (an SMTP TLS report, or a DMARC aggregate report) is one
// file, written whole or not at all (a temporary file renamed into place),
// holding the report and how it arrived, as compact JSON no larger than
// what Drain reads back (MaxFile); the spool's files together stay under
// a bound (Spool.Max). Drain stores the files oldest first and removes
// each once stored; a report the store refuses for good (Spool.Refused,
// the store's own judgement) is moved aside with its reason, so that it
// never blocks the ones after it. Storing is idempotent (the store
// deduplicates reports), so two processes draining at once, or a crash
// between storing and removing, never doubles a report.
package spool

import (
	"bytes"
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

	"github.com/tlsrpt/tlsrpt/arrival"
	"github.com/tlsrpt/tlsrpt/dmarc"
	"github.com/tlsrpt/tlsrpt/internal/pkgerr"
	"github.com/tlsrpt/tlsrpt/neutral"
	"github.com/tlsrpt/tlsrpt/report"
)

// MaxFile bounds what Drain reads of one spool file: a report the filter
// accepted is far smaller (its decompressed JSON is bounded too).
const MaxFile = 64 << 20

// suffix names spool files; temporary files have another.
const suffix = ".tlsrpt-spool.json"

// ErrBadFile marks a spool file that cannot be read back; Drain moves it
// aside (NAME.bad) instead of retrying it for ever.
var ErrBadFile = pkgerr.New("spool", "unreadable spool file")

// ErrTooLarge is returned by Add for a report whose spool file would be
// over MaxFile: Drain could not read it back.
var ErrTooLarge = pkgerr.New("spool", "report too large to keep")

// ErrFull is returned by Add when the report would take the spool's files
// past Spool.Max.
var ErrFull = pkgerr.New("spool", "spool full")

// DefaultMax is the default bound of a spool's files, all told.
const DefaultMax = 256 << 20

// Spool is a folder of reports waiting to be stored.
type Spool struct {
	Dir string
	// Max bounds the bytes of the folder's files, all told (those moved
	// aside included): a report past it is not kept (ErrFull). 0 is
	// DefaultMax; a negative value, no bound.
	Max int64
	// Refused tells whether the store refuses a report for good with
	// this error (store.Refused): it would refuse it again. Drain sets
	// such a report aside and Recorder does not spool it; nil: no error
	// is for good, every report is kept and tried again.
	Refused func(error) bool
}

// refused is s.Refused(err), false when s has no Refused.
func (s Spool) refused(err error) bool {
	return err != nil && s.Refused != nil && s.Refused(err)
}

// entry is a spool file's content. Version guards the format; Kind says
// which report it holds: empty (the files written before DMARC reports
// were spooled, read as before) for an SMTP TLS report in Report,
// kindDMARC for a DMARC aggregate report in DMARC.
type entry struct {
	Version int            `json:"version"`
	Kind    string         `json:"kind,omitempty"`
	Spooled time.Time      `json:"spooled"`
	Report  *report.Report `json:"report,omitempty"`
	DMARC   *dmarc.Report  `json:"dmarc,omitempty"`
	Source  arrival.Source `json:"source"`
}

// kindDMARC marks a spool file holding a DMARC aggregate report.
const kindDMARC = "dmarc"

// Add writes r and its source into the spool, creating the folder (mode
// 0700) when needed. The file is readable by its owner only.
func (s Spool) Add(r *report.Report, src arrival.Source) error {
	if err := s.write(entry{Version: 1, Spooled: time.Now().UTC(), Report: r, Source: src}); err != nil {
		return pkgerr.Errorf("spool", "keeping report %q in %s: %w", r.ReportID, s.Dir, err)
	}
	return nil
}

// AddDMARC writes a DMARC aggregate report and its source into the
// spool, as Add does.
func (s Spool) AddDMARC(r *dmarc.Report, src arrival.Source) error {
	if err := s.write(entry{Version: 1, Kind: kindDMARC, Spooled: time.Now().UTC(), DMARC: r, Source: src}); err != nil {
		return pkgerr.Errorf("spool", "keeping DMARC report %q in %s: %w", r.Metadata.ReportID, s.Dir, err)
	}
	return nil
}

// write puts one entry into the spool.
func (s Spool) write(e entry) error {
	b, err := encode(e)
	if err != nil {
		return err
	}
	if len(b) > MaxFile {
		return fmt.Errorf("%w: %d bytes of JSON, over the %d that a drain reads", ErrTooLarge, len(b), MaxFile)
	}
	if err := os.MkdirAll(s.Dir, 0o700); err != nil {
		return err
	}
	if err := s.room(int64(len(b))); err != nil {
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

// encode writes e as compact JSON, leaving <, > and & as they are: the
// HTML escaping of encoding/json would make six bytes of each.
func encode(e entry) ([]byte, error) {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(e); err != nil {
		return nil, err
	}
	return b.Bytes(), nil
}

// room is ErrFull when n more bytes would take the folder's files past
// the spool's bound.
func (s Spool) room(n int64) error {
	max := s.Max
	if max == 0 {
		max = DefaultMax
	}
	if max < 0 {
		return nil
	}
	used, err := s.Size()
	if err != nil {
		return err
	}
	if used+n > max {
		return fmt.Errorf("%w: %w", ErrFull, &FullError{Used: used, Adding: n, Max: max})
	}
	return nil
}

// A FullError says how full the spool is when it refuses a report
// (ErrFull): the bytes its files take, the report's and the bound.
type FullError struct{ Used, Adding, Max int64 }

func (e *FullError) Error() string {
	return fmt.Sprintf("its files take %d bytes, this report %d more, the bound is %d", e.Used, e.Adding, e.Max)
}

// Size returns the bytes of the spool folder's regular files, all told; a
// missing folder is 0.
func (s Spool) Size() (int64, error) {
	des, err := os.ReadDir(s.Dir)
	if errors.Is(err, fs.ErrNotExist) {
		return 0, nil
	}
	if err != nil {
		return 0, pkgerr.Errorf("spool", "listing %s: %w", s.Dir, err)
	}
	var n int64
	for _, de := range des {
		if !de.Type().IsRegular() {
			continue
		}
		if fi, err := de.Info(); err == nil {
			n += fi.Size()
		}
	}
	return n, nil
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
		return nil, pkgerr.Errorf("spool", "listing %s: %w", s.Dir, err)
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

// Drained tells what Drain did: reports stored, duplicates of stored
// ones (an authenticated copy stored in place of unauthenticated ones,
// arrival.Upgraded, counts here too), unreadable files renamed NAME.bad,
// and reports the store refused for good, renamed NAME.refused beside
// NAME.refused.why.
type Drained struct {
	Stored, Dups, Bad, Refused int
}

// Drain stores spooled reports through rec, oldest first, at most max of
// them (max <= 0: all), removing each file once stored. It stops at the
// first error that may go away (the store away, busy, read-only or full:
// the rest stay for the next time) and returns it. An unreadable file is
// renamed NAME.bad; a report the store refuses for good (s.Refused) is
// renamed NAME.refused, its reason written in NAME.refused.why; both
// are counted and skipped.
func (s Spool) Drain(ctx context.Context, rec arrival.Recorder, max int) (Drained, error) {
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
		dup, err := e.store(ctx, rec)
		if s.refused(err) {
			if merr := setAside(f, err); merr != nil {
				return d, pkgerr.Errorf("spool", "moving aside %s, which the store refuses: %w", filepath.Base(f), merr)
			}
			d.Refused++
			continue
		}
		if err != nil {
			return d, pkgerr.Errorf("spool", "storing %s: %w", filepath.Base(f), err)
		}
		if dup {
			d.Dups++
		} else {
			d.Stored++
		}
		if err := os.Remove(f); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return d, pkgerr.Errorf("spool", "removing %s: %w", f, err)
		}
	}
	return d, nil
}

// setAside renames f NAME.refused and writes why beside it, in
// NAME.refused.why: the engine's own reason first (which quotes no
// report string, and keeps PostgreSQL's SQLSTATE), then the whole error,
// neutralised and capped. The file stays for the operator, out of the
// drain.
func setAside(f string, why error) error {
	text := "refused: " + neutral.TerminalLine(cause(why)) + "\nerror: " + neutral.TerminalLine(why.Error()) + "\n"
	if err := os.WriteFile(f+".refused.why", []byte(text), 0o600); err != nil {
		return err
	}
	return os.Rename(f, f+".refused")
}

// cause is the text of err's innermost error (PostgreSQL's names its
// SQLSTATE).
func cause(err error) string {
	for {
		next := errors.Unwrap(err)
		if next == nil {
			break
		}
		err = next
	}
	return err.Error()
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
	switch {
	case e.Version != 1:
		return nil, fmt.Errorf("%w: %s: version %d", ErrBadFile, path, e.Version)
	case e.Kind == "" && e.Report == nil, e.Kind == kindDMARC && e.DMARC == nil:
		return nil, fmt.Errorf("%w: %s: no report", ErrBadFile, path)
	case e.Kind != "" && e.Kind != kindDMARC:
		return nil, fmt.Errorf("%w: %s: unknown kind %.40q", ErrBadFile, path, e.Kind)
	}
	return &e, nil
}

// store hands the entry's report to rec; dup is true unless it was new
// (an upgrade is a duplicate here, as Drained counts it).
func (e *entry) store(ctx context.Context, rec arrival.Recorder) (dup bool, err error) {
	var added arrival.Added
	if e.Kind == kindDMARC {
		_, added, err = rec.AddDMARCResult(ctx, e.DMARC, e.Source)
	} else {
		_, added, err = rec.AddReportResult(ctx, e.Report, e.Source)
	}
	return added != arrival.New, err
}

package spool

import (
	"context"
	"fmt"
	"io"

	"github.com/tlsrpt/tlsrpt/arrival"
	"github.com/tlsrpt/tlsrpt/dmarc"
	"github.com/tlsrpt/tlsrpt/internal/pkgerr"
	"github.com/tlsrpt/tlsrpt/neutral"
	"github.com/tlsrpt/tlsrpt/report"
)

// Recorder is the store-or-spool path: it hands reports to the store,
// opened on first use, and keeps them in the spool whenever the store
// cannot take them: away, busy, not this user's to write, read-only,
// full, or not there at all. Only a report the store refuses for good
// (Spool.Refused) is not spooled: it would be refused again, and the
// refusal is returned. So AddReportResult returns nil only for a report
// stored or kept, and an error for one that is neither: a report is never
// lost unseen. A report kept in the spool is arrival.New (id 0): new to
// this run, stored later; the filter counts it as stored, as it always
// has.
//
// Once the store opens, Recorder first stores reports spooled before, at
// most Drain of them. After the first failure that may go away (the
// store busy past its wait, say), whether in that drain or for a report,
// it tries the store no more: the rest go to the spool at once, so that
// one message waits for a busy store once, however many reports it
// carries. A Recorder is for one run (one message, one process) and is
// not safe for concurrent use.
type Recorder struct {
	// Spool is where reports wait; its Refused tells the store's
	// refusals for good.
	Spool Spool
	// Open opens the store; Recorder calls it once, on first use.
	Open func() (arrival.Recorder, error)
	// Drain bounds the spooled reports stored once the store opens
	// (<= 0: all of them).
	Drain int
	// Later says, in the note on a spooled report, how it reaches the
	// store later (the filter: "tlsrpt import --spool, or the next
	// filter").
	Later string
	// Recover says, in the error for a report neither stored nor
	// spooled, how to recover it (the filter: the delivered message
	// still carries it).
	Recover string
	// Explain, if set, adds the command's fix to the spool's own error
	// (the spool knows no flags).
	Explain func(error) error

	target arrival.Recorder
	err    error // why the store could not be opened
	down   error // the store's first failure that may go away, this run
	opened bool
	notes  []string
}

// Recorder and its drain hand reports on as arrival.Recorder says.
var (
	_ arrival.Recorder = (*Recorder)(nil)
	_ arrival.Recorder = drainer{}
)

// Store opens the store once, stores what earlier runs spooled, and
// returns the store; nil when it cannot be opened (OpenErr says why).
func (r *Recorder) Store() arrival.Recorder {
	if !r.opened {
		r.opened = true
		st, err := r.Open()
		if err != nil {
			r.err = err
		} else {
			r.target = st
			r.drain()
		}
	}
	return r.target
}

// OpenErr is why the store could not be opened, nil when it was (or was
// not tried yet).
func (r *Recorder) OpenErr() error { return r.err }

// Notes are the lines worth logging of what the recorder did: spooled
// reports stored, set aside or found unreadable, and reports kept in the
// spool, with why.
func (r *Recorder) Notes() []string { return r.notes }

// Close closes the store, if it was opened and can be closed.
func (r *Recorder) Close() error {
	if c, ok := r.target.(io.Closer); ok {
		return c.Close()
	}
	return nil
}

// AddReportResult stores rep, or keeps it in the spool when the store
// cannot take it (id 0, arrival.New, nil error). An error means rep is
// neither stored nor kept: the store refuses it for good, or the spool
// cannot take it either.
func (r *Recorder) AddReportResult(ctx context.Context, rep *report.Report, src arrival.Source) (int64, arrival.Added, error) {
	return r.add(fmt.Sprintf("report %q", neutral.LogAttr(rep.ReportID)),
		func(st arrival.Recorder) (int64, arrival.Added, error) { return st.AddReportResult(ctx, rep, src) },
		func() error { return r.Spool.Add(rep, src) })
}

// AddDMARCResult stores a DMARC aggregate report, or keeps it in the
// spool, as AddReportResult does.
func (r *Recorder) AddDMARCResult(ctx context.Context, rep *dmarc.Report, src arrival.Source) (int64, arrival.Added, error) {
	return r.add(fmt.Sprintf("DMARC report %q", neutral.LogAttr(rep.Metadata.ReportID)),
		func(st arrival.Recorder) (int64, arrival.Added, error) { return st.AddDMARCResult(ctx, rep, src) },
		func() error { return r.Spool.AddDMARC(rep, src) })
}

// add is AddReportResult and AddDMARCResult: store hands the report to
// the store, keep to the spool; label names the report in the note.
func (r *Recorder) add(label string, store func(arrival.Recorder) (int64, arrival.Added, error), keep func() error) (int64, arrival.Added, error) {
	st := r.Store()
	var why string
	switch {
	case st == nil:
		why = pkgerr.TrimPackage(r.err, r.err.Error())
	case r.down != nil:
		why = "the database failed earlier in this run, not tried again"
	default:
		id, added, err := r.try(store)
		if err == nil || r.Spool.refused(err) {
			return id, added, err
		}
		why = pkgerr.TrimPackage(err, err.Error())
	}
	if serr := keep(); serr != nil {
		if r.Explain != nil {
			serr = r.Explain(serr)
		}
		// One line (the filter logs it after "not recorded: "), the way to
		// recover first, before the reasons, which may be long.
		return 0, arrival.New, fmt.Errorf("not kept in the spool either (%s): %s; %s",
			r.Recover, pkgerr.TrimPackage(serr, serr.Error()), why)
	}
	r.notes = append(r.notes, fmt.Sprintf("%s; %s kept in the spool %s until the database takes it (%s)",
		why, label, r.Spool.Dir, r.Later))
	return 0, arrival.New, nil
}

// try hands a report to the store, and remembers a failure that may go
// away: the store is not tried again this run.
func (r *Recorder) try(store func(arrival.Recorder) (int64, arrival.Added, error)) (int64, arrival.Added, error) {
	id, added, err := store(r.target)
	if err != nil && !r.Spool.refused(err) {
		r.down = err
	}
	return id, added, err
}

// drainer is the recorder as the spool's drain sees it: the store,
// with a failure remembered.
type drainer struct{ r *Recorder }

func (d drainer) AddReportResult(ctx context.Context, rep *report.Report, src arrival.Source) (int64, arrival.Added, error) {
	return d.r.try(func(st arrival.Recorder) (int64, arrival.Added, error) { return st.AddReportResult(ctx, rep, src) })
}

func (d drainer) AddDMARCResult(ctx context.Context, rep *dmarc.Report, src arrival.Source) (int64, arrival.Added, error) {
	return d.r.try(func(st arrival.Recorder) (int64, arrival.Added, error) { return st.AddDMARCResult(ctx, rep, src) })
}

// drain stores reports spooled by earlier runs, at most r.Drain of them.
func (r *Recorder) drain() {
	d, err := r.Spool.Drain(context.Background(), drainer{r}, r.Drain)
	if d.Stored+d.Dups > 0 {
		r.notes = append(r.notes, fmt.Sprintf("stored %s from the spool %s", plural(d.Stored+d.Dups, "report", "reports"), r.Spool.Dir))
	}
	if d.Bad > 0 {
		r.notes = append(r.notes, fmt.Sprintf("%d unreadable spool files renamed *.bad in %s", d.Bad, r.Spool.Dir))
	}
	if d.Refused > 0 {
		r.notes = append(r.notes, fmt.Sprintf("%s the database refuses for good renamed *.refused in %s, the reason beside each in *.refused.why",
			plural(d.Refused, "spooled report", "spooled reports"), r.Spool.Dir))
	}
	if err != nil {
		r.notes = append(r.notes, err.Error()) // "spool: ..." already
	}
}

// plural is "1 report", "2 reports".
func plural(n int, one, many string) string {
	if n == 1 {
		return "1 " + one
	}
	return fmt.Sprintf("%d %s", n, many)
}

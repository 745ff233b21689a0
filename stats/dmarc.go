package stats

import (
	"bufio"
	"encoding/csv"
	"fmt"
	"io"
	"strconv"
	"strings"
	"text/tabwriter"

	"github.com/tlsrpt/tlsrpt/internal/jsonout"
	"github.com/tlsrpt/tlsrpt/neutral"
	"github.com/tlsrpt/tlsrpt/store"
)

// Source is which reports stats adds up.
type Source string

// The sources: TLS reports (sessions to our servers), DMARC aggregate
// reports (messages from our domains), or both side by side.
const (
	TLS   Source = "tls"
	DMARC Source = "dmarc"
	Both  Source = "both"
)

// DMARCRow is one period (and group) of DMARC reports as JSON: the
// messages reporters saw from our domains, those that passed DMARC
// (aligned DKIM or SPF pass, as the reporter evaluated it) and those that
// failed.
type DMARCRow struct {
	Day string `json:"day"`
	groupFields
	dmarcFields
}

// dmarcFields are the DMARC columns of a JSON row: the messages from our
// domains reporters saw.
type dmarcFields struct {
	Messages  int64 `json:"messages"`
	DMARCPass int64 `json:"dmarc_pass"`
	DMARCFail int64 `json:"dmarc_fail"`
}

// DMARCRows turns the store's rows into JSON rows for group.
func DMARCRows(rs []store.DMARCRow, group store.Group) []DMARCRow {
	out := make([]DMARCRow, 0, len(rs))
	for _, r := range rs {
		out = append(out, DMARCRow{Day: r.Start.Format("2006-01-02"), groupFields: keyFields(group, r.Key, r.Unauthenticated),
			dmarcFields: dmarcFields{Messages: r.Messages, DMARCPass: r.Pass, DMARCFail: r.Fail}})
	}
	return out
}

// SideRow is one period (and group) of TLS and DMARC reports side by
// side as JSON: the TLS columns of Row, then the DMARC columns of
// DMARCRow.
type SideRow struct {
	Day string `json:"day"`
	groupFields
	tlsFields
	dmarcFields
}

// SideRows turns the store's rows into JSON rows for group.
func SideRows(rs []store.SideRow, group store.Group) []SideRow {
	out := make([]SideRow, 0, len(rs))
	for _, r := range rs {
		rate := store.SessionRow{Successful: r.Successful, Failed: r.Failed}.FailureRate()
		out = append(out, SideRow{Day: r.Start.Format("2006-01-02"), groupFields: keyFields(group, r.Key, r.Unauthenticated),
			tlsFields:   tlsFields{Successful: r.Successful, Failed: r.Failed, FailureRate: round(rate)},
			dmarcFields: dmarcFields{Messages: r.Messages, DMARCPass: r.DMARCPass, DMARCFail: r.DMARCFail}})
	}
	return out
}

// WriteDMARCJSON writes the DMARC rows as a JSON array.
func WriteDMARCJSON(w io.Writer, rs []store.DMARCRow, group store.Group) error {
	return jsonout.Write(w, DMARCRows(rs, group))
}

// WriteSideJSON writes the side-by-side rows as a JSON array.
func WriteSideJSON(w io.Writer, rs []store.SideRow, group store.Group) error {
	return jsonout.Write(w, SideRows(rs, group))
}

// grid is rows of cells under a header, the form the CSV and the table
// are written from; cells[0] is the period, cells[1] the group's key when
// there is a group.
type grid struct {
	header []string
	rows   [][]string
	keyed  bool
}

// newGrid starts a grid with its header: the period, the group's column
// when columns names one for group, then the given columns.
func newGrid(group store.Group, columns map[store.Group]string, cells ...string) *grid {
	g := &grid{header: []string{"period_start"}}
	if c, ok := columns[group]; ok {
		g.header, g.keyed = append(g.header, c), true
	}
	g.header = append(g.header, cells...)
	return g
}

// dmarcColumn names the group's column of DMARC rows: DMARC reports have
// no receiving MX nor result type.
var dmarcColumn = map[store.Group]string{store.ByReporter: csvColumn[store.ByReporter], store.ByDomain: csvColumn[store.ByDomain]}

func (g *grid) addRow(day, key string, unauth bool, group store.Group, cells ...string) {
	rec := []string{day}
	if g.keyed {
		if group == store.ByReporter {
			key = store.ReporterName(!unauth, key, key)
		}
		rec = append(rec, key)
	}
	g.rows = append(g.rows, append(rec, cells...))
}

func itoa(n int64) string { return strconv.FormatInt(n, 10) }

func dmarcGrid(rs []store.DMARCRow, group store.Group) *grid {
	g := newGrid(group, dmarcColumn, "messages", "dmarc_pass", "dmarc_fail")
	for _, r := range rs {
		g.addRow(r.Start.Format("2006-01-02"), r.Key, r.Unauthenticated, group, itoa(r.Messages), itoa(r.Pass), itoa(r.Fail))
	}
	return g
}

func sideGrid(rs []store.SideRow, group store.Group) *grid {
	g := newGrid(group, dmarcColumn, "successful_sessions", "failed_sessions", "messages", "dmarc_pass", "dmarc_fail")
	for _, r := range rs {
		g.addRow(r.Start.Format("2006-01-02"), r.Key, r.Unauthenticated, group,
			itoa(r.Successful), itoa(r.Failed), itoa(r.Messages), itoa(r.DMARCPass), itoa(r.DMARCFail))
	}
	return g
}

// writeCSV writes the grid with its header line, the key defused
// against formula injection.
func (g *grid) writeCSV(w io.Writer) error {
	cw := csv.NewWriter(w)
	cw.Write(g.header)
	for _, rec := range g.rows {
		if g.keyed {
			rec[1] = spreadsheetSafe(rec[1])
		}
		cw.Write(rec)
	}
	cw.Flush()
	return cw.Error()
}

// writeTable writes the grid for a terminal, the key through
// neutral.TerminalCell.
func (g *grid) writeTable(w io.Writer, none string) error {
	bw := bufio.NewWriter(w)
	if len(g.rows) == 0 {
		fmt.Fprintln(bw, none)
		return bw.Flush()
	}
	tw := tabwriter.NewWriter(bw, 0, 4, 2, ' ', 0)
	head := make([]string, len(g.header))
	for i, h := range g.header {
		head[i] = tableHead[h]
		if head[i] == "" {
			head[i] = h
		}
	}
	writeCells(tw, head)
	for _, rec := range g.rows {
		if g.keyed {
			rec[1] = neutral.TerminalCell(orNone(rec[1]))
		}
		writeCells(tw, rec)
	}
	tw.Flush()
	return bw.Flush()
}

// tableHead names the columns in a table.
var tableHead = map[string]string{
	"period_start": "PERIOD", "successful_sessions": "SUCCESSFUL", "failed_sessions": "FAILED",
	"failure_rate": "FAILURE RATE", "messages": "MESSAGES", "dmarc_pass": "DMARC PASS", "dmarc_fail": "DMARC FAIL",
}

func writeCells(tw *tabwriter.Writer, cells []string) {
	fmt.Fprintln(tw, strings.Join(cells, "\t"))
}

// WriteDMARCCSV writes one row per period and group with a header line:
// period_start, the group's column (reporter or policy_domain), messages,
// dmarc_pass, dmarc_fail.
func WriteDMARCCSV(w io.Writer, rs []store.DMARCRow, group store.Group) error {
	return dmarcGrid(rs, group).writeCSV(w)
}

// WriteSideCSV writes one row per period and group with a header line:
// period_start, the group's column, successful_sessions,
// failed_sessions, messages, dmarc_pass, dmarc_fail.
func WriteSideCSV(w io.Writer, rs []store.SideRow, group store.Group) error {
	return sideGrid(rs, group).writeCSV(w)
}

// WriteDMARCTable writes the DMARC rows for a terminal.
func WriteDMARCTable(w io.Writer, rs []store.DMARCRow, group store.Group) error {
	return dmarcGrid(rs, group).writeTable(w, "no DMARC reports recorded in that span")
}

// WriteSideTable writes the side-by-side rows for a terminal.
func WriteSideTable(w io.Writer, rs []store.SideRow, group store.Group) error {
	return sideGrid(rs, group).writeTable(w, "no reports recorded in that span")
}

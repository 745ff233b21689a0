// Package stats shapes the store's session statistics for people and
// programs: the JSON rows of `tlsrpt stats --json` and of the dashboard's
// /api/v1/stats, the CSV that sits beside parsedmarc's DMARC CSV in a
// spreadsheet, and a plain table for the terminal. One package, so that
// the command and the web page give the same shapes.
package stats

import (
	"bufio"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"io"
	"strconv"
	"text/tabwriter"

	"github.com/tlsrpt/tlsrpt/neutral"
	"github.com/tlsrpt/tlsrpt/store"
)

// Row is one period (and group) as JSON: day is the period's first day;
// the group's key appears under the group's name (reporter, domain, mx,
// result_type), absent without a group. A reporter is named as Reporter
// names it, and authenticated says whether a signature vouches for it.
type Row struct {
	Day           string  `json:"day"`
	Reporter      *string `json:"reporter,omitempty"`
	Authenticated *bool   `json:"authenticated,omitempty"`
	Domain        *string `json:"domain,omitempty"`
	MX            *string `json:"mx,omitempty"`
	ResultType    *string `json:"result_type,omitempty"`
	Successful    int64   `json:"successful"`
	Failed        int64   `json:"failed"`
	FailureRate   float64 `json:"failure_rate"`
}

// Rows turns the store's rows into JSON rows for group.
func Rows(rs []store.SessionRow, group store.Group) []Row {
	out := make([]Row, 0, len(rs))
	for _, r := range rs {
		row := Row{Day: r.Start.Format("2006-01-02"), Successful: r.Successful, Failed: r.Failed,
			FailureRate: round(r.FailureRate())}
		key := r.Key
		switch group {
		case store.ByReporter:
			key = Reporter(r)
			authed := !r.Unauthenticated
			row.Reporter, row.Authenticated = &key, &authed
		case store.ByDomain:
			row.Domain = &key
		case store.ByMX:
			row.MX = &key
		case store.ByResultType:
			row.ResultType = &key
		}
		out = append(out, row)
	}
	return out
}

// Reporter names the reporter of a row grouped by reporter: its
// authenticated identity, or the organization-name unauthenticated
// reports claim, marked "(unauthenticated)" (store.ReporterName), so that
// a claimed "google.com" never reads as the signed google.com.
func Reporter(r store.SessionRow) string {
	return store.ReporterName(!r.Unauthenticated, r.Key, r.Key)
}

// key is the group's value of a row as shown: the reporter's name for
// ByReporter, else the key.
func key(r store.SessionRow, group store.Group) string {
	if group == store.ByReporter {
		return Reporter(r)
	}
	return r.Key
}

// round keeps four decimals of a rate: enough for a percentage with two.
func round(f float64) float64 {
	v, _ := strconv.ParseFloat(strconv.FormatFloat(f, 'f', 4, 64), 64)
	return v
}

// WriteJSON writes the rows as a JSON array.
func WriteJSON(w io.Writer, rs []store.SessionRow, group store.Group) error {
	bw := bufio.NewWriter(w)
	enc := json.NewEncoder(bw)
	enc.SetIndent("", "  ")
	if err := enc.Encode(Rows(rs, group)); err != nil {
		return err
	}
	return bw.Flush()
}

// csvColumn names the group's column in the CSV, as parsedmarc names
// its own (lower case, underscores).
var csvColumn = map[store.Group]string{
	store.ByReporter: "reporter", store.ByDomain: "policy_domain", store.ByMX: "receiving_mx_hostname", store.ByResultType: "result_type",
}

// WriteCSV writes one row per period and group, with a header line:
// period_start (YYYY-MM-DD), the group's column, successful_sessions,
// failed_sessions, failure_rate. Fields that a spreadsheet would take for a
// formula (starting with =, +, - or @) are prefixed with a quote.
func WriteCSV(w io.Writer, rs []store.SessionRow, group store.Group) error {
	cw := csv.NewWriter(w)
	header := []string{"period_start"}
	if c, ok := csvColumn[group]; ok {
		header = append(header, c)
	}
	cw.Write(append(header, "successful_sessions", "failed_sessions", "failure_rate"))
	for _, r := range rs {
		rec := []string{r.Start.Format("2006-01-02")}
		if _, ok := csvColumn[group]; ok {
			rec = append(rec, spreadsheetSafe(key(r, group)))
		}
		cw.Write(append(rec, strconv.FormatInt(r.Successful, 10), strconv.FormatInt(r.Failed, 10),
			strconv.FormatFloat(r.FailureRate(), 'f', 4, 64)))
	}
	cw.Flush()
	return cw.Error()
}

// spreadsheetSafe defuses CSV formula injection (OWASP): a report string
// starting with a formula character is prefixed with a single quote.
func spreadsheetSafe(s string) string {
	if s != "" && (s[0] == '=' || s[0] == '+' || s[0] == '-' || s[0] == '@' || s[0] == '\t' || s[0] == '\r') {
		return "'" + s
	}
	return s
}

// WriteTable writes the rows for a terminal: every report string through
// neutral.TerminalCell, one line per row.
func WriteTable(w io.Writer, rs []store.SessionRow, group store.Group) error {
	bw := bufio.NewWriter(w)
	if len(rs) == 0 {
		fmt.Fprintln(bw, "no sessions recorded in that span")
		return bw.Flush()
	}
	tw := tabwriter.NewWriter(bw, 0, 4, 2, ' ', 0)
	head := "PERIOD"
	if c, ok := csvColumn[group]; ok {
		head += "\t" + c
	}
	fmt.Fprintln(tw, head+"\tSUCCESSFUL\tFAILED\tFAILURE RATE")
	for _, r := range rs {
		line := r.Start.Format("2006-01-02")
		if _, ok := csvColumn[group]; ok {
			line += "\t" + neutral.TerminalCell(orNone(key(r, group)))
		}
		fmt.Fprintf(tw, "%s\t%d\t%d\t%.2f%%\n", line, r.Successful, r.Failed, 100*r.FailureRate())
	}
	tw.Flush()
	return bw.Flush()
}

func orNone(s string) string {
	if s == "" {
		return "(none)"
	}
	return s
}

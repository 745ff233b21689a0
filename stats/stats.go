// Package stats shapes the store's session statistics for people and
// programs: the JSON rows of `tlsrpt stats --json` and of the dashboard's
// /api/v1/stats, the CSV that sits beside parsedmarc's DMARC CSV in a
// spreadsheet, and a plain table for the terminal. One package, so that
// the command and the web page give the same shapes.
package stats

import (
	"fmt"
	"io"
	"strconv"

	"github.com/tlsrpt/tlsrpt/internal/jsonout"
	"github.com/tlsrpt/tlsrpt/store"
)

// Row is one period (and group) as JSON: day is the period's first day;
// the group's key appears under the group's name (reporter, domain, mx,
// result_type), absent without a group. A reporter is named as Reporter
// names it, and authenticated says whether a signature vouches for it.
type Row struct {
	Day string `json:"day"`
	groupFields
	tlsFields
}

// tlsFields are the TLS columns of a JSON row: the sessions reporters'
// servers made to ours.
type tlsFields struct {
	Successful  int64   `json:"successful"`
	Failed      int64   `json:"failed"`
	FailureRate float64 `json:"failure_rate"`
}

// groupFields is the group's key of a JSON row: the reporter (named as
// Reporter names it, with whether a signature vouches for it), the
// policy domain, the receiving MX or the result type, absent without a
// group.
type groupFields struct {
	Reporter      *string `json:"reporter,omitempty"`
	Authenticated *bool   `json:"authenticated,omitempty"`
	Domain        *string `json:"domain,omitempty"`
	MX            *string `json:"mx,omitempty"`
	ResultType    *string `json:"result_type,omitempty"`
}

func keyFields(group store.Group, key string, unauth bool) groupFields {
	var g groupFields
	switch group {
	case store.ByReporter:
		name, authed := store.ReporterName(!unauth, key, key), !unauth
		g.Reporter, g.Authenticated = &name, &authed
	case store.ByDomain:
		g.Domain = &key
	case store.ByMX:
		g.MX = &key
	case store.ByResultType:
		g.ResultType = &key
	}
	return g
}

// Rows turns the store's rows into JSON rows for group.
func Rows(rs []store.SessionRow, group store.Group) []Row {
	out := make([]Row, 0, len(rs))
	for _, r := range rs {
		out = append(out, Row{Day: r.Start.Format("2006-01-02"), groupFields: keyFields(group, r.Key, r.Unauthenticated),
			tlsFields: tlsFields{Successful: r.Successful, Failed: r.Failed, FailureRate: round(r.FailureRate())}})
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

// round keeps four decimals of a rate: enough for a percentage with two.
func round(f float64) float64 {
	v, _ := strconv.ParseFloat(strconv.FormatFloat(f, 'f', 4, 64), 64)
	return v
}

// WriteJSON writes the rows as a JSON array.
func WriteJSON(w io.Writer, rs []store.SessionRow, group store.Group) error {
	return jsonout.Write(w, Rows(rs, group))
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
	return sessionGrid(rs, group, func(rate float64) string { return strconv.FormatFloat(rate, 'f', 4, 64) }).writeCSV(w)
}

// sessionGrid is the grid of the TLS rows, the failure rate written by
// rate.
func sessionGrid(rs []store.SessionRow, group store.Group, rate func(float64) string) *grid {
	g := newGrid(group, csvColumn, "successful_sessions", "failed_sessions", "failure_rate")
	for _, r := range rs {
		g.addRow(r.Start.Format("2006-01-02"), r.Key, r.Unauthenticated, group,
			itoa(r.Successful), itoa(r.Failed), rate(r.FailureRate()))
	}
	return g
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
	g := sessionGrid(rs, group, func(rate float64) string { return fmt.Sprintf("%.2f%%", 100*rate) })
	return g.writeTable(w, "no sessions recorded in that span")
}

func orNone(s string) string {
	if s == "" {
		return "(none)"
	}
	return s
}

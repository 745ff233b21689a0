package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net/netip"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/tlsrpt/tlsrpt/redeem"
	"github.com/tlsrpt/tlsrpt/store"
)

func init() {
	register("review", "list the failing sending addresses with evidence, trust and ban status", runReview)
}

// now is the clock, replaced in tests.
var now = time.Now

// reviewRow is one failing address as review shows it; the JSON keys are
// part of the command contract.
type reviewRow struct {
	IP             string    `json:"ip"`
	FailedSessions int64     `json:"failed_sessions"`
	Reports        int       `json:"reports"`
	Organizations  []string  `json:"organizations"`
	ResultTypes    []string  `json:"result_types"`
	FirstSeen      time.Time `json:"first_seen"`
	LastSeen       time.Time `json:"last_seen"`
	Trusted        bool      `json:"trusted"`
	Why            string    `json:"why"`
	Banned         []banJSON `json:"banned,omitempty"` // nil when no backend was consulted
	BanError       string    `json:"ban_error,omitempty"`

	addr netip.Addr
}

func runReview(args []string, std stdio) int {
	fs := flag.NewFlagSet("tlsrpt review", flag.ContinueOnError)
	fs.SetOutput(std.err)
	db := fs.String("db", "", "SQLite database `path` (default $TLSRPT_DB, else $XDG_STATE_HOME/tlsrpt/tlsrpt.db)")
	asJSON := fs.Bool("json", false, "print a JSON array instead of a table")
	sinceArg := fs.String("since", "", "only reports whose range ends after this `DATE|DURATION` (2024-02-01, 7d, 36h)")
	var trust trustFlags
	trust.register(fs)
	var bf backendFlags
	bf.register(fs)
	noBans := fs.Bool("no-bans", false, "do not consult any ban backend")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	since, err := parseSince(*sinceArg, now())
	if err != nil {
		errorf(std.err, "review: %v", err)
		return 2
	}
	st, err := openStore(*db)
	if err != nil {
		errorf(std.err, "review: %v", err)
		return 1
	}
	defer st.Close()
	ctx := context.Background()
	rows, err := reviewRows(ctx, st, since)
	if err == nil {
		err = addTrust(ctx, st, &trust, rows)
	}
	if err == nil && !*noBans {
		err = addBans(ctx, &bf, rows)
	}
	if err != nil {
		errorf(std.err, "review: %v", err)
		return 1
	}
	if *asJSON {
		return writeJSON(std, rows)
	}
	writeTable(std.out, rows)
	return 0
}

// openStore resolves the database path and opens it.
func openStore(flagPath string) (*store.Store, error) {
	path, err := store.Path(flagPath)
	if err != nil {
		return nil, err
	}
	return store.Open(path)
}

// reviewRows turns the store's failing addresses into rows.
func reviewRows(ctx context.Context, st *store.Store, since time.Time) ([]reviewRow, error) {
	fa, err := st.Failing(ctx, since)
	if err != nil {
		return nil, err
	}
	rows := make([]reviewRow, 0, len(fa))
	for _, a := range fa {
		rows = append(rows, reviewRow{
			IP: a.IP.String(), FailedSessions: a.FailedSessions, Reports: a.Reports,
			Organizations: nonNil(a.Organizations), ResultTypes: nonNil(a.ResultTypes),
			FirstSeen: a.FirstSeen.UTC(), LastSeen: a.LastSeen.UTC(), addr: a.IP,
		})
	}
	return rows, nil
}

// addTrust fills in each row's verdict: trusted only when an authenticated
// report by an allowlisted reporter names the address and it is proven to
// be that reporter's.
func addTrust(ctx context.Context, st *store.Store, t *trustFlags, rows []reviewRow) error {
	c, err := t.checker(st)
	if err != nil {
		return err
	}
	for i := range rows {
		v, err := judge(ctx, ctx, st, c, rows[i].addr)
		if err != nil {
			return err
		}
		rows[i].Trusted, rows[i].Why = v.Trusted, v.Why
	}
	return nil
}

// addBans fills in where each address is banned now, per backend.
func addBans(ctx context.Context, bf *backendFlags, rows []reviewRow) error {
	backends, err := bf.backends(ctx)
	if err != nil || len(backends) == 0 {
		return err
	}
	for i := range rows {
		bans, err := redeem.BanStatus(ctx, backends, rows[i].addr)
		rows[i].Banned = []banJSON{}
		if err != nil {
			rows[i].BanError = err.Error()
		}
		for _, b := range bans {
			rows[i].Banned = append(rows[i].Banned, banJSON{Backend: b.Backend, Where: b.Where, Detail: b.Detail})
		}
	}
	return nil
}

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

func writeJSON(std stdio, v any) int {
	enc := json.NewEncoder(std.out)
	enc.SetIndent("", "  ")
	if err := enc.Encode(v); err != nil {
		errorf(std.err, "writing JSON: %v", err)
		return 1
	}
	return 0
}

func writeTable(w io.Writer, rows []reviewRow) {
	if len(rows) == 0 {
		fmt.Fprintln(w, "no failing sending addresses recorded")
		return
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "IP\tFAILED\tREPORTS\tORGANIZATIONS\tRESULT TYPES\tFIRST SEEN\tLAST SEEN\tTRUSTED\tBANNED\tWHY")
	for _, r := range rows {
		banned := "?"
		if r.Banned != nil {
			banned = bansText(r.Banned)
		}
		fmt.Fprintf(tw, "%s\t%d\t%d\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", r.IP, r.FailedSessions, r.Reports,
			strings.Join(r.Organizations, ", "), strings.Join(r.ResultTypes, ", "),
			r.FirstSeen.Format("2006-01-02"), r.LastSeen.Format("2006-01-02"),
			yesNo(r.Trusted), banned, r.Why)
	}
	tw.Flush()
}

func yesNo(b bool) string {
	if b {
		return "yes"
	}
	return "no"
}

// parseSince reads --since: a date (2006-01-02), an RFC 3339 time, or a
// duration back from now (36h, 7d, 2w).
func parseSince(s string, now time.Time) (time.Time, error) {
	if s == "" {
		return time.Time{}, nil
	}
	if t, err := time.Parse("2006-01-02", s); err == nil {
		return t, nil
	}
	if t, err := time.Parse(time.RFC3339, s); err == nil {
		return t, nil
	}
	if d, err := parseDuration(s); err == nil {
		return now.Add(-d), nil
	}
	return time.Time{}, fmt.Errorf("--since %q: want a date (2024-02-01), an RFC 3339 time or a duration (36h, 7d, 2w)", s)
}

// parseDuration extends time.ParseDuration with days (d) and weeks (w).
func parseDuration(s string) (time.Duration, error) {
	for suffix, unit := range map[string]time.Duration{"d": 24 * time.Hour, "w": 7 * 24 * time.Hour} {
		if n, ok := strings.CutSuffix(s, suffix); ok {
			v, err := strconv.ParseFloat(n, 64)
			if err != nil || v < 0 {
				return 0, fmt.Errorf("bad duration %q", s)
			}
			return time.Duration(v * float64(unit)), nil
		}
	}
	d, err := time.ParseDuration(s)
	if err == nil && d < 0 {
		return 0, fmt.Errorf("negative duration %q", s)
	}
	return d, err
}

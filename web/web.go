// Package web serves tlsrpt's dashboard: a read-only page for people that
// shows the state of a domain's TLS at a glance (sessions and failure
// rates per policy domain, result-types over time, reporters and the ones
// gone quiet, failing addresses with trust, ban status and the redeem
// command to copy, failures per receiving MX; per reporter, its TLS
// sessions beside the DMARC messages from our domains it saw, and the
// sources failing DMARC), and the JSON behind it under /api/v1/.
//
// Everything it serves is embedded in the binary (the page, its script
// and style, the uPlot chart library): it loads nothing from outside and
// works with no internet. Every chart has a table beside it, for screen
// readers and for browsers without scripts. It changes nothing: GET and
// HEAD only. Report strings reach the page through html/template, whose
// contextual escaping is the one place they are neutralised for HTML.
package web

import (
	"context"
	"embed"
	"errors"
	"fmt"
	"html/template"
	"io/fs"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/tlsrpt/tlsrpt/assess"
	"github.com/tlsrpt/tlsrpt/internal/jsonout"
	"github.com/tlsrpt/tlsrpt/internal/pkgerr"
	"github.com/tlsrpt/tlsrpt/stats"
	"github.com/tlsrpt/tlsrpt/store"
)

//go:embed assets templates
var files embed.FS

// ReviewRow is one failing address with its trust and ban status, in the
// shape of `tlsrpt review --json` (package assess makes both).
type ReviewRow = assess.Record

// Options configure the dashboard.
type Options struct {
	// Store is read for statistics and reporters.
	Store *store.Store
	// Review lists the failing addresses of the reports ending at or
	// after since (zero: all) with trust and ban status; nil lists them
	// from the store alone, untrusted ("not checked").
	Review func(ctx context.Context, since time.Time) ([]ReviewRow, error)
	// Redeemed lists the redeemed addresses with their outcome today, for
	// the Redeemed table; nil judges them from the store alone (no
	// banned-again: the ban backends are not asked).
	Redeemed func(ctx context.Context) ([]assess.Outcome, error)
	// Days is the span of the charts, ending today; 0 means 90.
	Days int
	// QuietAfter is how long a regular reporter may be silent before it is
	// shown as gone quiet; 0 means 3 days.
	QuietAfter time.Duration
	// MaxAddresses bounds the failing addresses on the page (the API
	// lists all); 0 means 100.
	MaxAddresses int
	// Metrics, if not nil, is served at /metrics.
	Metrics http.Handler
	// Now is the clock; nil means time.Now.
	Now func() time.Time
	// Timeout bounds the work of one request; 0 means 10 s.
	Timeout time.Duration
	// Listen is the address the dashboard listens on: its host is a name
	// requests may give in Host, besides localhost and the loopback
	// addresses; an unspecified one (0.0.0.0, ::, none) accepts every IP
	// address.
	Listen string
	// AllowHosts are more names requests may give in Host (a reverse
	// proxy's, the host's own), checked with HostName.
	AllowHosts []string
	// Auth, if not nil, asks for a user and password, after the Host
	// check.
	Auth *Auth
	// RedeemArgs go into the redeem commands the page offers to copy,
	// between "tlsrpt redeem" and "--ip ADDR", each quoted for a POSIX
	// shell: the options the dashboard was started with (--db,
	// --allowlist...), so the command acts on what the page shows.
	RedeemArgs []string
}

func (o Options) withDefaults() Options {
	if o.Days <= 0 {
		o.Days = 90
	}
	if o.QuietAfter <= 0 {
		o.QuietAfter = 72 * time.Hour
	}
	if o.MaxAddresses <= 0 {
		o.MaxAddresses = 100
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Timeout <= 0 {
		o.Timeout = 10 * time.Second
	}
	if o.Redeemed == nil {
		st, now := o.Store, o.Now
		o.Redeemed = func(ctx context.Context) ([]assess.Outcome, error) {
			return assess.Outcomes(ctx, st, nil, assess.OutcomeOptions{Now: now()})
		}
	}
	if o.Review == nil {
		st := o.Store
		o.Review = func(ctx context.Context, since time.Time) ([]ReviewRow, error) { return storeRows(ctx, st, since) }
	}
	return o
}

// storeRows lists the failing addresses from the store, untrusted.
func storeRows(ctx context.Context, st *store.Store, since time.Time) ([]ReviewRow, error) {
	fs, err := st.Failing(ctx, since)
	if err != nil {
		return nil, err
	}
	rows := make([]assess.Row, len(fs))
	for i, f := range fs {
		rows[i] = assess.Row{FailingAddress: f, Why: "not checked"}
	}
	return assess.Records(rows), nil
}

// handler is the dashboard.
type handler struct {
	opt    Options
	page   *template.Template
	assets fs.FS
	hosts  hosts
	redeem string // the copyable redeem command, up to --ip
}

// New returns the dashboard's handler.
func New(opt Options) (http.Handler, error) {
	if opt.Store == nil {
		return nil, pkgerr.New("web", "no store")
	}
	tmpl, err := template.New("page.html").Funcs(funcs).ParseFS(files, "templates/page.html")
	if err != nil {
		return nil, pkgerr.Errorf("web", "parsing the page template: %w", err)
	}
	sub, err := fs.Sub(files, "assets")
	if err != nil {
		return nil, err
	}
	for _, h := range opt.AllowHosts {
		if _, err := HostName(h); err != nil {
			return nil, err
		}
	}
	return &handler{opt: opt.withDefaults(), page: tmpl, assets: sub, hosts: newHosts(opt.Listen, opt.AllowHosts),
		redeem: shellCommand(append([]string{"tlsrpt", "redeem"}, opt.RedeemArgs...))}, nil
}

// csp allows scripts, styles and images from the dashboard itself only:
// no inline script, no framing, no forms.
const csp = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; " +
	"base-uri 'none'; form-action 'none'; frame-ancestors 'none'"

func (h *handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	hd := w.Header()
	hd.Set("Content-Security-Policy", csp)
	hd.Set("X-Content-Type-Options", "nosniff")
	hd.Set("X-Frame-Options", "DENY")
	hd.Set("Referrer-Policy", "no-referrer")
	if h.hosts.refuse(w, r) || h.opt.Auth != nil && h.opt.Auth.refuse(w, r) {
		return
	}
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		hd.Set("Allow", "GET, HEAD")
		http.Error(w, "tlsrpt dashboard: read only (GET and HEAD)", http.StatusMethodNotAllowed)
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), h.opt.Timeout)
	defer cancel()
	r = r.WithContext(ctx)
	switch {
	case r.URL.Path == "/":
		h.servePage(w, r)
	case strings.HasPrefix(r.URL.Path, "/assets/"):
		h.serveAsset(w, r)
	case r.URL.Path == "/api/v1/review":
		h.serveReview(w, r)
	case r.URL.Path == "/api/v1/stats":
		h.serveStats(w, r)
	case r.URL.Path == "/api/v1/reporters":
		h.serveReporters(w, r)
	case r.URL.Path == "/metrics" && h.opt.Metrics != nil:
		h.opt.Metrics.ServeHTTP(w, r)
	case r.URL.Path == "/healthz":
		fmt.Fprintln(w, "ok")
	default:
		http.NotFound(w, r)
	}
}

// serveAsset serves an embedded file; a folder is not found (no
// listings).
func (h *handler) serveAsset(w http.ResponseWriter, r *http.Request) {
	name := strings.TrimPrefix(r.URL.Path, "/assets/")
	if fi, err := fs.Stat(h.assets, name); err != nil || !fi.Mode().IsRegular() {
		http.NotFound(w, r)
		return
	}
	w.Header().Set("Cache-Control", "public, max-age=3600")
	http.ServeFileFS(w, r, h.assets, name)
}

// fail answers 500 with one line, or 503 when the database is away.
func fail(w http.ResponseWriter, err error) {
	status := http.StatusInternalServerError
	if errors.Is(err, store.ErrUnavailable) || errors.Is(err, store.ErrBusy) || errors.Is(err, context.DeadlineExceeded) {
		status = http.StatusServiceUnavailable
		w.Header().Set("Retry-After", "60")
	}
	http.Error(w, "tlsrpt dashboard: "+strings.Join(strings.Fields(err.Error()), " "), status)
}

func writeJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	jsonout.Write(w, v)
}

// serveReview answers /api/v1/review[?since=DATE] with the rows of
// `tlsrpt review --json`: every failing address, or those of the reports
// ending on or after the date.
func (h *handler) serveReview(w http.ResponseWriter, r *http.Request) {
	since, ok := sinceParam(w, r, time.Time{})
	if !ok {
		return
	}
	rows, err := h.opt.Review(r.Context(), since)
	if err != nil {
		fail(w, err)
		return
	}
	if rows == nil {
		rows = []ReviewRow{}
	}
	writeJSON(w, rows)
}

// serveStats answers /api/v1/stats?by=day|week|month&group=...&since=DATE
// with the rows of `tlsrpt stats --json`.
func (h *handler) serveStats(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	by := store.Period(q.Get("by"))
	if by == "" {
		by = store.Day
	}
	group := store.Group(q.Get("group"))
	since, ok := sinceParam(w, r, h.opt.Now().UTC().AddDate(0, 0, -h.opt.Days))
	if !ok {
		return
	}
	rows, err := h.opt.Store.SessionStats(r.Context(), since, by, group)
	if err != nil {
		if by != store.Day && by != store.Week && by != store.Month || !validGroup(group) {
			http.Error(w, "tlsrpt dashboard: by: day, week or month; group: reporter, domain, mx or result-type", http.StatusBadRequest)
			return
		}
		fail(w, err)
		return
	}
	writeJSON(w, stats.Rows(rows, group))
}

// sinceParam reads the since parameter, a date, or answers 400 and
// returns false.
func sinceParam(w http.ResponseWriter, r *http.Request, def time.Time) (time.Time, bool) {
	s := r.URL.Query().Get("since")
	if s == "" {
		return def, true
	}
	t, err := time.Parse("2006-01-02", s)
	if err != nil {
		http.Error(w, "tlsrpt dashboard: since: want a date, 2026-01-31", http.StatusBadRequest)
		return time.Time{}, false
	}
	return t, true
}

func validGroup(g store.Group) bool {
	switch g {
	case store.NoGroup, store.ByReporter, store.ByDomain, store.ByMX, store.ByResultType:
		return true
	}
	return false
}

// reporterJSON is a reporter's activity in /api/v1/reporters.
type reporterJSON struct {
	Reporter string    `json:"reporter"`
	Reports  int64     `json:"reports"`
	Days     int64     `json:"days"`
	PerDay   float64   `json:"reports_per_day"`
	First    time.Time `json:"first"`
	Last     time.Time `json:"last"`
	Quiet    bool      `json:"quiet"`

	// LastReceived is when its latest report was received (a backfill's
	// arrival time, not when it was imported); LastStored when it was
	// stored.
	LastReceived time.Time `json:"last_received"`
	LastStored   time.Time `json:"last_stored"`

	// Authenticated is false for the unauthenticated reports, whose
	// reporter is the name they claim, marked (store.ReporterName).
	Authenticated bool `json:"authenticated"`
}

func (h *handler) serveReporters(w http.ResponseWriter, r *http.Request) {
	as, err := h.opt.Store.Reporters(r.Context())
	if err != nil {
		fail(w, err)
		return
	}
	now := h.opt.Now()
	out := make([]reporterJSON, 0, len(as))
	for _, a := range as {
		pd, _ := strconv.ParseFloat(strconv.FormatFloat(a.PerDay(), 'f', 2, 64), 64)
		out = append(out, reporterJSON{Reporter: a.Name(), Authenticated: a.Authenticated, Reports: a.Reports, Days: a.Days, PerDay: pd,
			First: a.First, Last: a.Last, LastReceived: a.LastReceived, LastStored: a.LastStored, Quiet: a.Quiet(now, h.opt.QuietAfter)})
	}
	writeJSON(w, out)
}

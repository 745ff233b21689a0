// Package serve receives SMTP TLS reports over HTTPS, the transport of
// RFC 8460 section 5.4: a reporter POSTs one report, as
// application/tlsrpt+gzip or application/tlsrpt+json, to the URI published
// in the rua= tag of the domain's _smtp._tls TXT record.
//
// Handler answers such POSTs at any path, stores the reports through an
// arrival.Recorder (a *store.Store) with transport "https", and serves
// /healthz to GET; its MetricsHandler serves /metrics (Prometheus text
// format), meant for a listener of its own. Reports received over HTTPS
// carry no signature, so they are stored unauthenticated: they count in
// review but never make an address trusted by themselves.
//
// Answers, one line of text each:
//
//	201 Created                  the report is stored
//	200 OK                       the report was already stored (a retry)
//	400 Bad Request              not a report, bad gzip, bad JSON, invalid report
//	404 Not Found                GET of /metrics (served by MetricsHandler only)
//	405 Method Not Allowed       anything but POST (GET of /healthz excepted)
//	408 Request Timeout          the body did not arrive within the read time-out
//	413 Content Too Large        body over Options.MaxBody, or over the decompressed bound
//	415 Unsupported Media Type   Content-Type is not application/tlsrpt+gzip or +json
//	500 Internal Server Error    the store failed (never for bad input)
//	503 Service Unavailable      too many requests at once, or the database is away; Retry-After says when to retry
//
// Serve runs a Handler on a listener with time-outs that keep slow clients
// from holding the server, and shuts down gracefully when its context ends.
// The package logs nothing by itself: the Logger in Options gets one line
// per request.
package serve

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"mime"
	"net/http"
	"net/netip"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/tlsrpt/tlsrpt/arrival"
	"github.com/tlsrpt/tlsrpt/internal/pkgerr"
	"github.com/tlsrpt/tlsrpt/internal/promtext"
	"github.com/tlsrpt/tlsrpt/internal/tally"
	"github.com/tlsrpt/tlsrpt/neutral"
	"github.com/tlsrpt/tlsrpt/report"
	"github.com/tlsrpt/tlsrpt/store"
)

// Media types of RFC 8460 section 5.4.
const (
	MediaTypeGzip = "application/tlsrpt+gzip"
	MediaTypeJSON = "application/tlsrpt+json"
)

// Defaults for the zero values of Options.
const (
	DefaultMaxBody          = 8 << 20
	DefaultMaxConcurrent    = 4
	DefaultMaxReading       = 256
	DefaultMaxPerClient     = 8
	DefaultMaxInFlightBytes = 128 << 20
	DefaultStoreWait        = 25 * time.Second
	DefaultRetryAfter       = 5 * time.Second
)

// Options configure a Handler. The zero value is usable: report.DefaultLimits,
// DefaultMaxBody, DefaultMaxConcurrent, no logging, no store statistics.
type Options struct {
	// Limits bound decompression (MaxDecompressed) and the number of
	// reports in one body (MaxReports).
	Limits report.Limits

	// MaxBody is the largest request body in bytes, as sent (compressed).
	MaxBody int64

	// MaxConcurrent bounds the bodies decoded and stored at once (store
	// slots). A body fully received waits up to StoreWait for one, then
	// gets 503 with Retry-After. Slots are taken only once the body has
	// arrived: a slow client never holds one.
	MaxConcurrent int

	// MaxReading bounds the bodies being received at once (read slots);
	// more get 503 at once. /healthz and /metrics are not counted.
	MaxReading int

	// MaxPerClient bounds the report POSTs of one client at once (read or
	// stored), so that one host cannot take every read slot. A POST over
	// the bound waits up to StoreWait for one of its client's to end, then
	// gets 503; at most MaxReading POSTs wait so at once, more get 503 at
	// once. A client is an address, or a /64 for IPv6.
	MaxPerClient int

	// TrustProxy are the reverse proxies whose ProxyHeader names the
	// client. From any other peer the header is ignored.
	TrustProxy []netip.Prefix

	// ProxyHeader is HeaderXForwardedFor (the default) or HeaderForwarded:
	// the one header read from a trusted proxy; the other is ignored.
	ProxyHeader string

	// MaxInFlightBytes bounds the memory of all requests together: the
	// body bytes received and, per store slot, Limits.MaxDecompressed for
	// decoding. A request that would pass it gets 503.
	MaxInFlightBytes int64

	// StoreWait is how long a received body waits for a store slot.
	StoreWait time.Duration

	// Collectors are registered on the handler's metrics registry and
	// served on /metrics with its own counters (metrics.NewCollector).
	Collectors []promtext.Collector

	// RetryAfter is sent with 503 answers (whole seconds).
	RetryAfter time.Duration

	// Logger gets one line per request; nil logs nothing.
	Logger *slog.Logger

	// Stats, when set, adds the store's report counts by transport to
	// /metrics (tlsrpt_store_reports). *store.Store's Stats method fits.
	Stats func(ctx context.Context) (store.Stats, error)

	// Now is the clock for the Received time of stored reports; nil means
	// time.Now.
	Now func() time.Time
}

// Handler is the http.Handler of tlsrpt serve. It is safe for concurrent
// use.
type Handler struct {
	rec     arrival.Recorder
	opt     Options
	sem     chan struct{} // store slots
	reading chan struct{} // read slots
	bytes   *budget       // bytes in flight across requests
	clients clientLimit   // requests per client address
	metrics *metrics

	// writeMu serializes this process's writes: SQLite takes one writer
	// at a time anyway, and goroutines queueing here wait far less than
	// goroutines polling SQLite's lock with back-off.
	writeMu sync.Mutex
}

// NewHandler returns a Handler storing reports through rec.
func NewHandler(rec arrival.Recorder, opt Options) *Handler {
	opt.MaxBody = tally.OrDefault(opt.MaxBody, DefaultMaxBody)
	opt.MaxConcurrent = tally.OrDefault(opt.MaxConcurrent, DefaultMaxConcurrent)
	opt.RetryAfter = tally.OrDefault(opt.RetryAfter, DefaultRetryAfter)
	opt.MaxReading = tally.OrDefault(opt.MaxReading, DefaultMaxReading)
	opt.MaxPerClient = tally.OrDefault(opt.MaxPerClient, DefaultMaxPerClient)
	opt.MaxInFlightBytes = tally.OrDefault(opt.MaxInFlightBytes, DefaultMaxInFlightBytes)
	opt.StoreWait = tally.OrDefault(opt.StoreWait, DefaultStoreWait)
	opt.Limits.MaxDecompressed = tally.OrDefault(opt.Limits.MaxDecompressed, report.DefaultLimits.MaxDecompressed)
	if opt.Logger == nil {
		opt.Logger = slog.New(slog.DiscardHandler)
	}
	if opt.Now == nil {
		opt.Now = time.Now
	}
	opt.ProxyHeader = http.CanonicalHeaderKey(opt.ProxyHeader)
	if opt.ProxyHeader == "" {
		opt.ProxyHeader = HeaderXForwardedFor
	}
	h := &Handler{rec: rec, opt: opt, sem: make(chan struct{}, opt.MaxConcurrent),
		reading: make(chan struct{}, opt.MaxReading), bytes: &budget{max: opt.MaxInFlightBytes},
		clients: clientLimit{max: opt.MaxPerClient, maxWaiting: opt.MaxReading}}
	h.metrics = newMetrics(h)
	return h
}

// inFlight is the number of report POSTs being read or stored.
func (h *Handler) inFlight() int { return len(h.reading) + len(h.sem) }

// outcome is what one request came to, for the answer, the log and the
// metrics.
type outcome struct {
	status  int
	reason  string // metrics label of a rejection, "" when accepted
	msg     string // the one-line answer
	reports int    // reports in the body
	stored  int    // newly stored
	err     error  // detail for the log
}

// ServeHTTP answers one request and logs it.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	c := h.clientOf(r)
	o := h.route(w, r, c)
	writeLine(w, o.status, o.msg)
	h.metrics.request(o)
	h.log(r, c, o, time.Since(start))
}

// route dispatches on method and path.
func (h *Handler) route(w http.ResponseWriter, r *http.Request, c client) outcome {
	get := r.Method == http.MethodGet || r.Method == http.MethodHead
	switch {
	case r.Method == http.MethodPost:
		return h.post(w, r, c)
	case get && r.URL.Path == "/healthz":
		return outcome{status: http.StatusOK, msg: "ok"}
	case get && r.URL.Path == "/metrics":
		// Never on the intake listener: the metrics name reporters and
		// domains, and cost a store query.
		return outcome{status: http.StatusNotFound, msg: "no metrics here: they are served on a listener of their own"}
	}
	w.Header().Set("Allow", "POST")
	return reject(http.StatusMethodNotAllowed, "method", "method "+r.Method+" not allowed: POST a TLS report", nil)
}

func reject(status int, reason, msg string, err error) outcome {
	return outcome{status: status, reason: reason, msg: msg, err: err}
}

// post reads the body in a read slot, within the client's share and the
// byte budget, then decodes and stores it in a store slot.
func (h *Handler) post(w http.ResponseWriter, r *http.Request, c client) outcome {
	if o, ok := checkMediaType(r); !ok {
		return o
	}
	if !h.clients.take(r.Context(), c.key, h.opt.StoreWait) {
		return h.busy(w, "too many requests at once from "+c.key+": retry later")
	}
	defer h.clients.give(c.key)
	select {
	case h.reading <- struct{}{}:
	default:
		return h.busy(w, "too many requests at once: retry later")
	}
	body, o, ok := h.readBody(w, r)
	<-h.reading
	if !ok {
		return o
	}
	defer h.bytes.release(int64(cap(body)))
	if o, ok := h.storeSlot(w, r); !ok {
		return o
	}
	defer func() { <-h.sem }()
	if !h.bytes.reserve(h.opt.Limits.MaxDecompressed) {
		return h.busy(w, "server busy: retry later")
	}
	reps, err := report.Decode(body, "request body", r.Header.Get("Content-Type"), h.opt.Limits)
	h.bytes.release(h.opt.Limits.MaxDecompressed)
	if err != nil {
		return decodeRejection(err)
	}
	return h.store(r.Context(), w, reps)
}

// storeSlot waits up to StoreWait for a store slot.
func (h *Handler) storeSlot(w http.ResponseWriter, r *http.Request) (outcome, bool) {
	t := time.NewTimer(h.opt.StoreWait)
	defer t.Stop()
	select {
	case h.sem <- struct{}{}:
		return outcome{}, true
	case <-t.C:
	case <-r.Context().Done():
	}
	return h.busy(w, "too many reports being stored: retry later"), false
}

// busy is a 503 answer with Retry-After.
func (h *Handler) busy(w http.ResponseWriter, msg string) outcome {
	h.retryAfter(w)
	return reject(http.StatusServiceUnavailable, "busy", msg, nil)
}

func (h *Handler) retryAfter(w http.ResponseWriter) {
	secs := int((h.opt.RetryAfter + time.Second - 1) / time.Second)
	w.Header().Set("Retry-After", strconv.Itoa(secs))
}

// checkMediaType accepts the two media types of RFC 8460 section 5.4
// (parameters ignored), with no content coding or gzip.
func checkMediaType(r *http.Request) (outcome, bool) {
	ct := r.Header.Get("Content-Type")
	mt, _, err := mime.ParseMediaType(ct)
	if err != nil || (mt != MediaTypeGzip && mt != MediaTypeJSON) {
		return reject(http.StatusUnsupportedMediaType, "media_type",
			fmt.Sprintf("unsupported media type %q: want %s or %s", ct, MediaTypeGzip, MediaTypeJSON), err), false
	}
	if ce := strings.ToLower(r.Header.Get("Content-Encoding")); ce != "" && ce != "identity" && ce != "gzip" {
		return reject(http.StatusUnsupportedMediaType, "media_type",
			fmt.Sprintf("unsupported content encoding %q", ce), nil), false
	}
	return outcome{}, true
}

// readBody reads the whole body within MaxBody and the byte budget; the
// caller releases cap(body) bytes of the budget.
func (h *Handler) readBody(w http.ResponseWriter, r *http.Request) ([]byte, outcome, bool) {
	tooLarge := reject(http.StatusRequestEntityTooLarge, "too_large",
		fmt.Sprintf("request body over %d bytes", h.opt.MaxBody), nil)
	if r.ContentLength > h.opt.MaxBody {
		return nil, tooLarge, false
	}
	body, err := h.bytes.readAll(http.MaxBytesReader(w, r.Body, h.opt.MaxBody))
	var mbe *http.MaxBytesError
	switch {
	case errors.Is(err, errBudget):
		h.bytes.release(int64(cap(body)))
		return nil, h.busy(w, "server busy: retry later"), false
	case errors.As(err, &mbe):
		h.bytes.release(int64(cap(body)))
		return nil, tooLarge, false
	case errors.Is(err, os.ErrDeadlineExceeded):
		h.bytes.release(int64(cap(body)))
		return nil, reject(http.StatusRequestTimeout, "timeout", "request body not received in time", err), false
	case err != nil:
		h.bytes.release(int64(cap(body)))
		return nil, reject(http.StatusBadRequest, "read_error", "reading request body failed", err), false
	case len(body) == 0:
		h.bytes.release(int64(cap(body)))
		return nil, reject(http.StatusBadRequest, "not_report", "empty request body: POST a TLS report", nil), false
	}
	return body, outcome{}, true
}

// decodeRejection turns a decoding error into a 4xx answer.
func decodeRejection(err error) outcome {
	msg := neutral.LogAttr(pkgerr.TrimPackage(err, err.Error()))
	switch {
	case errors.Is(err, report.ErrTooLarge):
		return reject(http.StatusRequestEntityTooLarge, "too_large", msg, err)
	case errors.Is(err, report.ErrNoReport):
		return reject(http.StatusBadRequest, "not_report", msg, err)
	case errors.Is(err, report.ErrGzip):
		return reject(http.StatusBadRequest, "bad_gzip", msg, err)
	case errors.Is(err, report.ErrJSON):
		return reject(http.StatusBadRequest, "bad_json", msg, err)
	}
	return reject(http.StatusBadRequest, "invalid", msg, err)
}

// store records the reports of one body, unauthenticated, with transport
// https. A report fully received is stored even if the client hangs up.
func (h *Handler) store(ctx context.Context, w http.ResponseWriter, reps []*report.Report) outcome {
	ctx = context.WithoutCancel(ctx)
	src := arrival.Source{
		Transport: "https",
		Received:  h.opt.Now().UTC(),
		Auth:      arrival.Auth{Detail: "received over https, not authenticated"},
	}
	o := outcome{status: http.StatusOK, reports: len(reps)}
	var ids []string
	h.writeMu.Lock()
	defer h.writeMu.Unlock()
	for _, r := range reps {
		id, added, err := h.rec.AddReportResult(ctx, r, src)
		dup := added != arrival.New // an upgrade needs authentication: never over https
		if errors.Is(err, store.ErrUnavailable) || errors.Is(err, store.ErrBusy) {
			h.retryAfter(w)
			return outcome{status: http.StatusServiceUnavailable, reason: "unavailable", reports: len(reps),
				msg: "the database is away: retry later", err: fmt.Errorf("storing report %q: %w", r.ReportID, err)}
		}
		if err != nil {
			return outcome{status: http.StatusInternalServerError, reason: "store", reports: len(reps),
				msg: "storing the report failed", err: fmt.Errorf("storing report %q: %w", r.ReportID, err)}
		}
		ids = append(ids, strconv.FormatInt(id, 10))
		if !dup {
			o.stored++
			h.metrics.stored(r)
		}
		h.metrics.receivedReport(dup)
	}
	if o.stored > 0 {
		o.status = http.StatusCreated
		o.msg = "stored report " + strings.Join(ids, ", ")
	} else {
		o.msg = "already stored as report " + strings.Join(ids, ", ")
	}
	return o
}

// writeLine writes a one-line plain-text answer.
func writeLine(w http.ResponseWriter, status int, msg string) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(status)
	io.WriteString(w, msg+"\n")
}

// log writes one line for the request.
func (h *Handler) log(r *http.Request, c client, o outcome, d time.Duration) {
	attrs := []slog.Attr{
		slog.String("method", r.Method),
		slog.String("path", r.URL.Path),
		slog.String("remote", r.RemoteAddr),
		slog.Int("status", o.status),
		slog.Int64("duration_ms", d.Milliseconds()),
	}
	if peer, ok := peerAddr(r.RemoteAddr); ok && c.addr.IsValid() && c.addr != peer {
		attrs = append(attrs, slog.String("client", c.addr.String()))
	}
	if c.note != "" {
		attrs = append(attrs, slog.String("client_note", c.note))
	}
	if xff := r.Header.Get("X-Forwarded-For"); xff != "" {
		// As received: true only as far as a trusted proxy wrote it.
		attrs = append(attrs, slog.String("forwarded_for", neutral.LogAttr(xff)))
	}
	if o.reports > 0 {
		attrs = append(attrs, slog.Int("reports", o.reports), slog.Int("stored", o.stored))
	}
	if o.reason != "" {
		attrs = append(attrs, slog.String("reason", o.reason))
	}
	if o.err != nil {
		attrs = append(attrs, slog.String("error", neutral.Error(o.err)))
	}
	level := slog.LevelInfo
	if o.status >= 500 && o.reason != "busy" && o.reason != "unavailable" {
		level = slog.LevelError
	}
	h.opt.Logger.LogAttrs(context.Background(), level, "request", attrs...)
}

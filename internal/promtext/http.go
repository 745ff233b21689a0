package promtext

import (
	"compress/gzip"
	"io"
	"net/http"
	"slices"
	"strconv"
	"strings"
)

// ContentType is the media type of the text format, version 0.0.4, as
// promhttp names it (metric names are written as they are: they are all
// legacy names, which escape to themselves).
const ContentType = "text/plain; version=0.0.4; charset=utf-8; escaping=underscores"

// HandlerOpts says how a Handler answers.
type HandlerOpts struct {
	// ContinueOnError serves what could be gathered when some samples
	// could not (promhttp's ContinueOnError); without it, any such error
	// fails the scrape with 500 (promhttp's default, HTTPErrorOnError).
	// Either way, nothing gathered and an error is a 500.
	ContinueOnError bool
}

// Handler serves the registry's metrics in the text format, whatever
// the request's Accept header asks, gzip-compressed when its
// Accept-Encoding prefers gzip to identity, as promhttp does; name[]
// parameters keep only the families they name.
func (r *Registry) Handler(opts HandlerOpts) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		fams, err := r.Gather()
		if err != nil && (!opts.ContinueOnError || len(fams) == 0) {
			http.Error(w, "tlsrpt: metrics not served: "+err.Error(), http.StatusInternalServerError)
			return
		}
		fams = keepNamed(fams, req.URL.Query()["name[]"])
		h := w.Header()
		h.Add("Vary", "Accept")
		h.Add("Vary", "Accept-Encoding")
		h.Set("Content-Type", ContentType)
		var out io.Writer = w
		if prefersGzip(req.Header.Get("Accept-Encoding")) {
			h.Set("Content-Encoding", "gzip")
			gz := gzip.NewWriter(w)
			defer gz.Close()
			out = gz
		}
		Write(out, fams) // an error here is the client's going away
	})
}

// keepNamed keeps the families named, or all when names is empty.
func keepNamed(fams []Family, names []string) []Family {
	if len(names) == 0 {
		return fams
	}
	var out []Family
	for _, f := range fams {
		if slices.Contains(names, f.Desc.Name) {
			out = append(out, f)
		}
	}
	return out
}

// prefersGzip reports whether an Accept-Encoding header asks for gzip
// with a higher weight than identity, and above 0, as promhttp decides
// ("*" stands for both; no header is identity).
func prefersGzip(header string) bool {
	qGzip, qIdentity := -1.0, -1.0
	for _, spec := range strings.Split(header, ",") {
		coding, q, ok := parseCoding(spec)
		if !ok {
			continue
		}
		if coding == "gzip" || coding == "*" {
			qGzip = max(qGzip, q)
		}
		if coding == "identity" || coding == "*" {
			qIdentity = max(qIdentity, q)
		}
	}
	return qGzip > 0 && qGzip > qIdentity
}

// parseCoding reads one element of Accept-Encoding: "gzip;q=0.5".
func parseCoding(spec string) (coding string, q float64, ok bool) {
	coding, params, _ := strings.Cut(spec, ";")
	coding = strings.ToLower(strings.TrimSpace(coding))
	q = 1
	for _, p := range strings.Split(params, ";") {
		k, v, _ := strings.Cut(p, "=")
		if strings.EqualFold(strings.TrimSpace(k), "q") {
			f, err := strconv.ParseFloat(strings.TrimSpace(v), 64)
			if err != nil {
				return "", 0, false
			}
			q = f
		}
	}
	return coding, q, coding != ""
}

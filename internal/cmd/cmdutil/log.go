package cmdutil

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"log/syslog"
	"net/url"
	"strings"
	"sync"

	"github.com/tlsrpt/tlsrpt/neutral"
)

// SyslogUsage documents the --syslog flag and $TLSRPT_SYSLOG.
const SyslogUsage = "send log lines to syslog, facility mail, instead of standard error: local (the default with no value), or unix:///PATH of a syslog socket (default $TLSRPT_SYSLOG)"

// newLogger returns the logger for spec ("" standard error, "local" or
// unix:///PATH syslog). When syslog cannot be reached, lines go to errOut,
// after one line saying why.
func newLogger(spec string, errOut io.Writer) *slog.Logger {
	if spec == "" {
		return slog.New(&lineHandler{out: lineWriter{errOut}, prefix: "tlsrpt: "})
	}
	w, err := dialSyslog(spec)
	if err != nil {
		fmt.Fprintf(errOut, "tlsrpt: syslog %s: %s (logging to standard error)\n", neutral.LogAttr(spec), neutral.Error(err))
		return slog.New(&lineHandler{out: lineWriter{errOut}, prefix: "tlsrpt: "})
	}
	return slog.New(&lineHandler{out: syslogLeveled{w}, mu: &sync.Mutex{}})
}

// dialSyslog connects to the local syslog or to a unix datagram socket.
func dialSyslog(spec string) (*syslog.Writer, error) {
	const prio = syslog.LOG_MAIL | syslog.LOG_INFO
	if spec == "local" || spec == "1" || spec == "true" {
		return syslog.New(prio, "tlsrpt")
	}
	u, err := url.Parse(spec)
	if err != nil || u.Scheme != "unix" || u.Path == "" {
		return nil, fmt.Errorf("want local, or unix:///PATH of a syslog socket")
	}
	return syslog.Dial("unixgram", u.Path, prio, "tlsrpt")
}

// leveled writes one line at a level: log/syslog's writer maps it to a
// syslog severity, other writers ignore it.
type leveled interface {
	write(level slog.Level, line string) error
}

// lineWriter writes lines to an io.Writer.
type lineWriter struct{ w io.Writer }

func (l lineWriter) write(_ slog.Level, line string) error {
	_, err := io.WriteString(l.w, line+"\n")
	return err
}

// syslog.Writer as a leveled writer.
type syslogLeveled struct{ w *syslog.Writer }

func (s syslogLeveled) write(level slog.Level, line string) error {
	switch {
	case level >= slog.LevelError:
		return s.w.Err(line)
	case level >= slog.LevelWarn:
		return s.w.Warning(line)
	}
	return s.w.Info(line)
}

// lineHandler writes each record as one line, "PREFIXmessage key=value
// ...", with every string neutralised (neutral.LogAttr): one record, one
// write, one syslog message.
type lineHandler struct {
	mu     *sync.Mutex
	out    leveled
	prefix string
	attrs  []slog.Attr
}

func (h *lineHandler) Enabled(context.Context, slog.Level) bool { return true }

func (h *lineHandler) Handle(_ context.Context, r slog.Record) error {
	var b strings.Builder
	b.WriteString(h.prefix)
	b.WriteString(neutral.LogAttr(r.Message))
	write := func(a slog.Attr) bool {
		b.WriteString(" " + a.Key + "=")
		v := neutral.LogAttr(a.Value.String())
		if v == "" || strings.ContainsAny(v, " \"=") {
			v = fmt.Sprintf("%q", v)
		}
		b.WriteString(v)
		return true
	}
	for _, a := range h.attrs {
		write(a)
	}
	r.Attrs(write)
	if h.mu != nil {
		h.mu.Lock()
		defer h.mu.Unlock()
	}
	return h.out.write(r.Level, b.String())
}

func (h *lineHandler) WithAttrs(as []slog.Attr) slog.Handler {
	c := *h
	c.attrs = append(append([]slog.Attr{}, h.attrs...), as...)
	return &c
}

func (h *lineHandler) WithGroup(string) slog.Handler { return h }

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
	"github.com/tlsrpt/tlsrpt/store"
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
		fmt.Fprintf(errOut, "tlsrpt: syslog %s: %s (logging to standard error)\n", neutral.LogAttr(store.Redact(spec)), neutral.Error(err))
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
// ...", with every string neutralised (neutral.LogAttr) and its secrets
// masked (store.RedactText): one record, one write, one syslog message.
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
	b.WriteString(neutral.LogAttr(store.RedactText(r.Message)))
	write := func(a slog.Attr) bool {
		b.WriteString(" " + a.Key + "=")
		v := neutral.LogAttr(store.RedactText(a.Value.String()))
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

// RedactHandler wraps a slog handler of the command's own (serve's text or
// JSON lines) so that the message and every value it logs has its secrets
// masked by store.RedactText, as the lines of Logger have.
func RedactHandler(h slog.Handler) slog.Handler { return redactHandler{h} }

type redactHandler struct{ slog.Handler }

func (h redactHandler) Handle(ctx context.Context, r slog.Record) error {
	c := slog.NewRecord(r.Time, r.Level, store.RedactText(r.Message), r.PC)
	r.Attrs(func(a slog.Attr) bool {
		c.AddAttrs(redactAttr(a))
		return true
	})
	return h.Handler.Handle(ctx, c)
}

func (h redactHandler) WithAttrs(as []slog.Attr) slog.Handler {
	c := make([]slog.Attr, len(as))
	for i, a := range as {
		c[i] = redactAttr(a)
	}
	return redactHandler{h.Handler.WithAttrs(c)}
}

func (h redactHandler) WithGroup(name string) slog.Handler {
	return redactHandler{h.Handler.WithGroup(name)}
}

// redactAttr masks the secrets of one attribute: a string, an error or
// anything else that prints with one, and every member of a group.
func redactAttr(a slog.Attr) slog.Attr {
	v := a.Value.Resolve()
	switch v.Kind() {
	case slog.KindGroup:
		g := v.Group()
		c := make([]any, len(g))
		for i, m := range g {
			c[i] = redactAttr(m)
		}
		return slog.Group(a.Key, c...)
	case slog.KindString, slog.KindAny:
		if s := v.String(); store.RedactText(s) != s {
			return slog.String(a.Key, store.RedactText(s))
		}
	}
	return a
}

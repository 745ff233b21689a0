// Package f2btest runs a real fail2ban-server, Debian's fail2ban, on a
// configuration of its own in a temporary directory, for tests.
//
// The configuration uses no Debian path: every jail is enabled on one
// polled log file (LogPath) with a filter matching lines "fail from HOST"
// and a dummy action that appends "ban IP" and "unban IP" lines to
// ActionsPath. A ban needs one matching line (maxretry = 1) and lasts an
// hour. fail2ban's own log, at level INFO, is ServerLog. With
// Options.Base, a copy of a stock configuration (Debian's /etc/fail2ban)
// is used instead, with local files that set the same for its jails.
package f2btest

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/tlsrpt/tlsrpt/internal/testenv"
)

// Jail is one jail of the test server.
type Jail struct {
	// Name is the jail's section name.
	Name string
	// IgnoreIP is the jail's own ignoreip line; empty leaves it to the
	// default.
	IgnoreIP string
}

// Options says what configuration a test server gets. The zero value is
// one jail, "testjail", ignoring nothing.
type Options struct {
	// Jails are the jails, in order. Empty means one jail "testjail".
	Jails []Jail
	// DefaultIgnoreIP is the ignoreip of the [DEFAULT] section; empty
	// leaves it out.
	DefaultIgnoreIP string
	// Files, when set, is called with the configuration directory and
	// returns extra files to write there by their relative path, such as
	// a jail.d drop-in, before the server starts.
	Files func(dir string) map[string]string
	// Base, when set, is a configuration directory (a copy of a stock
	// /etc/fail2ban) copied as the configuration instead of the generated
	// one. Only local files are added to it, as an operator would: a
	// fail2ban.local with the test's log and database, an action.d and a
	// filter.d file of the test, and a jail.local that sets, in each of
	// Jails (default: "sshd"), the test's log, polling backend, filter and
	// action, and the IgnoreIP given; DefaultIgnoreIP goes to its
	// [DEFAULT]. Nothing of the copy itself is changed.
	Base string
}

// Server is a running fail2ban-server.
type Server struct {
	// Dir is the configuration directory (fail2ban-client -c Dir). It is
	// short, under /tmp, so the socket path fits in 108 bytes.
	Dir string
	// Socket is the server's control socket.
	Socket string
	// LogPath is the log file every jail watches.
	LogPath string
	// ServerLog is fail2ban's own log.
	ServerLog string
	// ActionsPath is the file the dummy action writes its bans and unbans
	// to.
	ActionsPath string

	t    testing.TB
	stop func() // stops the running server; idempotent
}

// DropIn returns the path of the drop-in file name in the server's
// jail.d directory.
func (s *Server) DropIn(name string) string {
	return filepath.Join(s.Dir, "jail.d", name)
}

// Restart stops the server and starts a new one on the same directory,
// as "systemctl restart fail2ban" would: it reads the configuration
// anew, runtime changes are gone. It fails the test when the new server
// does not answer ping.
func (s *Server) Restart() {
	s.t.Helper()
	s.stop()
	s.run()
}

// WaitTimeout is how long WaitFor and Start wait: testenv.Patience, far
// beyond what fail2ban-server needs even on a loaded machine, so that it
// only ever catches a server that will not come.
const WaitTimeout = testenv.Patience

// Start writes the configuration, starts fail2ban-server in the foreground
// and waits for it to answer ping. The server is stopped and its directory
// removed when the test ends. Start skips the test when fail2ban is not
// installed (failing it under $TLSRPT_TEST_REQUIRE_ALL=1, as testenv does).
func Start(t testing.TB, opts Options) *Server {
	t.Helper()
	for _, prog := range []string{"fail2ban-server", "fail2ban-client"} {
		testenv.MustHaveExec(t, prog, "fail2ban")
	}
	dir, err := os.MkdirTemp("/tmp", "f2b") // short: socket paths are limited to 108 bytes
	if err != nil {
		t.Fatalf("f2btest: %v", err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	s := &Server{
		Dir:         dir,
		Socket:      filepath.Join(dir, "f2b.sock"),
		LogPath:     filepath.Join(dir, "auth.log"),
		ServerLog:   filepath.Join(dir, "fail2ban.log"),
		ActionsPath: filepath.Join(dir, "actions.log"),
		t:           t,
	}
	files := s.config(opts)
	if opts.Base != "" {
		copyDir(t, opts.Base, dir)
		files = s.localConfig(opts)
	}
	if opts.Files != nil {
		for name, content := range opts.Files(dir) {
			files[name] = content
		}
	}
	for name, content := range files {
		s.write(name, content)
	}
	s.run()
	return s
}

// config returns the configuration files by their relative path.
func (s *Server) config(opts Options) map[string]string {
	jails := opts.Jails
	if len(jails) == 0 {
		jails = []Jail{{Name: "testjail"}}
	}
	jail := jailFile(jails, opts.DefaultIgnoreIP,
		fmt.Sprintf("backend = polling\nlogpath = %s\nfilter = test\naction = dummy\nmaxretry = 1\nfindtime = 3600\nbantime = 3600\n", s.LogPath), "")
	return map[string]string{
		"fail2ban.conf":       fmt.Sprintf("[Definition]\nloglevel = INFO\nlogtarget = %s\nsyslogsocket = auto\nsocket = %s\npidfile = %s/f2b.pid\ndbfile = :memory:\ndbpurgeage = 1d\nallowipv6 = auto\n", s.ServerLog, s.Socket, s.Dir),
		"filter.d/test.conf":  "[Definition]\nfailregex = ^fail from <HOST>$\ndatepattern = {NONE}\n",
		"action.d/dummy.conf": fmt.Sprintf("[Definition]\nactionban = echo ban <ip> >> %[1]s\nactionunban = echo unban <ip> >> %[1]s\n", s.ActionsPath),
		"jail.conf":           jail,
		"jail.d/README":       "drop-ins go here\n",
		"auth.log":            "",
	}
}

// localConfig returns the local files that run a copy of a stock
// configuration as a test server.
func (s *Server) localConfig(opts Options) map[string]string {
	jails := opts.Jails
	if len(jails) == 0 {
		jails = []Jail{{Name: "sshd"}}
	}
	jail := jailFile(jails, opts.DefaultIgnoreIP, "",
		fmt.Sprintf("backend = polling\nlogpath = %s\nfilter = f2btest\naction = f2btest\nmaxretry = 1\nfindtime = 3600\nbantime = 3600\n", s.LogPath))
	gen := s.config(Options{})
	return map[string]string{
		"fail2ban.local":        gen["fail2ban.conf"],
		"filter.d/f2btest.conf": gen["filter.d/test.conf"],
		"action.d/f2btest.conf": gen["action.d/dummy.conf"],
		"jail.local":            jail,
		"auth.log":              "",
	}
}

// jailFile is a jail configuration: a [DEFAULT] section with
// defaultIgnoreIP and the settings defaults, then a section per jail with
// the settings perJail and the jail's own ignoreip.
func jailFile(jails []Jail, defaultIgnoreIP, defaults, perJail string) string {
	var b strings.Builder
	b.WriteString("[DEFAULT]\n")
	if defaultIgnoreIP != "" {
		fmt.Fprintf(&b, "ignoreip = %s\n", defaultIgnoreIP)
	}
	b.WriteString(defaults)
	for _, j := range jails {
		fmt.Fprintf(&b, "\n[%s]\nenabled = true\n%s", j.Name, perJail)
		if j.IgnoreIP != "" {
			fmt.Fprintf(&b, "ignoreip = %s\n", j.IgnoreIP)
		}
	}
	return b.String()
}

// copyDir copies the regular files and directories under src to dst.
func copyDir(t testing.TB, src, dst string) {
	t.Helper()
	err := filepath.WalkDir(src, func(path string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(src, path)
		if err != nil {
			return err
		}
		to := filepath.Join(dst, rel)
		if d.IsDir() {
			return os.MkdirAll(to, 0o755)
		}
		if !d.Type().IsRegular() {
			return fmt.Errorf("%s: not a regular file", path)
		}
		data, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		return os.WriteFile(to, data, 0o644)
	})
	if err != nil {
		t.Fatalf("f2btest: copying %s: %v", src, err)
	}
}

// write writes content to the file name under the directory.
func (s *Server) write(name, content string) {
	s.t.Helper()
	p := filepath.Join(s.Dir, name)
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		s.t.Fatalf("f2btest: %v", err)
	}
	if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
		s.t.Fatalf("f2btest: %v", err)
	}
}

// run starts the server, stops it on cleanup and waits for it to answer.
func (s *Server) run() {
	t := s.t
	t.Helper()
	cmd := exec.Command("fail2ban-server", "-c", s.Dir, "-s", s.Socket, "-p", filepath.Join(s.Dir, "f2b.pid"), "-x", "-f")
	outPath := filepath.Join(s.Dir, "server.out")
	out, err := os.Create(outPath)
	if err != nil {
		t.Fatalf("f2btest: %v", err)
	}
	cmd.Stdout, cmd.Stderr = out, out
	// What the server runs (an ignorecommand: tlsrpt allowlist check) keeps
	// its state (the check's DNS cache) in this server's folder, never in
	// the state folder of the user running the tests, which other tests
	// and other servers running at the same time would share.
	cmd.Env = append(os.Environ(), "XDG_STATE_HOME="+filepath.Join(s.Dir, "state"))
	if err := cmd.Start(); err != nil {
		t.Fatalf("f2btest: starting fail2ban-server: %v", err)
	}
	stopped := false
	s.stop = func() {
		if stopped {
			return
		}
		stopped = true
		exec.Command("fail2ban-client", "-s", s.Socket, "stop").Run()
		done := make(chan struct{})
		go func() { cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(5 * time.Second):
			cmd.Process.Kill()
			<-done
		}
		out.Close()
	}
	t.Cleanup(s.stop)
	deadline := time.Now().Add(WaitTimeout)
	for exec.Command("fail2ban-client", "-c", s.Dir, "-s", s.Socket, "ping").Run() != nil {
		if time.Now().After(deadline) {
			log, _ := os.ReadFile(outPath)
			t.Fatalf("f2btest: fail2ban-server did not answer ping within %v; its output:\n%s", WaitTimeout, log)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// Client runs fail2ban-client against the server with args and returns
// its standard output; it fails the test when the client fails.
func (s *Server) Client(args ...string) string {
	s.t.Helper()
	cmd := exec.Command("fail2ban-client", append([]string{"-c", s.Dir, "-s", s.Socket}, args...)...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		s.t.Fatalf("fail2ban-client %s: %v: %s%s", strings.Join(args, " "), err, stdout.String(), stderr.String())
	}
	return stdout.String()
}

// Banned returns the Banned IP list of the jail's status.
func (s *Server) Banned(jail string) []string {
	s.t.Helper()
	for _, line := range strings.Split(s.Client("status", jail), "\n") {
		if _, list, ok := strings.Cut(line, "Banned IP list:"); ok {
			return strings.Fields(list)
		}
	}
	s.t.Fatalf("fail2ban-client status %s: no Banned IP list", jail)
	return nil
}

// Ignored returns the jail's ignoreip entries.
func (s *Server) Ignored(jail string) []string {
	s.t.Helper()
	var out []string
	for _, line := range strings.Split(s.Client("get", jail, "ignoreip"), "\n") {
		line = strings.TrimSpace(line)
		for _, p := range []string{"|- ", "`- "} {
			if rest, ok := strings.CutPrefix(line, p); ok {
				out = append(out, strings.TrimSpace(rest))
			}
		}
	}
	return out
}

// LogLine appends line to the log the jails watch.
func (s *Server) LogLine(line string) {
	s.t.Helper()
	f, err := os.OpenFile(s.LogPath, os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		s.t.Fatalf("f2btest: %v", err)
	}
	defer f.Close()
	if _, err := fmt.Fprintln(f, line); err != nil {
		s.t.Fatalf("f2btest: writing %s: %v", s.LogPath, err)
	}
}

// WaitFor is the package's WaitFor, and on a time-out it shows the end
// of the server's log, which says what the server was doing.
func (s *Server) WaitFor(what string, cond func() bool) {
	s.t.Helper()
	waitFor(s.t, what, cond, func() string {
		log, _ := os.ReadFile(s.ServerLog)
		if len(log) > 4000 {
			log = log[len(log)-4000:]
		}
		return "; the end of fail2ban-server's log:\n" + string(log)
	})
}

// WaitFor polls cond every 50ms and fails the test when it is still false
// after WaitTimeout; what names the awaited condition.
func WaitFor(t testing.TB, what string, cond func() bool) {
	t.Helper()
	waitFor(t, what, cond, func() string { return "" })
}

// waitFor polls cond (fail2ban gives no event to wait on) and fails the
// test after WaitTimeout, with what and more.
func waitFor(t testing.TB, what string, cond func() bool, more func() string) {
	t.Helper()
	deadline := time.Now().Add(WaitTimeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s%s", what, more())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

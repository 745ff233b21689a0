package main

import (
	"bytes"
	"context"
	"errors"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/creack/pty"
	"github.com/spf13/cobra"

	"github.com/tlsrpt/tlsrpt/internal/cmd/cmdutil"
	"github.com/tlsrpt/tlsrpt/internal/cmd/root"
	"github.com/tlsrpt/tlsrpt/internal/testenv"
	"github.com/tlsrpt/tlsrpt/internal/usertest"
)

// commandPaths lists every command and subcommand of tlsrpt, as typed.
func commandPaths() [][]string {
	var out [][]string
	var walk func(c *cobra.Command, path []string)
	walk = func(c *cobra.Command, path []string) {
		out = append(out, path)
		for _, sub := range c.Commands() {
			if sub.Hidden || sub.Name() == "help" {
				continue
			}
			walk(sub, append(append([]string{}, path...), sub.Name()))
		}
	}
	walk(root.NewCmdRoot(cmdutil.New(nil, nil, nil)), nil)
	return out
}

// TestHelpEverywhere runs -h and --help on every command of the real
// binary with a standard input that never closes: help must come on
// stdout, exit 0, and never wait for input.
func TestHelpEverywhere(t *testing.T) {
	bin := tlsrptBinary(t)
	paths := commandPaths()
	if len(paths) < 14 {
		t.Fatalf("only %d commands found: %v", len(paths), paths)
	}
	for _, path := range paths {
		for _, flag := range []string{"-h", "--help"} {
			args := append(append([]string{}, path...), flag)
			ctx, cancel := context.WithTimeout(context.Background(), testenv.Patience)
			cmd := exec.CommandContext(ctx, bin, args...)
			pr, pw, err := os.Pipe() // never written to, never closed while it runs
			if err != nil {
				t.Fatal(err)
			}
			cmd.Stdin = pr
			var stdout, stderr bytes.Buffer
			cmd.Stdout, cmd.Stderr = &stdout, &stderr
			err = cmd.Run()
			waited := ctx.Err() == context.DeadlineExceeded
			cancel()
			pr.Close()
			pw.Close()
			if waited {
				t.Errorf("tlsrpt %s waited on stdin", strings.Join(args, " "))
				continue
			}
			if err != nil || stderr.Len() > 0 || !strings.Contains(stdout.String(), "Usage:") {
				t.Errorf("tlsrpt %s: %v\nstdout:\n%s\nstderr:\n%s", strings.Join(args, " "), err, stdout.String(), stderr.String())
			}
		}
	}
}

// TestCompletionScripts checks that bash accepts the bash completion and
// that zsh and fish get theirs.
func TestCompletionScripts(t *testing.T) {
	bash := testenv.MustHaveExec(t, "bash", "bash")
	for _, sh := range []string{"bash", "zsh", "fish"} {
		r := tlsrptOK(t, nil, nil, "completion", sh)
		if !strings.Contains(r.stdout, "tlsrpt") || len(r.stdout) < 500 {
			t.Errorf("completion %s: %d bytes", sh, len(r.stdout))
		}
		if sh == "bash" {
			f := filepath.Join(t.TempDir(), "tlsrpt.bash")
			os.WriteFile(f, []byte(r.stdout), 0o644)
			if out, err := exec.Command(bash, "-n", f).CombinedOutput(); err != nil {
				t.Errorf("bash -n rejects the completion: %v\n%s", err, out)
			}
		}
	}
}

// TestManPages writes the manual pages and renders each with man -l.
func TestManPages(t *testing.T) {
	man := testenv.MustHaveExec(t, "man", "man-db")
	dir := t.TempDir()
	tlsrptOK(t, nil, nil, "man", dir)
	pages, _ := filepath.Glob(filepath.Join(dir, "*.1"))
	if len(pages) < 14 {
		t.Fatalf("%d pages written: %v", len(pages), pages)
	}
	for _, p := range pages {
		cmd := exec.Command(man, "-l", p)
		cmd.Env = append(os.Environ(), "MANPAGER=cat", "PAGER=cat", "MANWIDTH=100", "LANG=C.UTF-8")
		out, err := cmd.CombinedOutput()
		if err != nil || !strings.Contains(string(out), "NAME") || !strings.Contains(string(out), "SYNOPSIS") {
			t.Errorf("man -l %s: %v\n%s", filepath.Base(p), err, out)
		}
	}
	review, _ := os.ReadFile(filepath.Join(dir, "tlsrpt-review.1"))
	if !bytes.Contains(review, []byte(`\-\-since`)) {
		t.Errorf("tlsrpt-review.1 does not document --since")
	}
}

// TestFilterClosedStdout gives the filter a standard output whose reader is
// gone: exit 75 (maildrop defers the message), never death by SIGPIPE.
func TestFilterClosedStdout(t *testing.T) {
	msg, err := os.ReadFile("../../testdata/corpus/14-tlsrptdigest-google-failure.eml")
	if err != nil {
		t.Fatal(err)
	}
	pr, pw, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	pr.Close()
	cmd := exec.Command(tlsrptBinary(t), "filter", "--db", filepath.Join(t.TempDir(), "t.db"), "--resolver", "127.0.0.1:9")
	cmd.Stdin = bytes.NewReader(msg)
	cmd.Stdout = pw
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	err = cmd.Run()
	pw.Close()
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.ExitCode() != cmdutil.ExitTempFail {
		t.Fatalf("filter into a closed pipe: %v (want exit 75)\n%s", err, stderr.String())
	}
	if !strings.Contains(stderr.String(), "broken pipe") {
		t.Errorf("stderr does not say why: %q", stderr.String())
	}
}

// TestFilterTerminal refuses to wait on a terminal with no FILE, and reads
// FILE when one is given.
func TestFilterTerminal(t *testing.T) {
	ptmx, tty, err := pty.Open()
	if err != nil {
		t.Fatalf("no pseudo-terminal: %v", err)
	}
	defer ptmx.Close()
	defer tty.Close()
	bin := tlsrptBinary(t)
	ctx, cancel := context.WithTimeout(context.Background(), testenv.Patience)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, "filter", "--db", filepath.Join(t.TempDir(), "t.db"))
	cmd.Stdin = tty
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err = cmd.Run()
	var ee *exec.ExitError
	if ctx.Err() != nil || !errors.As(err, &ee) || ee.ExitCode() != 2 || !strings.Contains(stderr.String(), "tlsrpt filter FILE") {
		t.Errorf("filter on a terminal: %v, ctx %v\nstderr: %s", err, ctx.Err(), stderr.String())
	}
	cmd = exec.CommandContext(ctx, bin, "filter", "--db", filepath.Join(t.TempDir(), "t.db"), "--resolver", "127.0.0.1:9",
		"../../testdata/corpus/14-tlsrptdigest-google-failure.eml")
	cmd.Stdin = tty
	out, err := cmd.Output()
	if err != nil || !bytes.HasPrefix(out, []byte("TLS-Report-Has-Failures: 2")) {
		t.Errorf("filter FILE: %v\n%s", err, out)
	}
}

// TestSyslog sends the filter's log lines to a unix datagram socket the
// test owns, as syslog would get them: facility mail, tag tlsrpt, one
// datagram per line, hostile strings neutralised.
func TestSyslog(t *testing.T) {
	sock := filepath.Join(t.TempDir(), "log")
	conn, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: sock, Net: "unixgram"})
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	// A message whose report cannot be read: the filter logs the problem.
	msg := []byte("From: x@evil.example\nSubject: r\nMIME-Version: 1.0\nContent-Type: multipart/report; report-type=tlsrpt; boundary=b\n\n" +
		"--b\nContent-Type: text/plain\n\nhi\n--b\nContent-Type: application/tlsrpt+json; name=\"evil\x1b[2J.json\"\n\n{not json\n--b--\n")
	for _, env := range [][]string{nil, {"TLSRPT_SYSLOG=unix://" + sock}} {
		args := []string{"filter", "--db", filepath.Join(t.TempDir(), "t.db")}
		if env == nil {
			args = append(args, "--syslog=unix://"+sock)
		}
		r := tlsrpt(t, env, msg, args...)
		if r.code != 0 || r.stderr != "" {
			t.Errorf("filter %v: exit %d, stderr %q (want nothing: the lines go to syslog)", env, r.code, r.stderr)
		}
		conn.SetReadDeadline(time.Now().Add(5 * time.Second))
		buf := make([]byte, 4096)
		n, err := conn.Read(buf)
		if err != nil {
			t.Fatalf("no syslog datagram: %v", err)
		}
		line := string(buf[:n])
		// <PRI>: facility mail (2) × 8 + severity warning (4) = 20.
		if !strings.HasPrefix(line, "<20>") || !strings.Contains(line, "tlsrpt[") || !strings.Contains(line, "filter: ") {
			t.Errorf("syslog line %q: want <20>, the tlsrpt tag and the filter's line", line)
		}
		if strings.ContainsRune(line, 0x1b) || strings.Count(strings.TrimRight(line, "\n"), "\n") > 0 {
			t.Errorf("syslog line not neutralised: %q", line)
		}
	}
}

// TestReviewReadOnlyAsNobody reviews, as the unprivileged user nobody, a
// database that root owns and nobody may only read, in a folder nobody
// cannot write.
func TestReviewReadOnlyAsNobody(t *testing.T) {
	testenv.MustBeRoot(t) // to run the command as nobody
	runuser := testenv.MustHaveExec(t, "runuser", "util-linux")
	dir := usertest.SharedDir(t)
	db := filepath.Join(dir, "tlsrpt.db")
	msg, _ := os.ReadFile("../../testdata/corpus/14-tlsrptdigest-google-failure.eml")
	tlsrptOK(t, nil, msg, "filter", "--db", db, "--resolver", "127.0.0.1:9")
	os.Chmod(db, 0o644)
	bin := filepath.Join(dir, "tlsrpt")
	installBinary(t, bin)
	run := func(args ...string) (string, string, error) {
		cmd := exec.Command(runuser, append([]string{"-u", "nobody", "--", bin}, args...)...)
		cmd.Env = []string{"PATH=/usr/bin:/bin", "HOME=/nonexistent", "TLSRPT_RESOLVER=127.0.0.1:9"}
		var o, e bytes.Buffer
		cmd.Stdout, cmd.Stderr = &o, &e
		err := cmd.Run()
		return o.String(), e.String(), err
	}
	for _, args := range [][]string{
		{"review", "--db", db, "--no-bans"},
		{"review", "--db", db, "--json", "--no-bans"},
		{"stats", "--db", db},
		{"redeem", "log", "--db", db},
	} {
		out, errOut, err := run(args...)
		// The table's one hint (its address failed in a way no ban
		// explains) is expected; nothing else on stderr.
		errOut = strings.TrimPrefix(errOut, "tlsrpt: review: 1 address failed in ways no ban explains (KIND diagnose or both): run tlsrpt diagnose to probe the cause\n")
		if err != nil || errOut != "" || !strings.Contains(out, "192.0.2.1") && args[0] == "review" {
			t.Errorf("as nobody: tlsrpt %s: %v\nstdout:\n%s\nstderr:\n%s", strings.Join(args, " "), err, out, errOut)
		}
	}
	// Writing is refused with the cause and the fix, not a folder hint.
	_, errOut, err := run("import", "--db", db, "../../testdata/corpus")
	if err == nil || !strings.Contains(errOut, "cannot be written by this user") && !strings.Contains(errOut, "read-only") {
		t.Errorf("import as nobody into a read-only database: %v\n%s", err, errOut)
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 2 {
		t.Errorf("the read-only use left files in the folder: %v", entries)
	}
}

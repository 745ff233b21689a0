package main

import (
	"bufio"
	"bytes"
	"context"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/tlsrpt/tlsrpt/internal/dnstest"
	"github.com/tlsrpt/tlsrpt/internal/pgtest"
	"github.com/tlsrpt/tlsrpt/internal/testenv"
)

// readmeCommands returns the tlsrpt command lines of the README's sh
// blocks, in order ("go run ./cmd/tlsrpt" counts as tlsrpt).
func readmeCommands(t *testing.T) []string {
	t.Helper()
	f, err := os.Open("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out []string
	in := false
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := sc.Text()
		switch {
		case strings.HasPrefix(line, "```sh"):
			in = true
			continue
		case strings.HasPrefix(line, "```"):
			in = false
			continue
		}
		if !in {
			continue
		}
		for _, part := range strings.Split(line, "&&") {
			part = strings.TrimSpace(part)
			if i := strings.Index(part, "  #"); i >= 0 {
				part = strings.TrimSpace(part[:i])
			}
			part = strings.Replace(part, "go run ./cmd/tlsrpt", "tlsrpt", 1)
			if strings.HasPrefix(part, "tlsrpt ") {
				out = append(out, part)
			}
		}
	}
	return out
}

// readmeExpect is what a README example must do in the test's world.
type readmeExpect struct {
	codes  []int  // allowed exit codes
	stdout string // a regular expression the output must match, if not empty
}

// readmeWorld is what each README example is expected to do here: a home
// whose report folder holds the corpus, dnsmasq answering for google.com,
// a PostgreSQL server for migrate-db, and no fail2ban server (the chain
// tests redeem against real ones). A README example missing from this
// table fails the test: nobody would run it.
var readmeWorld = map[string]readmeExpect{
	"tlsrpt filter < testdata/corpus/14-tlsrptdigest-google-failure.eml": {[]int{0}, `^TLS-Report-Has-Failures: 2`},
	"tlsrpt review":                               {[]int{0}, `(?m)^192\.0\.2\.1 +2 +1 +Google Inc\.`},
	"tlsrpt review --since 7d --json":             {[]int{0}, `^\[`},
	"tlsrpt allowlist check 209.85.220.41":        {[]int{0}, `^209\.85\.220\.41: trusted: google\.com: 209\.85\.220\.41 passes SPF for _spf\.google\.com`},
	"tlsrpt allowlist export --format fail2ban":   {[]int{0, 1}, `ignoreip = .*209\.85\.128\.0/17`},
	"tlsrpt allowlist export --format postscreen": {[]int{0, 1}, `(?m)^209\.85\.128\.0/17 +permit`},
	"tlsrpt allowlist export --format cidr":       {[]int{0, 1}, `(?m)^209\.85\.128\.0/17$`},
	"tlsrpt redeem":                               {[]int{0}, `nothing to do`},
	"tlsrpt redeem --apply":                       {[]int{0}, `nothing to do`},
	// No fail2ban server runs here: a backend named and down is an error.
	"tlsrpt redeem --ip 192.0.2.1 --backend fail2ban --apply": {[]int{1}, ``},
	"tlsrpt redeem log":                                {[]int{0}, `the audit log is empty`},
	"tlsrpt stats --by week":                           {[]int{0}, `(?m)^PERIOD +SUCCESSFUL +FAILED`},
	"tlsrpt stats --since 30d --group reporter --json": {[]int{0}, `^\[`},
	"tlsrpt stats --by month --group domain --csv":     {[]int{0}, `^period_start,policy_domain,`},
	"tlsrpt stats --source both --by week":             {[]int{0}, `(?m)^PERIOD +reporter +SUCCESSFUL +FAILED +MESSAGES +DMARC PASS +DMARC FAIL$|^no reports recorded`},
	"tlsrpt dashboard":                                 {[]int{0}, ``},
	"tlsrpt digest":                                    {[]int{0}, `new failing address`},
	"tlsrpt prune --older-than 400d":                   {[]int{0}, `^would remove \d+ reports`},
	"tlsrpt prune --older-than 400d --apply --vacuum":  {[]int{0}, `^removed \d+ reports`},
	"tlsrpt import ~/Maildir/.TLS-Reports":             {[]int{0}, `stored \d+`},
	"tlsrpt import --spool":                            {[]int{0}, `^spool `},
	"tlsrpt migrate-db --from ~/.local/state/tlsrpt/tlsrpt.db --to 'postgres://tlsrpt_owner@db.example.com/tlsrpt?sslmode=verify-full'": {[]int{0}, `as many as the source`},
}

// TestReadmeExamples runs every example of the README, in its order,
// through the real binary, inside a network namespace of its own (so that
// the redeem examples cannot touch this machine's firewall).
func TestReadmeExamples(t *testing.T) {
	if !inChainNetns(t, "TestReadmeExamples") {
		return
	}
	cmds := readmeCommands(t)
	if len(cmds) < 15 {
		t.Fatalf("only %d examples found in the README", len(cmds))
	}
	home := t.TempDir()
	maildir := filepath.Join(home, "Maildir", ".TLS-Reports")
	makeMaildir(t, maildir)
	corpus, _ := filepath.Glob("../../testdata/corpus/*.eml")
	for i, f := range corpus {
		b, _ := os.ReadFile(f)
		os.WriteFile(filepath.Join(maildir, "cur", filepath.Base(f)+":2,S"), b, 0o600)
		_ = i
	}
	dns := dnstest.Start(t, chainRecords(t))
	pgURL := pgtest.Database(t)
	env := []string{"HOME=" + home, "TLSRPT_RESOLVER=" + dns, "XDG_STATE_HOME=", "TLSRPT_DB="}
	repo := repoPath(t, ".")
	for _, line := range cmds {
		want, ok := readmeWorld[line]
		if !ok {
			t.Errorf("README example %q is not run by this test: add it to readmeWorld", line)
			continue
		}
		args, stdin := readmeArgs(t, line, home, pgURL, repo)
		if line == "tlsrpt dashboard" {
			runDashboardExample(t, env, repo)
			continue
		}
		cmd := exec.Command(tlsrptBinary(t), args...)
		cmd.Dir = repo
		cmd.Env = append(os.Environ(), env...)
		var in []byte
		if stdin != "" {
			var err error
			if in, err = os.ReadFile(filepath.Join(repo, stdin)); err != nil {
				t.Fatal(err)
			}
		}
		r := runResult(t, cmd, in)
		okCode := false
		for _, c := range want.codes {
			okCode = okCode || c == r.code
		}
		if !okCode || !regexp.MustCompile(want.stdout).MatchString(r.stdout) {
			t.Errorf("README example %q: exit %d (want %v), stdout should match %q:\n%s\nstderr:\n%s",
				line, r.code, want.codes, want.stdout, r.stdout, r.stderr)
		}
	}
}

// readmeArgs splits an example into arguments as a shell would (single
// quotes, ~ as the home, "< FILE" as standard input), with the example's
// database URL replaced by the test server's.
func readmeArgs(t *testing.T, line, home, pgURL, repo string) (args []string, stdin string) {
	t.Helper()
	line = strings.Replace(line, "'postgres://tlsrpt_owner@db.example.com/tlsrpt?sslmode=verify-full'", pgURL, 1)
	words := regexp.MustCompile(`'[^']*'|\S+`).FindAllString(line, -1)
	for i := 1; i < len(words); i++ {
		w := strings.Trim(words[i], "'")
		switch {
		case w == "<":
			stdin = words[i+1]
			i++
			continue
		case strings.HasPrefix(w, "~/"):
			w = filepath.Join(home, w[2:])
		}
		args = append(args, w)
	}
	return args, stdin
}

// runDashboardExample starts `tlsrpt dashboard` as the README does, loads
// its page from 127.0.0.1:8461, and stops it with SIGTERM: exit 0.
func runDashboardExample(t *testing.T, env []string, repo string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*testenv.Patience)
	defer cancel()
	cmd := exec.CommandContext(ctx, tlsrptBinary(t), "dashboard")
	cmd.Dir = repo
	cmd.Env = append(os.Environ(), env...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	// Polling: the dashboard gives no other sign that it listens.
	deadline := time.Now().Add(testenv.Patience)
	for time.Now().Before(deadline) {
		if c, err := net.DialTimeout("tcp", "127.0.0.1:8461", time.Second); err == nil {
			c.Close()
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	resp, err := http.Get("http://127.0.0.1:8461/")
	if err != nil {
		t.Fatalf("README example tlsrpt dashboard: %v\n%s", err, stderr.String())
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || !bytes.Contains(body, []byte("SMTP TLS reports")) {
		t.Errorf("README example tlsrpt dashboard: %s\n%.300s", resp.Status, body)
	}
	cmd.Process.Signal(syscall.SIGTERM)
	if err := cmd.Wait(); err != nil {
		t.Errorf("README example tlsrpt dashboard: after SIGTERM: %v\n%s", err, stderr.String())
	}
}

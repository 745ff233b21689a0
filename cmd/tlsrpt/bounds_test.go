package main

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"database/sql"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/tlsrpt/tlsrpt/internal/pgtest"
	"github.com/tlsrpt/tlsrpt/internal/reporttest"
)

// Hostile lengths through the real binary on both engines:
// the same report has the same outcome on a SQLite file and on a real
// PostgreSQL server, through filter, import and serve; and the bounds on
// failure details and policies read exactly the bound.

// engines are the databases of one test: a SQLite file and a fresh
// PostgreSQL database, by engine name.
func engines(t *testing.T) map[string]string {
	return map[string]string{"sqlite": filepath.Join(t.TempDir(), "t.db"), "postgresql": pgtest.Database(t)}
}

// messageWith is a report message from submitter carrying the gzipped
// JSON report data, with a plain subject and file name.
func messageWith(submitter string, data []byte) []byte {
	var gz bytes.Buffer
	w := gzip.NewWriter(&gz)
	w.Write(data)
	w.Close()
	msg := "From: noreply-smtp-tls-reporting@example.org\nTo: tlsrpt@example.net\nSubject: Report Domain: example.net\n" +
		"Message-ID: <r1@example.org>\nTLS-Report-Domain: example.net\nTLS-Report-Submitter: " + submitter + "\n" +
		"MIME-Version: 1.0\nContent-Type: application/tlsrpt+gzip; name=\"r.json.gz\"\n" +
		"Content-Transfer-Encoding: base64\n\n" + reporttest.Base64Lines(gz.Bytes(), "\n")
	return []byte(strings.ReplaceAll(msg, "\n", "\r\n"))
}

// serveOn starts tlsrpt serve on a free port of 127.0.0.1 with db and
// returns its URL once it logs that it listens; it is stopped when the
// test ends.
func serveOn(t *testing.T, db string) string {
	t.Helper()
	cmd := exec.Command(tlsrptBinary(t), "serve", "--listen", "127.0.0.1:0", "--db", db)
	cmd.Env = append(os.Environ(), "XDG_STATE_HOME="+t.TempDir())
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	sc := bufio.NewScanner(stderr)
	addr := regexp.MustCompile(`listening.* addr=(\S+)`)
	for sc.Scan() {
		if m := addr.FindStringSubmatch(sc.Text()); m != nil {
			go io.Copy(io.Discard, stderr)
			return "http://" + m[1] + "/v1/report"
		}
	}
	t.Fatalf("serve never said it listens: %v", sc.Err())
	return ""
}

// post sends a JSON report and returns the status and the answer.
func post(t *testing.T, url string, data []byte) string {
	t.Helper()
	resp, err := http.Post(url, "application/tlsrpt+json", bytes.NewReader(data))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return fmt.Sprintf("%d %s", resp.StatusCode, body)
}

// TestHostileLengthsBothEngines sends a 20 KB report-id,
// organization-name, result-type and policy-domain, each in its own
// report, through filter, import and serve into a SQLite file and into
// PostgreSQL: every one is refused the same way on both (main stored
// them in SQLite, and PostgreSQL failed: 500 from serve, import failing),
// naming the member, quoting none of it, and nothing is stored. A
// TLS-Report-Submitter over the store's bound is refused by the store
// alike on both, before any statement.
func TestHostileLengthsBothEngines(t *testing.T) {
	dbs := engines(t)
	long := reporttest.Noise(20000)
	ok := []failure{{"192.0.2.1", 2, "certificate-expired"}}
	cases := []struct {
		member string
		data   []byte
	}{
		{"report-id", reportJSON("Org", "c@example.org", long, ok)},
		{"organization-name", reportJSON(long, "c@example.org", "id", ok)},
		{"policies[0].failure-details[1].result-type", reportJSON("Org", "c@example.org", "id", append(ok, failure{"192.0.2.2", 1, long}))},
		{"policies[0].policy.policy-domain", bytes.Replace(reportJSON("Org", "c@example.org", "id", ok), []byte(`"example.net"`), []byte(`"`+long+`"`), 1)},
	}
	urls := map[string]string{}
	for engine, db := range dbs {
		urls[engine] = serveOn(t, db)
	}
	for _, c := range cases {
		t.Run(c.member, func(t *testing.T) {
			file := writeFile(t, t.TempDir(), "r.json", string(c.data))
			seen := map[string]string{}
			for engine, db := range dbs {
				f := tlsrpt(t, nil, messageWith("example.org", c.data), "filter", "--db", db, "--resolver", "127.0.0.1:9")
				i := tlsrpt(t, nil, nil, "import", "--db", db, "--resolver", "127.0.0.1:9", file)
				s := post(t, urls[engine], c.data)
				header, _, _ := strings.Cut(f.stdout, "\r\n")
				out := fmt.Sprintf("filter: %d %s\nimport: %d %s%s\nserve: %s", f.code, header, i.code, i.stdout,
					strings.ReplaceAll(i.stderr, file, "FILE"), s)
				reason := c.member + " of 20000 bytes exceeds 255: not a real report"
				for _, want := range []string{"filter: 0 TLS-Report-Has-Failures: unreadable report", "import: 1 ", "serve: 400 "} {
					if !strings.Contains(out, want) {
						t.Errorf("%s: want %q:\n%.2000s", engine, want, out)
					}
				}
				if strings.Count(out, reason) != 3 {
					t.Errorf("%s: want %q from filter, import and serve:\n%.2000s", engine, reason, out)
				}
				if strings.Contains(out+f.stderr, long[:64]) || strings.Contains(out+f.stderr, "SQLSTATE") {
					t.Errorf("%s: the name or a database error shows:\n%.2000s", engine, out)
				}
				seen[engine] = out
			}
			if seen["sqlite"] != seen["postgresql"] {
				t.Errorf("the engines differ:\nSQLite:\n%s\nPostgreSQL:\n%s", seen["sqlite"], seen["postgresql"])
			}
		})
	}
	t.Run("TLS-Report-Submitter", func(t *testing.T) {
		for engine, db := range dbs {
			f := tlsrpt(t, nil, messageWith(reporttest.Noise(2000), reportJSON("Org", "c@example.org", "sub", ok)), "filter", "--db", db, "--resolver", "127.0.0.1:9")
			if f.code != 0 || !strings.Contains(f.stderr, "reporter (authenticated domain, TLS-Report-Submitter or From domain) of 2000 bytes exceeds 800") ||
				strings.Contains(f.stderr, "SQLSTATE") {
				t.Errorf("%s: exit %d\n%s", engine, f.code, f.stderr)
			}
		}
	})
	for engine, db := range dbs {
		if rows := reviewJSON(t, nil, "--db", db, "--no-bans", "--resolver", "127.0.0.1:9"); len(rows) != 0 {
			t.Errorf("%s: stored %v", engine, rows)
		}
	}
}

// TestMigrateDBLeavesOutUnindexable copies a SQLite store that an older
// tlsrpt let take a 20 KB report-id into PostgreSQL: migrate-db copies
// the rest and lists the report it left out with the reason, in one line
// that quotes the report-id cut short; it once failed as a whole.
func TestMigrateDBLeavesOutUnindexable(t *testing.T) {
	dst := pgtest.Database(t)
	src := filepath.Join(t.TempDir(), "old.db")
	dir := t.TempDir()
	writeFile(t, dir, "a.json", string(reportJSON("Org", "c@example.org", "keep", []failure{{"192.0.2.1", 2, "certificate-expired"}})))
	writeFile(t, dir, "b.json", string(reportJSON("Org", "c@example.org", "hostile", []failure{{"192.0.2.2", 5, "certificate-expired"}})))
	tlsrptOK(t, nil, nil, "import", "--db", src, "--resolver", "127.0.0.1:9", dir)
	db, err := sql.Open("sqlite3", src)
	if err != nil {
		t.Fatal(err)
	}
	long := reporttest.Noise(20000)
	if _, err := db.Exec("UPDATE reports SET report_id = ? WHERE report_id = 'hostile'", long); err != nil {
		t.Fatal(err)
	}
	db.Close()
	r := tlsrptOK(t, nil, nil, "migrate-db", "--from", src, "--to", dst)
	line := regexp.MustCompile(`(?m)^left out report \d+ \(organization-name "Org", report-id "[^"]{1,120}"\): report-id of 20000 bytes exceeds 800.*$`)
	if !line.MatchString(r.stdout) || strings.Contains(r.stdout, long[:200]) ||
		!strings.Contains(r.stdout, "reports          1 rows copied, as many as the source less 1 of the reports left out") {
		t.Errorf("migrate-db said:\n%.3000s", r.stdout)
	}
	rows := reviewJSON(t, nil, "--db", dst, "--no-bans", "--resolver", "127.0.0.1:9")
	if len(rows) != 1 || rows["192.0.2.1"].FailedSessions != 2 {
		t.Errorf("review after migrate-db: %v", rows)
	}
}

// TestDetailsPoliciesBoundsCLI imports reports of exactly the documented
// bounds, 50,000 failure details and 10,000 policies: both are stored;
// one more of either is refused naming its own flag. A report of exactly
// 50,000 details was once refused, its policy counted with its details.
// --max-policies is taken by filter, import and serve alike.
func TestDetailsPoliciesBoundsCLI(t *testing.T) {
	db := filepath.Join(t.TempDir(), "t.db")
	dir := t.TempDir()
	details := func(id string, n int) string {
		return `{"organization-name":"Org","date-range":{"start-datetime":"2026-11-21T00:00:00Z","end-datetime":"2026-11-21T23:59:59Z"},` +
			`"report-id":"` + id + `","policies":[{"policy":{"policy-type":"sts","policy-domain":"example.net"},` +
			`"summary":{"total-successful-session-count":0,"total-failure-session-count":` + fmt.Sprint(n) + `},"failure-details":[` +
			strings.TrimSuffix(strings.Repeat(`{"result-type":"certificate-expired","sending-mta-ip":"192.0.2.9","failed-session-count":1},`, n), ",") + `]}]}`
	}
	policies := func(id string, n int) string {
		return `{"organization-name":"Org","report-id":"` + id + `","policies":[` +
			strings.TrimSuffix(strings.Repeat(`{"policy":{"policy-type":"no-policy-found","policy-domain":"example.net"},"summary":{"total-successful-session-count":1}},`, n), ",") + `]}`
	}
	for _, c := range []struct {
		name, data string
		code       int
		want       string
	}{
		{"details-50000.json", details("d0", 50_000), 0, "read 1, stored 1,"},
		{"details-50001.json", details("d1", 50_001), 1, "more than 50000 failure details in one input (--max-details)"},
		{"policies-10000.json", policies("p0", 10_000), 0, "read 1, stored 1,"},
		{"policies-10001.json", policies("p1", 10_001), 1, "more than 10000 policies in one input (--max-policies)"},
	} {
		r := tlsrpt(t, nil, nil, "import", "--db", db, writeFile(t, dir, c.name, c.data))
		if r.code != c.code || !strings.Contains(r.stdout+r.stderr, c.want) {
			t.Errorf("import %s: exit %d, want %d and %q\n%s%s", c.name, r.code, c.code, c.want, r.stdout, r.stderr)
		}
	}
	if rows := reviewJSON(t, nil, "--db", db, "--no-bans", "--resolver", "127.0.0.1:9"); rows["192.0.2.9"].FailedSessions != 50_000 {
		t.Errorf("review after importing 50,000 details: %+v", rows["192.0.2.9"])
	}

	two := []byte(policies("p2", 2))
	f := tlsrpt(t, nil, messageWith("example.org", two), "filter", "--db", db, "--max-policies", "1", "--resolver", "127.0.0.1:9")
	if !strings.HasPrefix(f.stdout, "TLS-Report-Has-Failures: unreadable report: ") || !strings.Contains(f.stdout, "more than 1 policies in one input (--max-policies)") {
		t.Errorf("filter --max-policies 1: %.300s", f.stdout)
	}
	i := tlsrpt(t, nil, nil, "import", "--db", db, "--max-policies", "1", writeFile(t, dir, "two.json", string(two)))
	if i.code != 1 || !strings.Contains(i.stderr, "(--max-policies)") {
		t.Errorf("import --max-policies 1: exit %d %s", i.code, i.stderr)
	}
	if h := tlsrptOK(t, nil, nil, "serve", "--help"); !strings.Contains(h.stdout, "--max-policies") {
		t.Errorf("serve --help:\n%s", h.stdout)
	}
}

package web

import (
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/crypto/bcrypt"

	"github.com/tlsrpt/tlsrpt/internal/httpserve/servetest"
)

// alice is the password file line of alice, whose password is s3cret.
func alice(t testing.TB) string {
	t.Helper()
	hash, err := bcrypt.GenerateFromPassword([]byte("s3cret"), bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	return "alice:" + string(hash) + "\n"
}

// passwordFile writes content to a new file of t's temporary directory
// and returns its path.
func passwordFile(t testing.TB, content string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "htpasswd")
	if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// loadAuth loads the password file of content, failing t when LoadAuth
// refuses it.
func loadAuth(t testing.TB, content string) *Auth {
	t.Helper()
	a, err := LoadAuth(passwordFile(t, content))
	if err != nil {
		t.Fatal(err)
	}
	return a
}

func TestAuth(t *testing.T) {
	a := loadAuth(t, "# operators\n"+alice(t))
	srv := httptest.NewServer(a.Wrap(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { fmt.Fprint(w, "in") })))
	defer srv.Close()
	for _, tc := range []struct {
		user, pass string
		set        bool
		want       int
	}{
		{"alice", "s3cret", true, 200},
		{"alice", "wrong", true, 401},
		{"mallory", "s3cret", true, 401},
		{"", "", false, 401},
	} {
		req, _ := http.NewRequest("GET", srv.URL, nil)
		if tc.set {
			req.SetBasicAuth(tc.user, tc.pass)
		}
		resp, _ := servetest.Do(t, http.DefaultClient, req)
		if resp.StatusCode != tc.want {
			t.Errorf("%s:%s: %s, want %d", tc.user, tc.pass, resp.Status, tc.want)
		}
		if tc.want == 401 && !strings.HasPrefix(resp.Header.Get("WWW-Authenticate"), "Basic ") {
			t.Errorf("401 without a Basic challenge")
		}
	}
	for name, content := range map[string]string{
		"md5":   "bob:$apr1$abc$0123456789abcdefghijkl\n",
		"sha1":  "bob:{SHA}W6ph5Mm5Pz8GgiULbPgzG37mj9g=\n",
		"crypt": "bob:rl0pDgyk5nFBA\n",
		"empty": "# nobody\n",
		"bad":   "no colon here\n",
	} {
		p := passwordFile(t, content)
		if _, err := LoadAuth(p); !errors.Is(err, ErrAuthFile) || !strings.Contains(err.Error(), p) {
			t.Errorf("%s file: %v, want ErrAuthFile naming the file", name, err)
		}
	}
}

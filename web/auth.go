package web

import (
	"bufio"
	"fmt"
	"io"
	"net/http"
	"net/netip"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/tlsrpt/tlsrpt/internal/clientip"
	"github.com/tlsrpt/tlsrpt/internal/pkgerr"
	"golang.org/x/crypto/bcrypt"
)

// ErrAuthFile is returned for a password file the dashboard cannot use.
var ErrAuthFile = pkgerr.New("web", "bad password file")

// maxAuthFile bounds what LoadAuth reads.
const maxAuthFile = 1 << 20

// Auth checks HTTP basic authentication against htpasswd entries with
// bcrypt hashes.
type Auth struct {
	users map[string][]byte // user → bcrypt hash
	dummy []byte            // hash compared for unknown users, so they take as long
	tries *limiter          // wrong passwords per client
	who   clientip.Resolver // who the client is: the peer, or whom a trusted proxy names
}

// TrustProxy makes the password limit count per client as the reverse
// proxies in nets name it in header (X-Forwarded-For or Forwarded), as
// serve --trust-proxy does: from a peer outside nets the client is the
// peer, whatever its headers say. Without it, every client behind a
// proxy is the proxy, and one client's wrong passwords lock out all.
func (a *Auth) TrustProxy(nets []netip.Prefix, header string) {
	a.who = clientip.Resolver{Trust: nets, Header: header}
}

// LoadAuth reads an htpasswd file (htpasswd -B -c FILE USER): USER:HASH
// lines, "#" comments. Only bcrypt hashes ($2a$, $2b$, $2y$) are taken;
// MD5 ($apr1$), SHA1 ({SHA}) and crypt are refused with the line, because
// they are cheap to break.
func LoadAuth(path string) (*Auth, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrAuthFile, err)
	}
	defer f.Close()
	a, err := parseAuth(io.LimitReader(f, maxAuthFile), path)
	if err != nil {
		return nil, err
	}
	return a, nil
}

func parseAuth(r io.Reader, name string) (*Auth, error) {
	a := &Auth{users: map[string][]byte{}, tries: newLimiter(time.Now)}
	sc := bufio.NewScanner(r)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		user, hash, ok := strings.Cut(line, ":")
		if !ok || user == "" {
			return nil, fmt.Errorf("%w: %s:%d: want USER:HASH (htpasswd -B)", ErrAuthFile, name, n)
		}
		if _, err := bcrypt.Cost([]byte(hash)); err != nil || !strings.HasPrefix(hash, "$2") {
			return nil, fmt.Errorf("%w: %s:%d: the hash of %q is not bcrypt: make it with htpasswd -B", ErrAuthFile, name, n, user)
		}
		a.users[user] = []byte(hash)
		if a.dummy == nil {
			a.dummy = []byte(hash)
		}
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("%w: %s: %w", ErrAuthFile, name, err)
	}
	if len(a.users) == 0 {
		return nil, fmt.Errorf("%w: %s: no user (htpasswd -B -c %s USER)", ErrAuthFile, name, name)
	}
	return a, nil
}

// Wrap asks for a user and password before h: 401 with a Basic challenge
// until they match an entry. A client (an address; for IPv6 its /64)
// whose wrong passwords used up its tries gets 429, without a check,
// until its next try is due. Behind a reverse proxy, the client is the
// one the proxy names when TrustProxy trusts it.
func (a *Auth) Wrap(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if a.refuse(w, r) {
			return
		}
		h.ServeHTTP(w, r)
	})
}

// refuse answers a request without the right credentials and returns
// true; it returns false when the request may go on.
func (a *Auth) refuse(w http.ResponseWriter, r *http.Request) bool {
	if _, _, ok := r.BasicAuth(); !ok {
		challenge(w)
		return true
	}
	client := a.who.Of(r).Key
	if wait := a.tries.take(client); wait > 0 {
		secs := int(wait.Seconds()) + 1
		w.Header().Set("Retry-After", strconv.Itoa(secs))
		http.Error(w, fmt.Sprintf("tlsrpt dashboard: too many wrong passwords from your address: try again in %d s", secs), http.StatusTooManyRequests)
		return true
	}
	if !a.ok(r) {
		challenge(w)
		return true
	}
	a.tries.give(client)
	return false
}

func challenge(w http.ResponseWriter) {
	w.Header().Set("WWW-Authenticate", `Basic realm="tlsrpt dashboard", charset="UTF-8"`)
	http.Error(w, "tlsrpt dashboard: user and password needed", http.StatusUnauthorized)
}

// ok checks the request's credentials. An unknown user costs one bcrypt
// comparison too, so timing does not tell which users exist.
func (a *Auth) ok(r *http.Request) bool {
	user, pass, ok := r.BasicAuth()
	if !ok {
		return false
	}
	hash, known := a.users[user]
	if !known {
		hash = a.dummy
	}
	match := bcrypt.CompareHashAndPassword(hash, []byte(pass)) == nil
	return known && match
}

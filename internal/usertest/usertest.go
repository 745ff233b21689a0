// Package usertest gives the tests that run commands as other users (as
// root) what they share: accounts made for a test and removed after it,
// the ids of an existing account, and folders every user may enter.
package usertest

import (
	"crypto/rand"
	"encoding/hex"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"testing"

	"github.com/tlsrpt/tlsrpt/internal/testenv"
)

// User is an account: its name, numeric ids and home folder.
type User struct {
	Name     string
	UID, GID int
	Home     string
}

// Lookup finds the account name; it fails t when there is none.
func Lookup(t testing.TB, name string) *User {
	t.Helper()
	u, err := user.Lookup(name)
	if err != nil {
		t.Fatalf("no user %s: %v", name, err)
	}
	uid, _ := strconv.Atoi(u.Uid)
	gid, _ := strconv.Atoi(u.Gid)
	return &User{Name: name, UID: uid, GID: gid, Home: u.HomeDir}
}

// New makes a system account named prefix and eight random hex digits,
// with the nologin shell, a group of its own and the home folder home,
// made 0700 and owned by it. When t ends the account and its group are
// deleted, with a mail spool file a failed run left. It needs root,
// useradd and userdel (testenv skips or fails without them).
func New(t testing.TB, prefix, home string) *User {
	t.Helper()
	testenv.MustBeRoot(t)
	for _, tool := range []string{"useradd", "userdel"} {
		testenv.MustHaveExec(t, tool, "passwd")
	}
	b := make([]byte, 4)
	rand.Read(b)
	name := prefix + hex.EncodeToString(b)
	out, err := exec.Command("useradd", "--system", "--shell", "/usr/sbin/nologin",
		"--home-dir", home, "--no-create-home", "--user-group", name).CombinedOutput()
	if err != nil {
		t.Fatalf("useradd %s: %v\n%s", name, err, out)
	}
	t.Cleanup(func() {
		if out, err := exec.Command("userdel", name).CombinedOutput(); err != nil {
			t.Errorf("userdel %s: %v\n%s", name, err, out)
		}
		os.Remove(filepath.Join("/var/mail", name)) // only if a failed run left one
	})
	u := Lookup(t, name)
	if err := os.Mkdir(home, 0o700); err != nil {
		t.Fatal(err)
	}
	u.Home = home
	u.Chown(t, home)
	return u
}

// Chown gives paths to u; it fails t on the first it cannot.
func (u *User) Chown(t testing.TB, paths ...string) {
	t.Helper()
	for _, p := range paths {
		if err := os.Chown(p, u.UID, u.GID); err != nil {
			t.Fatal(err)
		}
	}
}

// Command runs name with args as u, with u's groups, through setpriv.
func (u *User) Command(name string, args ...string) *exec.Cmd {
	return exec.Command("setpriv", append([]string{"--reuid=" + strconv.Itoa(u.UID), "--regid=" + strconv.Itoa(u.GID),
		"--init-groups", "--", name}, args...)...)
}

// SharedDir makes a temporary folder that every user may enter and read
// (0755; t.TempDir's parent lets only its owner in), removed when t ends.
func SharedDir(t testing.TB) string {
	t.Helper()
	dir, err := os.MkdirTemp("", "tlsrpt-shared-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	return dir
}

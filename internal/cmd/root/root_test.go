package root

import (
	"bytes"
	"errors"
	"fmt"
	"testing"

	"github.com/spf13/cobra"

	"github.com/tlsrpt/tlsrpt/internal/cmd/cmdutil"
	"github.com/tlsrpt/tlsrpt/store"
	"github.com/tlsrpt/tlsrpt/web"
)

// TestPrintError prints errors as Main does: the package's name left out
// after the command's when the package wrote it, the fix once, secrets
// masked; a name at the start that no package wrote stays.
func TestPrintError(t *testing.T) {
	review := &cobra.Command{Use: "review"}
	(&cobra.Command{Use: "tlsrpt"}).AddCommand(review)
	for _, tc := range []struct {
		name string
		err  error
		want string
	}{
		{"store sentinel", fmt.Errorf("%w: held for 5s", store.ErrBusy),
			"tlsrpt: review: database is busy: held for 5s (another tlsrpt holds the database; try again)\n"},
		{"web", web.CheckListen(":8461", false),
			`tlsrpt: review: refusing to listen on ":8461": that is every interface; the dashboard shows who is banned and why: listen on 127.0.0.1, or give --auth FILE (htpasswd -B)` + "\n"},
		{"a file named store", fmt.Errorf("store: %w", errors.New("no such file or directory")),
			"tlsrpt: review: store: no such file or directory\n"},
		{"secret", errors.New("opening postgres://u:hunter2@db/x: refused"),
			"tlsrpt: review: opening postgres://u:xxxxx@db/x: refused\n"},
	} {
		var b bytes.Buffer
		printError(&b, review, cmdutil.Explain(tc.err))
		if b.String() != tc.want {
			t.Errorf("%s:\n got %q\nwant %q", tc.name, b.String(), tc.want)
		}
	}
}

package importcmd

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/tlsrpt/tlsrpt/internal/cmd/cmdtest"
	"github.com/tlsrpt/tlsrpt/report"
)

// TestFlags: import's command line into Options, and the refusals.
func TestFlags(t *testing.T) {
	cmdtest.Table(t, NewCmdImport, []string{"a.json"}, []cmdtest.Case[Options]{
		{Args: nil, Want: func(o *Options) { o.Paths = []string{"a.json"} }},
		{Args: []string{"Maildir", "--progress", "never"}, Want: func(o *Options) { o.Paths, o.Progress = []string{"a.json", "Maildir"}, "never" }},
		{Args: []string{"--max-message", "1000", "--max-decompressed", "2000", "--max-details", "3", "--max-policies", "4"},
			Want: func(o *Options) {
				o.Paths, o.Limits = []string{"a.json"}, report.Limits{MaxMessage: 1000, MaxDecompressed: 2000, MaxDetails: 3, MaxPolicies: 4}
			}},
		{Args: []string{"--spool", "--spool-dir", "/var/spool/x"}, Want: func(o *Options) { o.Paths, o.Spool, o.SpoolDir = []string{"a.json"}, true, "/var/spool/x" }},
		{Args: []string{"--max-details", "lots"}, Refused: []string{"--max-details", "tlsrpt import --help"}},
	})
	e := cmdtest.New(t)
	if o, err := cmdtest.Parse(e.F, NewCmdImport, "--spool"); err != nil || !o.Spool || len(o.Paths) != 0 {
		t.Errorf("--spool alone: %+v, %v", o, err)
	}
	_, err := cmdtest.Parse(e.F, NewCmdImport)
	cmdtest.Refused(t, err, "no PATH given", "--spool")
}

// TestRunRefuses: values the flag parser takes but import cannot use are
// refused with one line naming the flag, before anything is read or the
// database created.
func TestRunRefuses(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--max-details", "0"}, "--max-details 0 must be above 0; leave it out for the default"},
		{[]string{"--max-policies", "-1"}, "--max-policies -1 must be above 0"},
		{[]string{"--max-decompressed", "0"}, "--max-decompressed 0 must be above 0"},
		{[]string{"--max-dmarc-records", "-1"}, "--max-dmarc-records -1 must be above 0; leave it out for the default"},
		{[]string{"--progress", "sometimes"}, `--progress "sometimes": want auto, always or never`},
	} {
		e := cmdtest.New(t)
		cmdtest.Refused(t, cmdtest.Run(t, e, NewCmdImport, Run, append(tc.args, "../../../testdata/corpus")...), tc.want)
		if _, err := os.Stat(e.DB); err == nil {
			t.Errorf("%v: the database was created", tc.args)
		}
	}
}

// TestRunStores: options to output. A report file is stored once; the
// second import finds it a duplicate.
func TestRunStores(t *testing.T) {
	e := cmdtest.New(t)
	file, err := filepath.Abs("../../../testdata/corpus/05-parsedmarc-google-failures-2024.json")
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"read 1, stored 1, duplicates 0, not reports 0, errors 0\n", "read 1, stored 0, duplicates 1, not reports 0, errors 0\n"} {
		e.Out.Reset()
		if err := cmdtest.Run(t, e, NewCmdImport, Run, "--progress", "never", file); err != nil || e.Out.String() != want {
			t.Errorf("import: %v, %q; want %q", err, e.Out.String(), want)
		}
	}
}

package cmdutil

import (
	"context"
	"errors"
	"testing"

	"github.com/spf13/cobra"
)

// TestRunE: a refusal of prepare stops the command before runF and run;
// runF, when given, gets the options instead of run; run gets a context
// even when the command was never given one.
func TestRunE(t *testing.T) {
	opts := &struct{ n int }{}
	refused := errors.New("refused")
	run := func(ctx context.Context, o *struct{ n int }) error {
		if ctx == nil {
			t.Error("run got a nil context")
		}
		o.n += 10
		return nil
	}
	runF := func(o *struct{ n int }) error { o.n++; return nil }
	prepare := func(*cobra.Command, []string) error { return refused }
	if err := RunE(opts, prepare, runF, run)(&cobra.Command{}, nil); err != refused || opts.n != 0 {
		t.Errorf("a refusal: %v, ran %d", err, opts.n)
	}
	if err := RunE(opts, nil, runF, run)(&cobra.Command{}, nil); err != nil || opts.n != 1 {
		t.Errorf("with runF: %v, %d", err, opts.n)
	}
	if err := RunE(opts, nil, nil, run)(&cobra.Command{}, nil); err != nil || opts.n != 11 {
		t.Errorf("without runF: %v, %d", err, opts.n)
	}
}

package cmdutil

import (
	"context"

	"github.com/spf13/cobra"
)

// RunE is the RunE of a command built the cli/cli way. prepare, when not
// nil, takes the arguments into opts and refuses what the command line
// alone decides; then runF, when a test swapped it in, gets the options
// (arguments to options), else run does the work with the command's
// context, never nil (options to output).
func RunE[O any](opts *O, prepare func(*cobra.Command, []string) error, runF func(*O) error, run func(context.Context, *O) error) func(*cobra.Command, []string) error {
	return func(cmd *cobra.Command, args []string) error {
		if prepare != nil {
			if err := prepare(cmd, args); err != nil {
				return err
			}
		}
		if runF != nil {
			return runF(opts)
		}
		ctx := cmd.Context()
		if ctx == nil {
			ctx = context.Background()
		}
		return run(ctx, opts)
	}
}

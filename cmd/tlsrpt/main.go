// Command tlsrpt turns SMTP TLS reports (RFC 8460) into advice for mail
// operators and, when asked, into unbans of senders too big to block.
//
// Run "tlsrpt --help" for the commands, "man tlsrpt" once installed.
package main

import (
	"os"

	"github.com/tlsrpt/tlsrpt/internal/cmd/root"
)

func main() { os.Exit(root.Main(os.Args[1:], os.Stdin, os.Stdout, os.Stderr)) }

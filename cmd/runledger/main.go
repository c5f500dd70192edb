// Command runledger reads run ledgers and run reports: `runledger report run`,
// `runledger runs list` and `runledger tail`. It reads the ledger directory
// directly, or asks a collector's reportapi extension with --server.
//
// Exit codes: 0 ok, 1 error, 2 usage, 3 run not found.
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := Run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

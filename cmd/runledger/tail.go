package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"maps"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/spf13/cobra"

	"github.com/runledger/runledger/internal/ledger"
	"github.com/runledger/runledger/internal/reportclient"
	"github.com/runledger/runledger/internal/stepschema"
	"github.com/runledger/runledger/internal/termsafe"
)

// maxTailDetail is how many runes of a step's detail tail prints.
const maxTailDetail = 300

type tailFlags struct {
	common
	follow bool
	poll   time.Duration
}

func newTailCmd(stdout, stderr io.Writer) *cobra.Command {
	var f tailFlags
	cmd := &cobra.Command{
		Use:   "tail <run_id>",
		Short: "Print a run's steps as they are written",
		Long: `Print a run's ledger lines in human-readable form, then follow the file
for new lines (--follow, the default) until the run.end step arrives or the
command is interrupted. A run that does not exist yet is waited for when
following; without --follow it exits with code 3.

With --server the run is read from reportapi's ledger route, which is asked
again every --poll (1s unless --poll is given) while following; each ask
downloads the run's whole ledger, and only the new lines are printed.`,
		Example: `  runledger tail r-42
  runledger tail r-42 --follow=false --ledger-dir /var/lib/runledger/runs
  runledger tail r-42 --server http://localhost:4320`,
		Args: exactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return runTail(cmd, args[0], &f, stdout, stderr)
		},
	}
	f.register(cmd, true)
	cmd.Flags().BoolVarP(&f.follow, "follow", "f", true, "keep printing new lines until run.end")
	cmd.Flags().DurationVar(&f.poll, "poll", 200*time.Millisecond, "how often to look for new lines when following (1s with --server unless given)")
	return cmd
}

func runTail(cmd *cobra.Command, id string, f *tailFlags, stdout, stderr io.Writer) error {
	if f.poll <= 0 {
		return usageError("--poll must be positive")
	}
	ctx := cmd.Context()
	if f.server != "" && !cmd.Flags().Changed("poll") {
		f.poll = serverPoll
	}
	wait := func() bool {
		select {
		case <-ctx.Done():
			return false
		case <-time.After(f.poll):
			return true
		}
	}
	if f.server != "" {
		return tailServer(cmd, id, f, wait, stdout, stderr)
	}
	if err := f.checkLedgerDir(cmd); err != nil {
		return err
	}
	var path string
	for waited := false; ; waited = true {
		p, err := ledger.FindRun(f.ledgerDir, id)
		if err != nil {
			return fmt.Errorf("search ledger directory %q: %w", f.ledgerDir, err)
		}
		if p != "" {
			path = p
			break
		}
		if !f.follow {
			return notFoundError("run %q not found in %s", id, f.ledgerDir)
		}
		if !waited {
			fmt.Fprintf(stderr, "waiting for run %q in %s\n", id, f.ledgerDir)
		}
		if !wait() {
			return nil
		}
	}
	var off int64
	ended := false
	for {
		if fi, err := os.Stat(path); err == nil && fi.Size() < off {
			fmt.Fprintln(stderr, "ledger file shrank; reading it again from the start")
			off = 0
		}
		st, err := ledger.ReadFileFrom(path, off, func(l *ledger.Line) error {
			if l.RunID != id {
				return nil
			}
			if _, err := io.WriteString(stdout, formatLine(l)); err != nil {
				return err
			}
			if l.Kind == stepschema.KindRunEnd {
				ended = true
			}
			return nil
		})
		if err != nil && !errors.Is(err, os.ErrNotExist) {
			return err
		}
		off = st.Offset
		if st.Skipped > 0 {
			fmt.Fprintf(stderr, "skipped %d unreadable lines\n", st.Skipped)
		}
		if !f.follow || ended || !wait() {
			return nil
		}
	}
}

// serverPoll is tail's default poll interval with --server: every poll
// downloads the run's whole ledger.
const serverPoll = time.Second

// tailServer follows a run through reportapi's ledger route. The route
// serves the run's file from the start each time; the file only grows, so
// the first printed lines of every answer are skipped.
func tailServer(cmd *cobra.Command, id string, f *tailFlags, wait func() bool, stdout, stderr io.Writer) error {
	c, err := f.client(0)
	if err != nil {
		return err
	}
	ctx := cmd.Context()
	printed, skippedSeen, waited := 0, 0, false
	for {
		n, ended, skipped, err := tailFetch(ctx, c, id, printed, stdout)
		switch {
		case errors.Is(err, reportclient.ErrRunNotFound):
			// A server without the ledger route answers 404 for every run;
			// tell that apart from a run that is not there (yet).
			if _, rerr := c.Report(ctx, id, reportclient.TimelinePage{Limit: 1}); rerr == nil {
				return fmt.Errorf("%s serves the report of run %q but not its ledger (GET /reports/runs/{run_id}/ledger); is it an older reportapi?",
					c.BaseURL(), id)
			}
			if !f.follow {
				return serverError(err)
			}
			if !waited {
				fmt.Fprintf(stderr, "waiting for run %q on %s\n", id, c.BaseURL())
				waited = true
			}
		case err != nil:
			if ctx.Err() != nil {
				return nil
			}
			return serverError(err)
		default:
			if n < printed {
				fmt.Fprintln(stderr, "ledger shrank; printing it again from the start")
				printed = 0
				continue
			}
			printed = n
			if skipped > skippedSeen {
				fmt.Fprintf(stderr, "skipped %d unreadable lines\n", skipped-skippedSeen)
			}
			skippedSeen = skipped
			if ended {
				return nil
			}
		}
		if !f.follow || !wait() {
			return nil
		}
	}
}

// tailFetch reads the run's ledger from the server and prints its lines
// after the first skip. It returns the number of the run's lines, whether
// run.end is among them and the unreadable lines.
func tailFetch(ctx context.Context, c *reportclient.Client, id string, skip int, stdout io.Writer) (n int, ended bool, skipped int, err error) {
	body, err := c.Ledger(ctx, id)
	if err != nil {
		return 0, false, 0, err
	}
	defer body.Close()
	st, err := ledger.Read(body, 0, func(l *ledger.Line) error {
		if l.RunID != id {
			return nil
		}
		n++
		if l.Kind == stepschema.KindRunEnd {
			ended = true
		}
		if n <= skip {
			return nil
		}
		_, werr := io.WriteString(stdout, formatLine(l))
		return werr
	})
	if err != nil {
		return n, ended, st.Skipped, fmt.Errorf("read the ledger of run %q from %s: %w", id, c.BaseURL(), err)
	}
	return n, ended, st.Skipped, nil
}

// formatLine renders one step for humans:
// time  #seq  kind  STATUS  duration  [code]  sizes  resources  service  detail
// Producer text is escaped (termsafe.Line) before it is padded or cut.
func formatLine(l *ledger.Line) string {
	safe := termsafe.Line
	var b strings.Builder
	b.WriteString(l.TS.UTC().Format("2006-01-02T15:04:05.000Z"))
	fmt.Fprintf(&b, "  #%-4d %-20s %-9s", l.Seq, safe(l.Kind), strings.ToUpper(safe(l.Status)))
	if l.DurationMS != nil {
		b.WriteString(" " + strconv.FormatFloat(*l.DurationMS, 'f', -1, 64) + "ms")
	}
	if l.ErrorCode != "" {
		b.WriteString(" [" + safe(l.ErrorCode) + "]")
	}
	for _, k := range slices.Sorted(maps.Keys(l.Sizes)) {
		b.WriteString(" " + safe(k) + "=" + strconv.FormatFloat(l.Sizes[k], 'f', -1, 64))
	}
	for _, k := range slices.Sorted(maps.Keys(l.Resources)) {
		b.WriteString(" " + safe(k) + "=" + safe(l.Resources[k]))
	}
	if l.Service != "" {
		b.WriteString(" (" + safe(l.Service) + ")")
	}
	if l.Detail != "" {
		// Line breaks read better as spaces on one line than as \n.
		d := safe(strings.NewReplacer("\r\n", " ", "\n", " ").Replace(l.Detail))
		if utf8.RuneCountInString(d) > maxTailDetail {
			d = string([]rune(d)[:maxTailDetail]) + "..."
		}
		b.WriteString("  " + d)
	}
	b.WriteByte('\n')
	return b.String()
}

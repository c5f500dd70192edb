package main

import (
	"regexp"
	"strings"
	"testing"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
)

// flagInHelp matches a long flag named in help text: --ledger-dir,
// --follow=false.
var flagInHelp = regexp.MustCompile(`(?:^|[^\w-])--([a-z][a-z0-9-]*)`)

// TestHelpMatchesFlags: every flag a command's --help names is one it (or,
// for a command that only holds subcommands, one of them) accepts, and
// every flag it accepts is in its --help.
func TestHelpMatchesFlags(t *testing.T) {
	var walk func(cmd *cobra.Command)
	walk = func(cmd *cobra.Command) {
		path := strings.Fields(cmd.CommandPath())[1:]
		code, help, errOut := runCLI(t, append(path, "--help")...)
		if code != ExitOK {
			t.Errorf("%s --help: exit %d stderr %q", cmd.CommandPath(), code, errOut)
		}
		for _, m := range flagInHelp.FindAllStringSubmatch(help, -1) {
			if !accepts(cmd, m[1]) {
				t.Errorf("%s --help names --%s, which it does not accept", cmd.CommandPath(), m[1])
			}
		}
		cmd.Flags().VisitAll(func(f *pflag.Flag) {
			if !strings.Contains(help, "--"+f.Name) {
				t.Errorf("%s accepts --%s, which its --help does not name", cmd.CommandPath(), f.Name)
			}
		})
		for _, sub := range cmd.Commands() {
			if sub.IsAvailableCommand() {
				walk(sub)
			}
		}
	}
	walk(NewRootCmd(nil, nil))
}

// accepts reports whether cmd, or one of its subcommands, takes --name.
func accepts(cmd *cobra.Command, name string) bool {
	cmd.InitDefaultHelpFlag()
	if cmd.Flags().Lookup(name) != nil || cmd.InheritedFlags().Lookup(name) != nil {
		return true
	}
	for _, sub := range cmd.Commands() {
		if accepts(sub, name) {
			return true
		}
	}
	return false
}

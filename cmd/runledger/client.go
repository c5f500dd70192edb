package main

import (
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/runledger/runledger/internal/reportclient"
)

// client returns the reportapi client of --server and --token, built the
// same way for every command, the TUI included. timeout 0 is the default.
func (c *common) client(timeout time.Duration) (*reportclient.Client, error) {
	cl, err := reportclient.New(c.server, reportclient.Options{Token: c.token, Timeout: timeout})
	if err != nil {
		return nil, usageError("--server: %v", err)
	}
	return cl, nil
}

// serverError gives an error from reportapi its exit code: an unknown run is
// not found, a rejected request a usage error.
func serverError(err error) error {
	var se *reportclient.StatusError
	switch {
	case errors.Is(err, reportclient.ErrRunNotFound):
		return &exitError{code: ExitNotFound, err: err}
	case errors.Is(err, reportclient.ErrUnauthorized):
		return fmt.Errorf("%w; pass --token or set RUNLEDGER_TOKEN", err)
	case errors.As(err, &se) && se.StatusCode == http.StatusBadRequest:
		return &exitError{code: ExitUsage, err: err}
	}
	return err
}

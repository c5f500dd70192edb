package main

import (
	"errors"
	"fmt"
	"io"
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

// printRaw asks the server with get and prints its answer as it is: the
// --server path of the commands that only relay a rendering.
func (c *common) printRaw(stdout io.Writer, get func(*reportclient.Client) ([]byte, error)) error {
	cl, err := c.client(0)
	if err != nil {
		return err
	}
	raw, err := get(cl)
	if err != nil {
		return serverError(err)
	}
	_, err = stdout.Write(raw)
	return err
}

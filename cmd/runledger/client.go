package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// apiClient talks to a reportapi extension.
type apiClient struct {
	base  *url.URL
	token string
	hc    *http.Client
}

func newClient(server, token string) (*apiClient, error) {
	u, err := url.Parse(server)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, usageError("--server %q must be an http(s) URL such as http://localhost:4320", server)
	}
	return &apiClient{base: u, token: token, hc: &http.Client{Timeout: 60 * time.Second}}, nil
}

// runURL is <server>/reports/runs/<escaped id><suffix>?query.
func (c *apiClient) runURL(id, suffix string, q url.Values) string {
	u := *c.base
	prefix := strings.TrimRight(c.base.Path, "/")
	rawPrefix := strings.TrimRight(c.base.EscapedPath(), "/")
	u.Path = prefix + "/reports/runs/" + id + suffix
	u.RawPath = rawPrefix + "/reports/runs/" + url.PathEscape(id) + suffix
	u.RawQuery = q.Encode()
	return u.String()
}

func (c *apiClient) listURL(q url.Values) string {
	u := *c.base
	u.Path = strings.TrimRight(c.base.Path, "/") + "/reports/runs"
	u.RawPath = ""
	u.RawQuery = q.Encode()
	return u.String()
}

// do sends the request and returns the body of a 200 response; other
// statuses become errors with the server's {"error": ...} message and the
// matching exit code (404 -> not found, 400 -> usage).
func (c *apiClient) do(ctx context.Context, method, rawURL, accept string) ([]byte, error) {
	req, err := http.NewRequestWithContext(ctx, method, rawURL, nil)
	if err != nil {
		return nil, err
	}
	if accept != "" {
		req.Header.Set("Accept", accept)
	}
	if c.token != "" {
		req.Header.Set("Authorization", "Bearer "+c.token)
	}
	resp, err := c.hc.Do(req)
	if err != nil {
		return nil, fmt.Errorf("ask reportapi: %w", err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 1<<30))
	if err != nil {
		return nil, fmt.Errorf("read reportapi response: %w", err)
	}
	if resp.StatusCode == http.StatusOK {
		return body, nil
	}
	msg := strings.TrimSpace(string(body))
	var e struct {
		Error string `json:"error"`
	}
	if json.Unmarshal(body, &e) == nil && e.Error != "" {
		msg = e.Error
	}
	switch resp.StatusCode {
	case http.StatusNotFound:
		return nil, notFoundError("%s", msg)
	case http.StatusBadRequest:
		return nil, usageError("%s", msg)
	}
	return nil, fmt.Errorf("reportapi answered %s: %s", resp.Status, msg)
}

package reportclient

import (
	"context"
	"fmt"
	"net/url"
)

// RawInsights returns GET /reports/insights with the query q (since,
// until, service, kind) as the server renders it in format, for printing
// verbatim.
func (c *Client) RawInsights(ctx context.Context, q url.Values, format Format) ([]byte, error) {
	accept := "application/json"
	switch format {
	case FormatJSON:
	case FormatMarkdown:
		accept = "text/markdown"
	default:
		return nil, fmt.Errorf("insights format %q must be %q or %q", format, FormatJSON, FormatMarkdown)
	}
	v := url.Values{}
	for k, vs := range q {
		v[k] = vs
	}
	v.Set("format", string(format))
	body, err := c.getAll(ctx, c.endpoint(v, false, "reports", "insights"), accept)
	if err != nil {
		return nil, err
	}
	return body.data, nil
}

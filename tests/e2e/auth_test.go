package e2e

import (
	"net/http"
	"testing"
)

// reportapi behind the bearertokenauth extension, configured the way a user
// would: overlays on config.yaml through the collector's yaml: config source.
func TestReportAPIWithBearerTokenAuth(t *testing.T) {
	c := startCollectorArgs(t, "", []string{
		"--config", "yaml:extensions::bearertokenauth::token: s3cret",
		"--config", "yaml:extensions::reportapi::auth::authenticator: bearertokenauth",
		"--config", "yaml:service::extensions: [healthcheckv2, bearertokenauth, reportapi]",
	})
	for _, tc := range []struct {
		header []string
		want   int
	}{
		{nil, http.StatusUnauthorized},
		{[]string{"Authorization", "Bearer wrong"}, http.StatusUnauthorized},
		{[]string{"Authorization", "Bearer s3cret"}, http.StatusOK},
	} {
		if status, body := c.get("/reports/runs", tc.header...); status != tc.want {
			t.Errorf("GET /reports/runs with %v: HTTP %d %s, want %d", tc.header, status, body, tc.want)
		}
	}
}

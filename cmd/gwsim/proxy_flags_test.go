package main

import (
	"strings"
	"testing"
)

// TestProxyFlagValidation (issue 8.7): statuses a gateway cannot answer
// with, and a negative shutdown grace, are refused before any work, in one
// line, with exit 2.
func TestProxyFlagValidation(t *testing.T) {
	base := []string{"proxy", "--listen", "127.0.0.1:0", "--admin-listen", "off", "--backends", "127.0.0.1:1"}
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--timeout-status", "100"}, "timeout status must be an error status 400..599, got 100"},
		{[]string{"--timeout-status", "200"}, "timeout status must be an error status 400..599, got 200"},
		{[]string{"--timeout-status", "600"}, "timeout status must be an error status 400..599, got 600"},
		{[]string{"--shutdown-grace", "-1s"}, "--shutdown-grace must be >= 0, got -1s"},
		{[]string{"--client-request-timeout", "-1s"}, "client request timeout must be >= 0, got -1s"},
		{[]string{"--access-log-format", "w3c"}, `--access-log-format: unknown format "w3c" (want zap or appgw-v2)`},
	} {
		t.Run(strings.Join(tc.args, " "), func(t *testing.T) {
			code, out, errOut := runCLI(t, append(append([]string(nil), base...), tc.args...)...)
			if code != 2 || out != "" || !strings.Contains(errOut, tc.want) || strings.Count(errOut, "\n") != 1 {
				t.Fatalf("exit %d stdout %q stderr %q, want 2 and one line with %q", code, out, errOut, tc.want)
			}
		})
	}
}

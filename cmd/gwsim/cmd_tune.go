package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"strings"
	"sync/atomic"
	"time"

	"github.com/spf13/pflag"
)

func cmdTune(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	c := newCommand("tune", "--backend ADMIN_URL|--gateway ADMIN_URL [flags]",
		`Read or change a running backend's or gateway's settings through its admin API
(--admin-listen), while it serves. Durations are real-world: the process applies
its own --time-scale. Changes apply to idle periods and requests that start
afterwards; nothing in flight is dropped. With no change flag, prints the
settings in force.`,
		`  gwsim tune --backend http://127.0.0.1:9081 --keepalive-timeout 120s
  gwsim tune --backend http://127.0.0.1:9081 --fault hang:10s:30s      # a hang starting in 10 s
  gwsim tune --gateway http://127.0.0.1:9080 --backend-idle-timeout 4s --retry idempotent
  gwsim tune --gateway http://127.0.0.1:9080                            # print the settings in force
`)
	fs := c.fs
	backendURL := fs.String("backend", "", "admin URL of a gwsim backend")
	gatewayURL := fs.String("gateway", "", "admin URL of a gwsim proxy")
	fs.Duration("keepalive-timeout", 0, "backend: keep-alive timeout (0 = off)")
	fs.Bool("idle-forever", false, "backend: keep idle connections without limit")
	fs.Int("max-keepalive-requests", 0, "backend: requests per connection (0 = unlimited)")
	fs.String("close", "", "backend: close style fin, rst or linger")
	fs.Duration("delay", 0, "backend: delay before every response")
	fs.Int("status", 0, "backend: response status")
	faults := fs.StringArray("fault", nil, "backend: fault window KIND:START_IN:DURATION from now (repeatable; replaces the windows; --fault none clears them)")
	fs.Duration("backend-idle-timeout", 0, "gateway: backend idle timeout (0 = no limit)")
	fs.Duration("request-timeout", 0, "gateway: request time-out")
	fs.Int("timeout-status", 0, "gateway: status on a time-out")
	fs.Bool("timeout-try-other-member", false, "gateway: after a time-out, try the next member once")
	fs.String("retry", "", "gateway: retry policy none, idempotent or reset-before-request")
	if code, done := c.parse(args, stdout, stderr); done {
		return code
	}
	usage := func(msg string) int { code, _ := c.usageError(stderr, msg); return code }
	if fs.NArg() > 0 {
		return usage(fmt.Sprintf("unexpected argument %q", fs.Arg(0)))
	}
	if (*backendURL == "") == (*gatewayURL == "") {
		return usage("give exactly one of --backend and --gateway")
	}
	target, own := *backendURL, map[string]string{
		"keepalive-timeout": "keepalive_timeout", "idle-forever": "idle_forever", "max-keepalive-requests": "max_keepalive_requests",
		"close": "close", "delay": "delay", "status": "status", "fault": "faults"}
	other := []string{"backend-idle-timeout", "request-timeout", "timeout-status", "timeout-try-other-member", "retry"}
	if *gatewayURL != "" {
		target, own = *gatewayURL, map[string]string{"backend-idle-timeout": "backend_idle_timeout", "request-timeout": "request_timeout",
			"timeout-status": "timeout_status", "timeout-try-other-member": "timeout_try_other_member", "retry": "retry"}
		other = []string{"keepalive-timeout", "idle-forever", "max-keepalive-requests", "close", "delay", "status", "fault"}
	}
	for _, name := range other {
		if fs.Changed(name) {
			return usage(fmt.Sprintf("--%s does not apply to this target", name))
		}
	}
	change := map[string]any{}
	var bad error
	fs.Visit(func(f *pflag.Flag) {
		key, ok := own[f.Name]
		if !ok {
			return
		}
		switch f.Value.Type() {
		case "duration", "string":
			change[key] = f.Value.String()
		case "int":
			var n int
			fmt.Sscan(f.Value.String(), &n)
			change[key] = n
		case "bool":
			change[key] = f.Value.String() == "true"
		}
	})
	if fs.Changed("fault") {
		windows := []map[string]string{}
		for _, f := range *faults {
			if f == "none" {
				continue
			}
			fw, err := parseFault(f)
			if err != nil {
				bad = err
				break
			}
			windows = append(windows, map[string]string{"kind": string(fw.Kind), "start_in": fw.Start.String(), "duration": fw.Duration.String()})
		}
		change["faults"] = windows
	}
	if bad != nil {
		return usage(bad.Error())
	}
	url := strings.TrimSuffix(target, "/") + "/admin/config"
	method, body := http.MethodGet, []byte(nil)
	if len(change) > 0 {
		method = http.MethodPatch
		body, _ = json.Marshal(change)
	}
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, method, url, bytes.NewReader(body))
	if err != nil {
		return usage(err.Error())
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := doAdmin(req)
	if err != nil {
		fmt.Fprintf(stderr, "gwsim tune: %v\n", err)
		return exitRuntime
	}
	defer resp.Body.Close()
	out, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	var e struct{ Error string }
	_ = json.Unmarshal(out, &e)
	switch {
	case resp.StatusCode == http.StatusOK:
		stdout.Write(out)
		return exitOK
	case resp.StatusCode == http.StatusBadRequest:
		fmt.Fprintf(stderr, "gwsim tune: rejected: %s\n", e.Error)
		return exitUsage
	case e.Error != "":
		fmt.Fprintf(stderr, "gwsim tune: %s: %s: %s\n", url, resp.Status, oneLine(e.Error))
		return exitRuntime
	}
	fmt.Fprintf(stderr, "gwsim tune: %s: %s\n", url, resp.Status)
	return exitRuntime
}

// doAdmin sends req to an admin API. The API accepts only a Host that
// names its listen address (no DNS rebinding), so when the URL names the
// host (backend1 on a compose network, localhost), doAdmin connects first
// and sends the IP address it reached as Host: the address the API sees
// the connection arrive on. An IP address in the URL is sent as it is.
func doAdmin(req *http.Request) (*http.Response, error) {
	host := req.URL.Hostname()
	if _, err := netip.ParseAddr(host); err == nil || req.URL.Scheme != "http" {
		return http.DefaultClient.Do(req)
	}
	port := req.URL.Port()
	if port == "" {
		port = "80"
	}
	var d net.Dialer
	conn, err := d.DialContext(req.Context(), "tcp", net.JoinHostPort(host, port))
	if err != nil {
		return nil, err
	}
	if ap, err := netip.ParseAddrPort(conn.RemoteAddr().String()); err == nil {
		req.Host = net.JoinHostPort(ap.Addr().Unmap().String(), port)
	}
	var used atomic.Bool
	tr := &http.Transport{DisableKeepAlives: true, DialContext: func(context.Context, string, string) (net.Conn, error) {
		if used.Swap(true) {
			return nil, errors.New("admin API: the connection was already used")
		}
		return conn, nil
	}}
	defer tr.CloseIdleConnections()
	resp, err := (&http.Client{Transport: tr}).Do(req)
	if !used.Load() {
		conn.Close()
	}
	return resp, err
}

// oneLine keeps a server's message on one line.
func oneLine(s string) string {
	return strings.NewReplacer("\r", " ", "\n", " ").Replace(s)
}

func cmdHealth(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	c := newCommand("health", "URL", "GET URL and exit 0 when it answers 200, 1 otherwise: a HEALTHCHECK for the distroless image, which has no shell or curl.",
		"  gwsim health http://127.0.0.1:9081/healthz\n")
	timeout := c.fs.Duration("timeout", 5*time.Second, "give up after this")
	if code, done := c.parse(args, stdout, stderr); done {
		return code
	}
	if c.fs.NArg() != 1 {
		code, _ := c.usageError(stderr, "give one URL")
		return code
	}
	ctx, cancel := context.WithTimeout(ctx, *timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, c.fs.Arg(0), nil)
	if err != nil {
		code, _ := c.usageError(stderr, err.Error())
		return code
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		fmt.Fprintf(stderr, "gwsim health: %v\n", err)
		return exitRuntime
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		fmt.Fprintf(stderr, "gwsim health: %s\n", resp.Status)
		return exitRuntime
	}
	fmt.Fprintln(stdout, "ok")
	return exitOK
}

package proxy

import (
	"context"
	"errors"
	"io"
	"net/http"
	"os"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestPresets: every gateway preset validates, is named as its key, and
// names a source for every value gwsim presets prints; the famous values
// are what FACTS.md says.
func TestPresets(t *testing.T) {
	names := ProfileNames()
	want := []string{"appgw-v1", "appgw-v2", "aws-alb", "aws-clb", "caddy", "cloudflare", "envoy", "gcp-global", "haproxy", "nginx", "nginx-pooling", "traefik"}
	if strings.Join(names, ",") != strings.Join(want, ",") {
		t.Fatalf("ProfileNames() = %v", names)
	}
	fields := []string{fClientKA, fIdle, fRequest, fClientReq, fTimeout, fOther, fRace, fRetry, fOrder, fClientGone, fReuse, fSilent}
	for _, n := range names {
		p, err := LookupProfile(n)
		if err != nil {
			t.Fatal(err)
		}
		if err := p.Validate(); err != nil || p.Name != n || p.RaceStatus == 0 {
			t.Errorf("%s: %v, name %q, race status %d", n, err, p.Name, p.RaceStatus)
		}
		src := ProfileSources(n)
		got := map[string]bool{}
		for _, s := range src {
			if s.Text == "" || got[s.Field] {
				t.Errorf("%s: empty or repeated source for %s", n, s.Field)
			}
			got[s.Field] = true
		}
		for _, f := range fields {
			if !got[f] {
				t.Errorf("%s: no source for %s", n, f)
			}
		}
	}
	for _, tc := range []struct {
		name           string
		clientKA, idle time.Duration
		race, timeout  int
		retry          RetryPolicy
	}{
		{"appgw-v1", 120 * time.Second, 0, 502, 502, RetryNone},
		{"appgw-v2", 75 * time.Second, 60 * time.Second, 502, 504, RetryNone},
		{"aws-alb", 60 * time.Second, 60 * time.Second, 502, 504, RetryNone},
		{"aws-clb", 60 * time.Second, 60 * time.Second, 504, 504, RetryNone},
		{"gcp-global", 610 * time.Second, 600 * time.Second, 502, 502, RetryNone},
		{"nginx", 75 * time.Second, noReuse, 502, 504, RetryIdempotent},
		{"nginx-pooling", 75 * time.Second, 60 * time.Second, 502, 504, RetryIdempotent},
		{"haproxy", 50 * time.Second, 0, 502, 504, RetryResetBeforeRequest},
		{"envoy", time.Hour, time.Hour, 503, 504, RetryNone},
		{"traefik", 180 * time.Second, 90 * time.Second, 502, 504, RetryIdempotent},
		{"caddy", 5 * time.Minute, 2 * time.Minute, 502, 504, RetryIdempotent},
		{"cloudflare", 400 * time.Second, 900 * time.Second, 520, 524, RetryNone},
	} {
		p, _ := LookupProfile(tc.name)
		if p.ClientKeepAlive != tc.clientKA || p.BackendIdleTimeout != tc.idle || p.RaceStatus != tc.race || p.TimeoutStatus != tc.timeout || p.Retry != tc.retry {
			t.Errorf("%s = %+v", tc.name, p)
		}
	}
	if _, err := LookupProfile("appgw-v3"); err == nil || !strings.Contains(err.Error(), "aws-alb") {
		t.Errorf("unknown preset error: %v", err)
	}
}

// TestScaledKeepsLimits: scaling never turns a limit (nginx's 1 ns "no
// reuse") into no limit.
func TestScaledKeepsLimits(t *testing.T) {
	p, _ := LookupProfile("nginx")
	if s := p.Scaled(0.001); s.BackendIdleTimeout != time.Nanosecond || s.RequestTimeout != 60*time.Millisecond {
		t.Fatalf("scaled %+v", s)
	}
	v1, _ := LookupProfile("appgw-v1")
	if s := v1.Scaled(0.01); s.BackendIdleTimeout != 0 {
		t.Fatalf("V1 no limit scaled to %s", s.BackendIdleTimeout)
	}
}

// TestClassify is the table of classify, the one place failures become
// statuses: the race answers the profile's race status.
func TestClassify(t *testing.T) {
	v1, _ := LookupProfile("appgw-v1")
	v2, _ := LookupProfile("appgw-v2")
	envoy, _ := LookupProfile("envoy")
	clb, _ := LookupProfile("aws-clb")
	cf, _ := LookupProfile("cloudflare")
	zero := v2
	zero.RaceStatus = 0
	const window = 20 * time.Millisecond
	race := func() error {
		return &RoundTripError{Op: "read", Reused: true, RequestWritten: true, Elapsed: time.Millisecond, Err: io.EOF}
	}
	for _, tc := range []struct {
		name       string
		p          Profile
		err        error
		clientGone bool
		want       Failure
	}{
		{"race v2", v2, race(), false, Failure{502, ErrorInfoClosedConnection, CauseKeepaliveRace}},
		{"race v1", v1, race(), false, Failure{502, ErrorInfoClosedConnection, CauseKeepaliveRace}},
		{"race envoy 503", envoy, race(), false, Failure{503, ErrorInfoClosedConnection, CauseKeepaliveRace}},
		{"race clb 504", clb, race(), false, Failure{504, ErrorInfoClosedConnection, CauseKeepaliveRace}},
		{"race cloudflare 520", cf, race(), false, Failure{520, ErrorInfoClosedConnection, CauseKeepaliveRace}},
		{"race status unset", zero, race(), false, Failure{502, ErrorInfoClosedConnection, CauseKeepaliveRace}},
		{"rst race", v2, &RoundTripError{Op: "write", Reused: true, Elapsed: time.Millisecond, Err: syscall.ECONNRESET}, false, Failure{502, ErrorInfoClosedConnection, CauseKeepaliveRace}},
		{"reused but late", envoy, &RoundTripError{Op: "read", Reused: true, Elapsed: time.Second, Err: io.EOF}, false, Failure{502, ErrorInfoClosedConnection, CauseBackendResetMidRequest}},
		{"fresh conn reset", v2, &RoundTripError{Op: "read", Elapsed: time.Millisecond, Err: syscall.ECONNRESET}, false, Failure{502, ErrorInfoClosedConnection, CauseBackendResetMidRequest}},
		{"malformed", v2, &RoundTripError{Op: "read", ResponseStarted: true, Err: errors.New("malformed HTTP response")}, false, Failure{502, ErrorInfoClosedConnection, CauseBackendMalformed}},
		{"timeout v1", v1, context.DeadlineExceeded, false, Failure{502, ErrorInfoTimedOut, CauseBackendTimeout}},
		{"timeout v2", v2, &RoundTripError{Op: "read", Err: os.ErrDeadlineExceeded}, false, Failure{504, ErrorInfoTimedOut, CauseBackendTimeout}},
		{"timeout cloudflare", cf, context.DeadlineExceeded, false, Failure{524, ErrorInfoTimedOut, CauseBackendTimeout}},
		{"refused", v2, &RoundTripError{Op: "dial", Err: syscall.ECONNREFUSED}, false, Failure{502, ErrorInfoNoLive, CauseConnectRefused}},
		{"dial failed", v2, &RoundTripError{Op: "dial", Err: errors.New("no route")}, false, Failure{502, ErrorInfoNoLive, CauseConnectFailed}},
		{"no live", v2, errNoLiveBackend, false, Failure{502, ErrorInfoNoLive, CauseNoLiveBackend}},
		{"client gone v2", v2, race(), true, Failure{499, ErrorInfoClientClosed, CauseClientClosed}},
		{"client gone v1", v1, race(), true, Failure{0, ErrorInfoClientClosed, CauseClientClosed}},
		{"other error", v2, errors.New("boom"), false, Failure{http.StatusBadGateway, ErrorInfoClosedConnection, CauseBackendResetMidRequest}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := classify(tc.p, tc.err, tc.clientGone, window); got != tc.want {
				t.Errorf("classify = %+v, want %+v", got, tc.want)
			}
		})
	}
}

package load

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

func TestRunCancel(t *testing.T) {
	// A server per case: a request the previous case sent just before its
	// cancel can reach a shared server after that case ended, and count
	// as an arrival of the next (seen beside 12 busy loops).
	newServer := func(t *testing.T) (*httptest.Server, chan struct{}) {
		arrived := make(chan struct{}, 100)
		release := make(chan struct{})
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			arrived <- struct{}{}
			select {
			case <-release:
			case <-r.Context().Done():
			}
		}))
		t.Cleanup(srv.Close)
		t.Cleanup(func() { close(release) })
		return srv, arrived
	}

	ms := time.Millisecond
	tests := []struct {
		name     string
		cfg      Config
		wait     int // requests to see at the server before cancelling
		requests int // exact Requests expected; 0 = at least wait
	}{
		{"closed", Config{Workers: 4, Duration: time.Minute}, 4, 4},
		{"constant", Config{Pattern: PatternConstant, Rate: 200, Duration: time.Minute}, 3, 0},
		{"poisson", Config{Pattern: PatternPoisson, Rate: 200, Requests: 1e6}, 3, 0},
		{"gap-sweep", Config{Pattern: PatternGapSweep, GapTo: 10 * ms, GapStep: ms, Passes: 1000}, 1, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv, arrived := newServer(t)
			cfg := tt.cfg
			cfg.Target = srv.URL
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			type out struct {
				res *Result
				err error
			}
			done := make(chan out, 1)
			go func() {
				res, err := Run(ctx, cfg, newTransport(t), nil)
				done <- out{res, err}
			}()
			for range tt.wait {
				select {
				case <-arrived:
				case <-time.After(10 * time.Second):
					t.Fatal("requests did not reach the server")
				}
			}
			cancel()
			var o out
			select {
			case o = <-done:
			case <-time.After(10 * time.Second):
				t.Fatal("Run did not return after cancel")
			}
			if o.err != nil {
				t.Fatalf("Run: %v", o.err)
			}
			res := o.res
			checkSums(t, res)
			if res.Requests < tt.wait || (tt.requests > 0 && res.Requests != tt.requests) {
				t.Errorf("Requests = %d, want %d (at least %d)", res.Requests, tt.requests, tt.wait)
			}
			if res.ClientErrors[KindCanceled] != res.Requests || len(res.Status) != 0 {
				t.Errorf("Status = %v, ClientErrors = %v, want all %d canceled", res.Status, res.ClientErrors, res.Requests)
			}
		})
	}
}

// panicRT fails the test if Run sends anything.
type panicRT struct{ t *testing.T }

func (p panicRT) RoundTrip(*http.Request) (*http.Response, error) {
	p.t.Error("RoundTrip called")
	return nil, context.Canceled
}

func TestRunRejectsBadInput(t *testing.T) {
	tests := []struct {
		name    string
		cfg     Config
		rt      http.RoundTripper
		wantErr string
	}{
		{"invalid config", Config{Target: "http://h/", Pattern: PatternConstant, Rate: -5, Requests: 1}, panicRT{t}, "load: rate must be > 0 for pattern constant, got -5"},
		{"no bound", Config{Target: "http://h/"}, panicRT{t}, "load: duration or requests must be set"},
		{"nil round tripper", Config{Target: "http://h/", Requests: 1}, nil, "load: round tripper is nil"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res, err := Run(context.Background(), tt.cfg, tt.rt, nil)
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) || res != nil {
				t.Errorf("Run = %v, %v, want nil and error containing %q", res, err, tt.wantErr)
			}
		})
	}
}

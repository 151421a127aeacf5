package load

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

// countingServer is a loopback backend that counts what it receives and
// answers 502 to every third request when fail3rd is set.
type countingServer struct {
	*httptest.Server
	fail3rd bool

	n, gets, posts, bad502 atomic.Int64
	mu                     sync.Mutex
	problems               []string
}

func newCountingServer(t *testing.T, fail3rd bool) *countingServer {
	t.Helper()
	s := &countingServer{fail3rd: fail3rd}
	s.Server = httptest.NewServer(http.HandlerFunc(s.serve))
	t.Cleanup(s.Close)
	return s
}

func (s *countingServer) problem(format string, args ...any) {
	s.mu.Lock()
	s.problems = append(s.problems, fmt.Sprintf(format, args...))
	s.mu.Unlock()
}

func (s *countingServer) serve(w http.ResponseWriter, r *http.Request) {
	n := s.n.Add(1)
	if ua := r.Header.Get("User-Agent"); ua != "gwsim-load" {
		s.problem("request %d: User-Agent %q", n, ua)
	}
	body, err := io.ReadAll(r.Body)
	if err != nil {
		s.problem("request %d: read body: %v", n, err)
	}
	switch r.Method {
	case http.MethodGet:
		s.gets.Add(1)
		if len(body) != 0 {
			s.problem("GET %d: %d body bytes", n, len(body))
		}
	case http.MethodPost:
		s.posts.Add(1)
		if len(body) != 777 || r.ContentLength != 777 {
			s.problem("POST %d: %d body bytes, Content-Length %d, want 777", n, len(body), r.ContentLength)
		}
		if ct := r.Header.Get("Content-Type"); ct != "application/octet-stream" {
			s.problem("POST %d: Content-Type %q", n, ct)
		}
	default:
		s.problem("request %d: method %s", n, r.Method)
	}
	if s.fail3rd && n%3 == 0 {
		s.bad502.Add(1)
		http.Error(w, "bad gateway", http.StatusBadGateway)
		return
	}
	io.WriteString(w, strings.Repeat("y", 4096))
}

func newTransport(t *testing.T) *http.Transport {
	tr := &http.Transport{}
	t.Cleanup(tr.CloseIdleConnections)
	return tr
}

// checkSums fails unless every started request is counted exactly once.
func checkSums(t *testing.T, res *Result) {
	t.Helper()
	sum := 0
	for _, n := range res.Status {
		sum += n
	}
	for _, n := range res.ClientErrors {
		sum += n
	}
	if sum != res.Requests {
		t.Errorf("statuses %v + client errors %v = %d, want Requests = %d", res.Status, res.ClientErrors, sum, res.Requests)
	}
}

func TestRunPatterns(t *testing.T) {
	ms := time.Millisecond
	tests := []struct {
		name string
		cfg  Config
		want int // requests
	}{
		{"closed", Config{Workers: 3, Requests: 30}, 30},
		{"closed with think", Config{Pattern: PatternClosed, Workers: 2, Think: ms, Requests: 12}, 12},
		{"constant", Config{Pattern: PatternConstant, Rate: 2000, Requests: 30}, 30},
		{"constant by duration", Config{Pattern: PatternConstant, Rate: 1000, Duration: 40 * ms}, 40},
		{"poisson", Config{Pattern: PatternPoisson, Rate: 2000, Requests: 30, Seed: 7}, 30},
		{"gap-sweep", Config{Pattern: PatternGapSweep, GapFrom: ms, GapTo: 5 * ms, GapStep: ms, Passes: 2}, 1 + 2*5},
		{"gap-sweep count bound", Config{Pattern: PatternGapSweep, GapTo: 5 * ms, GapStep: ms, Passes: 9, Requests: 8}, 8},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := newCountingServer(t, true)
			cfg := tt.cfg
			cfg.Target = srv.URL + "/load"
			cfg.PostRatio = 0.5
			cfg.BodySize = 777
			res, err := Run(context.Background(), cfg, newTransport(t), nil)
			if err != nil {
				t.Fatalf("Run: %v", err)
			}
			checkSums(t, res)
			if res.Requests != tt.want || int(srv.n.Load()) != tt.want {
				t.Errorf("Requests = %d, server saw %d, want %d", res.Requests, srv.n.Load(), tt.want)
			}
			if res.Status[http.StatusOK]+res.Status[http.StatusBadGateway] != tt.want || len(res.ClientErrors) != 0 {
				t.Errorf("Status = %v, ClientErrors = %v (%v), want only 200 and 502", res.Status, res.ClientErrors, res.Errors)
			}
			if got, want := res.Status[http.StatusBadGateway], tt.want/3; got != want || int(srv.bad502.Load()) != want {
				t.Errorf("502s = %d, server sent %d, want %d", got, srv.bad502.Load(), want)
			}
			wantPosts := 0
			for i := range tt.want {
				if isPost(cfg.withDefaults().Seed, i, cfg.PostRatio) {
					wantPosts++
				}
			}
			if int(srv.posts.Load()) != wantPosts || int(srv.gets.Load()) != tt.want-wantPosts {
				t.Errorf("server saw %d POST and %d GET, want %d and %d", srv.posts.Load(), srv.gets.Load(), wantPosts, tt.want-wantPosts)
			}
			if res.First502 < 0 || res.First502 > res.Elapsed {
				t.Errorf("First502 = %v, want within [0, %v]", res.First502, res.Elapsed)
			}
			if res.LatencyP50 <= 0 || res.LatencyP50 > res.LatencyP90 || res.LatencyP90 > res.LatencyP99 || res.LatencyP99 > res.LatencyMax {
				t.Errorf("latencies p50 %v p90 %v p99 %v max %v, want 0 < p50 <= p90 <= p99 <= max",
					res.LatencyP50, res.LatencyP90, res.LatencyP99, res.LatencyMax)
			}
			if cfg.Pattern == PatternGapSweep {
				if len(res.Gaps502) != res.Status[http.StatusBadGateway] {
					t.Errorf("Gaps502 = %v, want one per 502 (%d)", res.Gaps502, res.Status[http.StatusBadGateway])
				}
				for _, g := range res.Gaps502 {
					if g < cfg.GapFrom {
						t.Errorf("gap before a 502 = %v, want >= %v", g, cfg.GapFrom)
					}
				}
			} else if len(res.Gaps502) != 0 {
				t.Errorf("Gaps502 = %v outside gap-sweep", res.Gaps502)
			}
			srv.mu.Lock()
			defer srv.mu.Unlock()
			for _, p := range srv.problems {
				t.Error("server:", p)
			}
		})
	}
}

func TestRunClosedDuration(t *testing.T) {
	srv := newCountingServer(t, false)
	d := 100 * time.Millisecond
	res, err := Run(context.Background(), Config{Target: srv.URL, Workers: 2, Duration: d}, newTransport(t), nil)
	if err != nil {
		t.Fatalf("Run: %v", err)
	}
	checkSums(t, res)
	if res.Requests == 0 || res.Status[http.StatusOK] != res.Requests || int(srv.n.Load()) != res.Requests {
		t.Errorf("Requests = %d, Status = %v, server saw %d", res.Requests, res.Status, srv.n.Load())
	}
	if res.Elapsed < d || res.First502 != -1 || res.Late != 0 {
		t.Errorf("Elapsed = %v (want >= %v), First502 = %v (want -1), Late = %d (want 0)", res.Elapsed, d, res.First502, res.Late)
	}
}

// fakeRT fails by turns: io.EOF, a wrapped ECONNRESET, a 200 whose body
// breaks with io.ErrUnexpectedEOF, and a good 200.
type fakeRT struct{ n atomic.Int64 }

type brokenBody struct{ sent bool }

func (b *brokenBody) Read(p []byte) (int, error) {
	if !b.sent {
		b.sent = true
		return copy(p, "partial"), nil
	}
	return 0, io.ErrUnexpectedEOF
}
func (b *brokenBody) Close() error { return nil }

func (f *fakeRT) RoundTrip(req *http.Request) (*http.Response, error) {
	resp := &http.Response{StatusCode: http.StatusOK, Header: http.Header{}, Request: req}
	switch f.n.Add(1) % 4 {
	case 1:
		return nil, io.EOF
	case 2:
		return nil, fmt.Errorf("pool: write request: %w",
			&net.OpError{Op: "write", Net: "tcp", Err: os.NewSyscallError("write", syscall.ECONNRESET)})
	case 3:
		resp.Body = &brokenBody{}
	default:
		resp.Body = io.NopCloser(strings.NewReader("ok"))
	}
	return resp, nil
}

func TestRunClientErrors(t *testing.T) {
	res, err := Run(context.Background(), Config{Target: "http://gwsim.invalid/", Workers: 2, Requests: 12, PostRatio: 0.5}, &fakeRT{}, nil)
	if err != nil {
		t.Fatalf("Run: %v", err)
	}
	checkSums(t, res)
	if res.Requests != 12 || res.Status[http.StatusOK] != 3 || len(res.Status) != 1 {
		t.Errorf("Requests = %d, Status = %v, want 12 and {200:3}", res.Requests, res.Status)
	}
	if want := map[string]int{KindEOF: 6, KindReset: 3}; fmt.Sprint(res.ClientErrors) != fmt.Sprint(want) {
		t.Errorf("ClientErrors = %v, want %v", res.ClientErrors, want)
	}
	if len(res.Errors) != 9 {
		t.Fatalf("len(Errors) = %d, want 9", len(res.Errors))
	}
	for _, e := range res.Errors {
		if (e.Method != http.MethodGet && e.Method != http.MethodPost) || e.Err == "" || e.At < 0 || e.At > res.Elapsed {
			t.Errorf("bad RequestError %+v", e)
		}
		if e.Kind == KindReset && !strings.Contains(e.Err, "connection reset") {
			t.Errorf("reset error text %q", e.Err)
		}
	}
}

func TestRunRefusedAndTimeout(t *testing.T) {
	// A port nobody listens on: bind one, then close it.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closedURL := "http://" + ln.Addr().String() + "/"
	ln.Close()

	release := make(chan struct{})
	hang := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-release:
		case <-r.Context().Done():
		}
	}))
	t.Cleanup(hang.Close)
	t.Cleanup(func() { close(release) })

	tests := []struct {
		name string
		cfg  Config
		kind string
	}{
		{"refused", Config{Target: closedURL, Requests: 3}, KindRefused},
		{"timeout", Config{Target: hang.URL, Workers: 2, Requests: 2, Timeout: 50 * time.Millisecond}, KindTimeout},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res, err := Run(context.Background(), tt.cfg, newTransport(t), nil)
			if err != nil {
				t.Fatalf("Run: %v", err)
			}
			checkSums(t, res)
			if res.ClientErrors[tt.kind] != tt.cfg.Requests || res.Requests != tt.cfg.Requests {
				t.Errorf("Requests = %d, ClientErrors = %v (%v), want %d %s", res.Requests, res.ClientErrors, res.Errors, tt.cfg.Requests, tt.kind)
			}
		})
	}
}

func TestRunOpenLoopLate(t *testing.T) {
	var inFlight, peak atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n := inFlight.Add(1)
		defer inFlight.Add(-1)
		for p := peak.Load(); n > p && !peak.CompareAndSwap(p, n); p = peak.Load() {
		}
		time.Sleep(20 * time.Millisecond) // holds the slot well past the 1 ms schedule spacing
	}))
	t.Cleanup(srv.Close)
	for _, p := range []Pattern{PatternConstant, PatternPoisson} {
		t.Run(string(p), func(t *testing.T) {
			peak.Store(0)
			cfg := Config{Target: srv.URL, Pattern: p, Rate: 1000, Requests: 10, MaxInFlight: 2}
			res, err := Run(context.Background(), cfg, newTransport(t), nil)
			if err != nil {
				t.Fatalf("Run: %v", err)
			}
			checkSums(t, res)
			if res.Requests != 10 || res.Status[http.StatusOK] != 10 {
				t.Errorf("Requests = %d, Status = %v, want 10 × 200 (none dropped)", res.Requests, res.Status)
			}
			// Requests 2.. cannot start before a 20 ms request frees a
			// slot, so each of them scheduled before 19 ms is late.
			wantLate := 0
			sched := NewPoissonSchedule(cfg.Rate, 1)
			for i := range cfg.Requests {
				at := ConstantOffset(cfg.Rate, i)
				if p == PatternPoisson {
					at = sched.Next()
				}
				if i >= 2 && at < 19*time.Millisecond {
					wantLate++
				}
			}
			if wantLate < 5 || res.Late < wantLate {
				t.Errorf("Late = %d, want >= %d (and the schedule to make >= 5 late)", res.Late, wantLate)
			}
			if pk := peak.Load(); pk > 2 {
				t.Errorf("server saw %d requests at once, want <= MaxInFlight 2", pk)
			}
		})
	}
}

// forkCounter is a Forker whose forks count the requests each sent.
type forkCounter struct {
	mu     sync.Mutex
	forks  []*countingRT
	closed int
}

type countingRT struct {
	f *forkCounter
	n atomic.Int64
}

func (f *forkCounter) RoundTrip(*http.Request) (*http.Response, error) {
	return nil, errors.New("the aimed pattern must not use the parent")
}

func (f *forkCounter) Fork() http.RoundTripper {
	f.mu.Lock()
	defer f.mu.Unlock()
	c := &countingRT{f: f}
	f.forks = append(f.forks, c)
	return c
}

func (c *countingRT) RoundTrip(*http.Request) (*http.Response, error) {
	c.n.Add(1)
	return &http.Response{StatusCode: 200, Body: http.NoBody}, nil
}

func (c *countingRT) Close() {
	c.f.mu.Lock()
	c.f.closed++
	c.f.mu.Unlock()
}

// TestAimed: the sweep's gaps are split over Workers connections of their
// own, each primed once, every fork closed at the end; a round tripper
// that cannot fork is refused before any traffic.
func TestAimed(t *testing.T) {
	f := &forkCounter{}
	cfg := Config{Target: "http://127.0.0.1:1/", Pattern: PatternAimed, Workers: 3,
		GapFrom: 0, GapTo: 900 * time.Microsecond, GapStep: 100 * time.Microsecond} // 10 gaps
	res, err := Run(context.Background(), cfg, f, nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(f.forks) != 3 || f.closed != 3 || res.Requests != 13 {
		t.Fatalf("%d forks, %d closed, %d requests: want 3, 3, 13 (10 gaps + 3 primings)", len(f.forks), f.closed, res.Requests)
	}
	for i, want := range []int64{5, 5, 3} { // gaps 0-3 / 4-7 / 8-9, each plus its priming
		if got := f.forks[i].n.Load(); got != want {
			t.Errorf("fork %d sent %d requests, want %d", i, got, want)
		}
	}
	if _, err := Run(context.Background(), cfg, http.DefaultTransport, nil); err == nil || !strings.Contains(err.Error(), "Fork") {
		t.Errorf("a round tripper without Fork: %v", err)
	}
}

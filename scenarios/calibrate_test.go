package scenarios

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/gwsim/gwsim/backend"
)

// TestMeasureClose: the probe finds the toy backend's keep-alive close. It
// is never below the keep-alive by more than the quickest probe's exchange
// (send to answer), a few milliseconds even on a busy machine, so half the
// keep-alive is a bound no load reaches; late wake-ups only make it later,
// up to the limit.
func TestMeasureClose(t *testing.T) {
	const ka = 300 * time.Millisecond
	got, err := measureBackendClose(context.Background(), backend.Config{KeepAliveTimeout: ka})
	if err != nil {
		t.Fatal(err)
	}
	if limit := 4*ka + time.Second; got < ka/2 || got > limit {
		t.Fatalf("measured close %s for a %s keep-alive (limit %s)", got, ka, limit)
	}
}

// TestMeasureCloseNoAnswer: a backend with keep-alive off, and one that never
// closes within the limit, give an error that says so, not a figure.
func TestMeasureCloseNoAnswer(t *testing.T) {
	for _, tc := range []struct {
		name string
		cfg  backend.Config
		want string
	}{
		{"keep-alive off", backend.Config{}, "Connection: close (keep-alive off)"},
		{"never closes", backend.Config{IdleForever: true}, "still open 50ms after the request"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv, err := backend.New(tc.cfg, nil, nil)
			if err != nil {
				t.Fatal(err)
			}
			addr, stop, err := srv.Start("127.0.0.1:0")
			if err != nil {
				t.Fatal(err)
			}
			defer stop()
			_, err = MeasureClose(context.Background(), addr.String(), 50*time.Millisecond)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %v, want one containing %q", err, tc.want)
			}
		})
	}
}

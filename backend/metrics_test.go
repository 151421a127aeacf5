package backend

import (
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"go.uber.org/zap"
)

func TestMetrics(t *testing.T) {
	reg := prometheus.NewRegistry()
	srv := newServer(t, Config{KeepAliveTimeout: 50 * time.Millisecond, Close: CloseRST}, reg)
	ts := serve(t, srv)
	c := dial(t, ts.addr)
	c.get()
	c.get()
	if _, err := c.readUntilErr(); closedHow(err) != "rst" {
		t.Fatalf("read %v, want rst", err)
	}
	bad := dial(t, ts.addr)
	if resp, _ := bad.roundTrip("GET", "garbage\r\n\r\n"); resp.StatusCode != 400 {
		t.Fatalf("garbage: %d, want 400", resp.StatusCode)
	}
	ts.stop(t)

	const want = `
# HELP gwsim_backend_connections_total Connections accepted by the backend.
# TYPE gwsim_backend_connections_total counter
gwsim_backend_connections_total 2
# HELP gwsim_backend_open_connections Connections currently open.
# TYPE gwsim_backend_open_connections gauge
gwsim_backend_open_connections 0
`
	if err := testutil.GatherAndCompare(reg, strings.NewReader(want),
		"gwsim_backend_connections_total", "gwsim_backend_open_connections"); err != nil {
		t.Error(err)
	}
	checks := []struct {
		name string
		c    prometheus.Collector
		want float64
	}{
		{"requests 200", srv.m.requests.WithLabelValues("200"), 2},
		{"requests 400", srv.m.requests.WithLabelValues("400"), 1},
		{"idle closes rst", srv.m.idleCloses.WithLabelValues("rst"), 1},
		{"idle closes fin", srv.m.idleCloses.WithLabelValues("fin"), 0},
		{"closes idle", srv.m.closes.WithLabelValues(string(CloseIdle)), 1},
		{"closes bad-request", srv.m.closes.WithLabelValues(string(CloseBadRequest)), 1},
		{"keep-alive seconds", srv.m.keepAlive, 0.05},
	}
	for _, ck := range checks {
		if got := testutil.ToFloat64(ck.c); got != ck.want {
			t.Errorf("%s = %v, want %v", ck.name, got, ck.want)
		}
	}
	if n, err := testutil.GatherAndCount(reg, "gwsim_backend_closes_total"); err != nil || n != 8 {
		t.Errorf("closes_total series = %d, %v; want all 8 reasons exported", n, err)
	}
}

func TestMetricsRegistration(t *testing.T) {
	t.Run("shared registry", func(t *testing.T) {
		reg := prometheus.NewRegistry()
		a, err := New(Config{KeepAliveTimeout: time.Second}, nil, reg)
		if err != nil {
			t.Fatal(err)
		}
		b, err := New(Config{IdleForever: true}, nil, reg)
		if err != nil {
			t.Fatalf("second backend on the same registry: %v", err)
		}
		a.m.connections.Inc()
		b.m.connections.Inc()
		if got := testutil.ToFloat64(a.m.connections); got != 2 {
			t.Errorf("shared connections counter = %v, want 2", got)
		}
		if got := testutil.ToFloat64(b.m.keepAlive); got != -1 {
			t.Errorf("keep-alive gauge for IdleForever = %v, want -1", got)
		}
	})
	t.Run("conflict", func(t *testing.T) {
		reg := prometheus.NewRegistry()
		reg.MustRegister(prometheus.NewGauge(prometheus.GaugeOpts{Name: "gwsim_backend_connections_total", Help: "other"}))
		if _, err := New(Config{}, nil, reg); err == nil || !strings.Contains(err.Error(), "register metrics") {
			t.Fatalf("New = %v, want a registration error", err)
		}
	})
}

// BenchmarkKeepAliveRequests measures requests per second on one keep-alive
// connection over loopback.
func BenchmarkKeepAliveRequests(b *testing.B) {
	srv, err := New(Config{IdleForever: true}, zap.NewNop(), nil)
	if err != nil {
		b.Fatal(err)
	}
	ts := serve(b, srv)
	c := dial(b, ts.addr)
	req := request("GET")
	for b.Loop() {
		if _, err := io.WriteString(c.c, req); err != nil {
			b.Fatal(err)
		}
		resp, err := http.ReadResponse(c.br, nil)
		if err != nil {
			b.Fatal(err)
		}
		if _, err := io.Copy(io.Discard, resp.Body); err != nil || resp.StatusCode != 200 {
			b.Fatalf("response %d: %v", resp.StatusCode, err)
		}
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "req/s")
}

package backend

import (
	"errors"
	"fmt"
	"strconv"

	"github.com/prometheus/client_golang/prometheus"
)

// metrics are the backend's Prometheus collectors. They always exist; they
// are registered only when New got a non-nil Registerer.
type metrics struct {
	requests    *prometheus.CounterVec // code
	connections prometheus.Counter
	idleCloses  *prometheus.CounterVec // style
	closes      *prometheus.CounterVec // reason
	keepAlive   prometheus.Gauge
	open        prometheus.Gauge
	changes     prometheus.Counter
}

// newMetrics creates the collectors and registers them on reg (nil: not
// registered). If a collector of the same name is already registered on reg
// (several backends sharing one registry), the existing one is shared:
// counters then sum over the backends and the keep-alive gauge shows the
// last one created. To tell backends apart, wrap reg with
// prometheus.WrapRegistererWith.
func newMetrics(reg prometheus.Registerer, keepAliveSeconds float64) (*metrics, error) {
	m := &metrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "gwsim_backend_requests_total",
			Help: "Responses written by the backend, by status code.",
		}, []string{"code"}),
		connections: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "gwsim_backend_connections_total",
			Help: "Connections accepted by the backend.",
		}),
		idleCloses: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "gwsim_backend_idle_closes_total",
			Help: "Idle connections closed by the backend's keep-alive timer, by close style (fin, rst, linger; trap for race-trap closes).",
		}, []string{"style"}),
		closes: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "gwsim_backend_closes_total",
			Help: "Connections closed, by reason (idle, trap, max-requests, keepalive-off, fault, peer, bad-request, shutdown).",
		}, []string{"reason"}),
		keepAlive: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "gwsim_backend_keepalive_timeout_seconds",
			Help: "Configured keep-alive timeout in seconds; 0 = keep-alive off, -1 = idle connections kept forever.",
		}),
		open: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "gwsim_backend_open_connections",
			Help: "Connections currently open.",
		}),
		changes: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "gwsim_backend_config_changes_total",
			Help: "Live configuration changes applied through the admin API (dashboards show them as annotations).",
		}),
	}
	if reg != nil {
		var err error
		if m.requests, err = register(reg, m.requests); err != nil {
			return nil, err
		}
		if m.connections, err = register(reg, m.connections); err != nil {
			return nil, err
		}
		if m.idleCloses, err = register(reg, m.idleCloses); err != nil {
			return nil, err
		}
		if m.closes, err = register(reg, m.closes); err != nil {
			return nil, err
		}
		if m.keepAlive, err = register(reg, m.keepAlive); err != nil {
			return nil, err
		}
		if m.open, err = register(reg, m.open); err != nil {
			return nil, err
		}
		if m.changes, err = register(reg, m.changes); err != nil {
			return nil, err
		}
	}
	// Export every label value of the fixed sets from the start.
	for _, r := range CloseReasons {
		m.closes.WithLabelValues(string(r))
	}
	for _, s := range []CloseStyle{CloseFIN, CloseRST, CloseLinger, StyleTrap} {
		m.idleCloses.WithLabelValues(string(s))
	}
	m.keepAlive.Set(keepAliveSeconds)
	return m, nil
}

// register registers c on reg, or returns the collector already registered
// under the same descriptor.
func register[C prometheus.Collector](reg prometheus.Registerer, c C) (C, error) {
	err := reg.Register(c)
	if err == nil {
		return c, nil
	}
	var are prometheus.AlreadyRegisteredError
	if errors.As(err, &are) {
		if existing, ok := are.ExistingCollector.(C); ok {
			return existing, nil
		}
	}
	return c, fmt.Errorf("backend: register metrics: %w", err)
}

func (m *metrics) response(status int) {
	m.requests.WithLabelValues(strconv.Itoa(status)).Inc()
}

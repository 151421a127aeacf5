package load

import (
	"errors"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Metrics exports the load driver's counters. A nil *Metrics is valid and
// records nothing.
type Metrics struct {
	requests *prometheus.CounterVec // gwsim_load_requests_total{code}
	errors   *prometheus.CounterVec // gwsim_load_client_errors_total{kind}
	duration prometheus.Histogram   // gwsim_load_request_duration_seconds
}

// NewMetrics creates the load driver's metrics and registers them on reg:
//
//   - gwsim_load_requests_total{code}: responses by HTTP status code;
//   - gwsim_load_client_errors_total{kind}: client errors by kind (see ErrorKind);
//   - gwsim_load_request_duration_seconds: latency of responses, start to end of body.
//
// Collectors already registered on reg by an earlier NewMetrics are reused,
// so several runs can share one registry. It returns nil (metrics off) when
// reg is nil, and panics, like prometheus.MustRegister, on any other
// registration error.
func NewMetrics(reg prometheus.Registerer) *Metrics {
	if reg == nil {
		return nil
	}
	m := &Metrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "gwsim_load_requests_total",
			Help: "Responses received by the load driver, by HTTP status code.",
		}, []string{"code"}),
		errors: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "gwsim_load_client_errors_total",
			Help: "Load driver requests that got no complete response, by error kind.",
		}, []string{"kind"}),
		duration: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "gwsim_load_request_duration_seconds",
			Help:    "Load driver request latency, from request start to the end of the response body.",
			Buckets: prometheus.ExponentialBuckets(0.0005, 2, 16), // 0.5 ms .. ~16 s
		}),
	}
	m.requests = register(reg, m.requests)
	m.errors = register(reg, m.errors)
	m.duration = register(reg, m.duration)
	for _, k := range errorKinds() {
		m.errors.WithLabelValues(k)
	}
	return m
}

// register registers c on reg, returning the collector already registered
// under the same descriptor if there is one.
func register[C prometheus.Collector](reg prometheus.Registerer, c C) C {
	err := reg.Register(c)
	if err == nil {
		return c
	}
	var are prometheus.AlreadyRegisteredError
	if errors.As(err, &are) {
		if existing, ok := are.ExistingCollector.(C); ok {
			return existing
		}
	}
	panic(err)
}

func (m *Metrics) observeStatus(code int, latency time.Duration) {
	if m == nil {
		return
	}
	m.requests.WithLabelValues(strconv.Itoa(code)).Inc()
	m.duration.Observe(latency.Seconds())
}

func (m *Metrics) observeError(kind string) {
	if m == nil {
		return
	}
	m.errors.WithLabelValues(kind).Inc()
}

package proxy

import (
	"strconv"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"
)

// metrics are the gateway's Prometheus series. With a nil Registerer they
// exist but are not exported, so the code paths are the same.
type metrics struct {
	responses       *prometheus.CounterVec // code, cause
	responseCache   sync.Map               // responseKey → prometheus.Counter
	opened          prometheus.Counter
	reuses          prometheus.Counter
	closes          *prometheus.CounterVec // initiator, reason
	open            prometheus.Gauge
	retries         *prometheus.CounterVec // reason
	idleBeforeReuse prometheus.Histogram
	duration        prometheus.Histogram
	idleTimeout     prometheus.Gauge
	changes         prometheus.Counter
}

// idleBuckets straddle the keep-alive values that meet in the race:
// Gunicorn 2 s, Apache/Node/Uvicorn 5 s, Puma 20 s, Jetty 30 s, gateway 60 s,
// Node 26 65 s, nginx 75 s, 120 s, GCP 600 s; and their time-scaled forms.
var idleBuckets = []float64{0.001, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1, 2, 4.5, 5, 5.5, 10, 20, 30, 55, 60, 65, 75, 120, 300, 600}

func newMetrics(reg prometheus.Registerer, profile string) *metrics {
	f := promauto.With(reg)
	cl := prometheus.Labels{"profile": profile}
	return &metrics{
		responses: f.NewCounterVec(prometheus.CounterOpts{
			Name: "gwsim_proxy_responses_total", ConstLabels: cl,
			Help: "Responses the gateway sent (or logged, for client-closed), by status code and cause (none when the backend answered).",
		}, []string{"code", "cause"}),
		opened: f.NewCounter(prometheus.CounterOpts{
			Name: "gwsim_proxy_upstream_connections_opened_total", ConstLabels: cl,
			Help: "Backend connections dialled.",
		}),
		reuses: f.NewCounter(prometheus.CounterOpts{
			Name: "gwsim_proxy_upstream_reuses_total", ConstLabels: cl,
			Help: "Requests sent on an idle backend connection taken from the pool.",
		}),
		closes: f.NewCounterVec(prometheus.CounterOpts{
			Name: "gwsim_proxy_upstream_closes_total", ConstLabels: cl,
			Help: "Backend connections closed, by the side that closed first (gateway, backend) and reason.",
		}, []string{"initiator", "reason"}),
		open: f.NewGauge(prometheus.GaugeOpts{
			Name: "gwsim_proxy_upstream_connections", ConstLabels: cl,
			Help: "Backend connections open now (busy and idle).",
		}),
		retries: f.NewCounterVec(prometheus.CounterOpts{
			Name: "gwsim_proxy_retries_total", ConstLabels: cl,
			Help: "Requests sent again: by the retry policy (policy) or after a time-out to another member (timeout).",
		}, []string{"reason"}),
		idleBeforeReuse: f.NewHistogram(prometheus.HistogramOpts{
			Name: "gwsim_proxy_upstream_idle_before_reuse_seconds", ConstLabels: cl,
			Help:    "How long a backend connection had been idle when the pool handed it to a request (wall seconds, time-scaled in scenarios).",
			Buckets: idleBuckets,
		}),
		idleTimeout: f.NewGauge(prometheus.GaugeOpts{
			Name: "gwsim_proxy_backend_idle_timeout_seconds", ConstLabels: cl,
			Help: "The backend idle timeout in force, in wall seconds (0 = no limit).",
		}),
		changes: f.NewCounter(prometheus.CounterOpts{
			Name: "gwsim_proxy_config_changes_total", ConstLabels: cl,
			Help: "Live configuration changes applied through the admin API (dashboards show them as annotations).",
		}),
		duration: f.NewHistogram(prometheus.HistogramOpts{
			Name: "gwsim_proxy_request_duration_seconds", ConstLabels: cl,
			Help:    "Time from the request's arrival to the end of the response (V2 timeTaken).",
			Buckets: prometheus.ExponentialBuckets(0.0005, 2, 16),
		}),
	}
}

func (m *metrics) poolTrace() PoolTrace {
	return PoolTrace{
		Opened: func(ConnInfo) { m.opened.Inc(); m.open.Inc() },
		Reused: func(_ ConnInfo, idle time.Duration) {
			m.reuses.Inc()
			m.idleBeforeReuse.Observe(idle.Seconds())
		},
		Closed: func(_ ConnInfo, by Initiator, reason string) {
			m.closes.WithLabelValues(string(by), reason).Inc()
			m.open.Dec()
		},
	}
}

// response counts one answer. The counters are cached by (code, cause): a
// label lookup per request was a measurable share of the hot path.
func (m *metrics) response(code int, cause string) {
	k := responseKey{code, cause}
	if c, ok := m.responseCache.Load(k); ok {
		c.(prometheus.Counter).Inc()
		return
	}
	c := m.responses.WithLabelValues(strconv.Itoa(code), cause)
	m.responseCache.Store(k, c)
	c.Inc()
}

type responseKey struct {
	code  int
	cause string
}

// Package metrics holds the app's own Prometheus metrics, next to the
// plugin's collector, on a registry of the app's own (never the global one).
package metrics

import (
	"net/http"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// Metrics are the app's counters and histograms.
type Metrics struct {
	Registry *prometheus.Registry

	requests *prometheus.CounterVec
	duration *prometheus.HistogramVec
	emails   *prometheus.CounterVec
	claims   *prometheus.CounterVec
}

// New returns the metrics registered on a new registry, together with the
// Go runtime and process collectors and dbCollector (p.Collector()).
func New(dbCollector prometheus.Collector) *Metrics {
	m := &Metrics{
		Registry: prometheus.NewRegistry(),
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "app_http_requests_total", Help: "HTTP requests by route pattern and status code.",
		}, []string{"route", "code"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "app_http_request_duration_seconds", Help: "HTTP request duration by route pattern.",
			Buckets: prometheus.DefBuckets,
		}, []string{"route"}),
		emails: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "app_emails_total", Help: "Worker outcomes: sent, retry, failed, released, unrecorded.",
		}, []string{"outcome"}),
		claims: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "app_email_claim_failures_total", Help: "Failed claim transactions by error category.",
		}, []string{"category"}),
	}
	m.Registry.MustRegister(m.requests, m.duration, m.emails, m.claims,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	if dbCollector != nil {
		m.Registry.MustRegister(dbCollector)
	}
	return m
}

// Handler serves the registry in the Prometheus text format.
func (m *Metrics) Handler() http.Handler {
	return promhttp.HandlerFor(m.Registry, promhttp.HandlerOpts{Registry: m.Registry})
}

// Request records one finished HTTP request.
func (m *Metrics) Request(route string, code int, d time.Duration) {
	m.requests.WithLabelValues(route, strconv.Itoa(code)).Inc()
	m.duration.WithLabelValues(route).Observe(d.Seconds())
}

// EmailOutcome implements worker.Observer.
func (m *Metrics) EmailOutcome(outcome string) { m.emails.WithLabelValues(outcome).Inc() }

// ClaimFailed implements worker.Observer.
func (m *Metrics) ClaimFailed(category string) { m.claims.WithLabelValues(category).Inc() }

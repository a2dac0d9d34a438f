package notifier

import "github.com/prometheus/client_golang/prometheus"

type metrics struct {
	deliveries *prometheus.CounterVec   // target, integration, outcome (delivered, failed)
	failures   *prometheus.CounterVec   // target, integration, reason: every failed attempt
	results    *prometheus.CounterVec   // target, action: posted, grouped, skipped_route, ...
	latency    *prometheus.HistogramVec // target: one successful or final attempt
	// missedHeartbeats counts pulls the server had forgotten (target), each pulled again.
	missedHeartbeats *prometheus.CounterVec
}

// newMetrics builds the metrics and registers them on reg (nil: not exported).
func newMetrics(reg prometheus.Registerer) *metrics {
	m := &metrics{
		deliveries: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "bsodwatch_notifier_deliveries_total",
			Help: "Messages handed to a target, by outcome (delivered, failed: given up after a permanent error).",
		}, []string{"target", "integration", "outcome"}),
		failures: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "bsodwatch_notifier_delivery_failures_total",
			Help: "Failed delivery attempts by reason (client_error, server_error, rate_limited, network, timeout, invalid_payload, template).",
		}, []string{"target", "integration", "reason"}),
		results: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "bsodwatch_notifier_results_total",
			Help: "Results consumed per target, by what was done (posted, updated, grouped, skipped_route, skipped_silenced, skipped_unchanged, duplicate, already_delivered, unreadable).",
		}, []string{"target", "action"}),
		latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "bsodwatch_notifier_delivery_seconds",
			Help:    "Duration of delivery attempts.",
			Buckets: prometheus.ExponentialBuckets(0.01, 3, 9),
		}, []string{"target"}),
		missedHeartbeats: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "bsodwatch_notifier_missed_heartbeats_total",
			Help: "Times a target's results consumer missed the server's heartbeats (its pull was lost) and pulled again.",
		}, []string{"target"}),
	}
	if reg != nil {
		reg.MustRegister(m.deliveries, m.failures, m.results, m.latency, m.missedHeartbeats)
	}
	return m
}

package analyzer

import (
	"fmt"

	"github.com/prometheus/client_golang/prometheus"
)

// metrics are the worker's Prometheus series; with a nil Registerer they are kept but not
// exported.
type metrics struct {
	analyses *prometheus.CounterVec
	debugger prometheus.Histogram
	matches  *prometheus.CounterVec
	inFlight prometheus.Gauge
}

func newMetrics(reg prometheus.Registerer) (*metrics, error) {
	m := &metrics{
		analyses: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "bsodwatch_analyzer_analyses_total",
			Help: "Job deliveries handled, by engine and outcome (ok, failed, retry, requeued).",
		}, []string{"engine", "outcome"}),
		debugger: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "bsodwatch_analyzer_debugger_duration_seconds",
			Help:    "Wall time of debugger runs.",
			Buckets: prometheus.ExponentialBuckets(0.05, 2.5, 12), // 50ms .. ~2.8h
		}),
		matches: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "bsodwatch_analyzer_rule_matches_total",
			Help: "Rule matches in published verdicts, by rule id.",
		}, []string{"rule"}),
		inFlight: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "bsodwatch_analyzer_in_flight",
			Help: "Jobs being analyzed now.",
		}),
	}
	if reg != nil {
		for _, c := range []prometheus.Collector{m.analyses, m.debugger, m.matches, m.inFlight} {
			if err := reg.Register(c); err != nil {
				return nil, fmt.Errorf("register analyzer metrics: %w", err)
			}
		}
	}
	return m, nil
}

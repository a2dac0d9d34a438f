package fetcher

import "github.com/prometheus/client_golang/prometheus"

type metrics struct {
	dumpsFound    prometheus.Counter
	bytesCopied   prometheus.Counter
	copySeconds   prometheus.Histogram
	copyRate      prometheus.Gauge
	jobsPublished prometheus.Counter
	sweepErrors   *prometheus.CounterVec
	sweepSeconds  prometheus.Histogram
	hosts         *prometheus.GaugeVec
	deferred      *prometheus.CounterVec

	eventLogBytes  prometheus.Counter
	eventLogErrors *prometheus.CounterVec
	logCrashes     *prometheus.CounterVec
}

// newMetrics makes the fetcher's metrics and registers them when reg is not nil.
func newMetrics(reg prometheus.Registerer) (*metrics, error) {
	m := &metrics{
		dumpsFound: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "bsodwatch_fetcher_dumps_found_total", Help: "New, stable dumps found on hosts."}),
		bytesCopied: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "bsodwatch_fetcher_copied_bytes_total", Help: "Bytes of dumps copied to the dump share."}),
		copySeconds: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "bsodwatch_fetcher_copy_seconds", Help: "Duration of dump copies.",
			Buckets: prometheus.ExponentialBuckets(0.05, 3, 10)}),
		copyRate: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "bsodwatch_fetcher_copy_rate_bytes", Help: "Rate of the last dump copy, bytes per second."}),
		jobsPublished: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "bsodwatch_fetcher_jobs_published_total", Help: "Jobs acknowledged by JetStream."}),
		sweepErrors: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "bsodwatch_fetcher_sweep_errors_total", Help: "Failures during sweeps, by reason."}, []string{"reason"}),
		sweepSeconds: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "bsodwatch_fetcher_sweep_seconds", Help: "Duration of sweeps.",
			Buckets: prometheus.ExponentialBuckets(0.1, 3, 10)}),
		hosts: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "bsodwatch_fetcher_hosts", Help: "Hosts by the state of their last sweep (ok, offline, auth, denied, ...)."}, []string{"state"}),
		deferred: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "bsodwatch_fetcher_copies_deferred_total", Help: "Copies left for a later sweep, by reason (share_full: no room on the share, before or during the copy)."}, []string{"reason"}),
		eventLogBytes: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "bsodwatch_fetcher_eventlog_read_bytes_total", Help: "Bytes read from hosts' System event logs."}),
		eventLogErrors: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "bsodwatch_fetcher_eventlog_errors_total", Help: "Event logs that could not be read, or whose crashes could not be queued, by reason."}, []string{"reason"}),
		logCrashes: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "bsodwatch_fetcher_eventlog_crashes_total", Help: "Crashes read from event logs and queued without a dump, by kind (no_dump, dump_missing, unexpected_reboot)."}, []string{"kind"}),
	}
	if reg == nil {
		return m, nil
	}
	for _, c := range []prometheus.Collector{m.dumpsFound, m.bytesCopied, m.copySeconds, m.copyRate, m.jobsPublished, m.sweepErrors, m.sweepSeconds, m.hosts, m.deferred,
		m.eventLogBytes, m.eventLogErrors, m.logCrashes} {
		if err := reg.Register(c); err != nil {
			return nil, err
		}
	}
	return m, nil
}
